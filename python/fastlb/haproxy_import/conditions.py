"""HAProxy ACLs and `if`/`unless` conditions, turned into what fastlb can express: route
matches (host, path, path prefix, method, header) and source address blocks.

A condition is an OR (`||`, `or`) of groups; a group is an AND of terms; a term is an ACL
name or an anonymous ACL `{ criterion values }`, maybe negated with `!`. An ACL defined on
several lines matches when any line does, and a line matches when any of its values does:
the OR of their alternatives. fastlb's routes are a first-match list of AND-ed conditions,
so a condition becomes one route per alternative; negations of request properties have no
route form and are reported. `ssl_fc` (the connection came over TLS) is known per fastlb
frontend, where the HAProxy one may have plain and TLS binds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .tokenizer import Line
from .values import ValueProblem

__all__ = ["AclTable", "Unsupported", "route_matches", "source_rule", "split_condition"]

Match = dict[str, Any]

_HOST_FETCHES = ("hdr(host)", "req.hdr(host)", "hdr_str(host)")
# Criteria whose shorthand names a match method: path_beg = path -m beg.
_SHORTHANDS = {
    "path_beg": ("path", "beg"),
    "path_end": ("path", "end"),
    "path_reg": ("path", "reg"),
    "path_sub": ("path", "sub"),
    "path_dir": ("path", "dir"),
    "url_beg": ("url", "beg"),
    "hdr_beg(host)": ("hdr(host)", "beg"),
    "hdr_end(host)": ("hdr(host)", "end"),
    "hdr_dom(host)": ("hdr(host)", "dom"),
    "hdr_reg(host)": ("hdr(host)", "reg"),
    "hdr_sub(host)": ("hdr(host)", "sub"),
}


class Unsupported(ValueProblem):
    """The condition has no fastlb form; the message says why."""


@dataclass
class AclTable:
    """The named ACLs of one proxy: name -> the lines defining it."""

    lines: dict[str, list[Line]] = field(default_factory=dict)

    def add(self, line: Line) -> None:
        if len(line.words) >= 3:
            self.lines.setdefault(line.words[1], []).append(line)

    def definitions(self, name: str) -> list[tuple[str, ...]]:
        if name not in self.lines:
            raise Unsupported(f"no acl named {name!r} in this section")
        return [line.words[2:] for line in self.lines[name]]


def split_condition(words: tuple[str, ...] | list[str]) -> tuple[list[str], list[str] | None]:
    """`redirect scheme https code 301 if !{ ssl_fc }` -> (words before `if`/`unless`,
    the condition words with `if`/`unless` first), or (words, None)."""
    for index, word in enumerate(words):
        if word in ("if", "unless"):
            return list(words[:index]), list(words[index:])
    return list(words), None


Term = tuple[bool, tuple[str, ...]]  # (negated, ("name",) or the anonymous ACL's words)


def _groups(condition: list[str]) -> list[list[Term]]:
    """The OR-groups of AND-ed terms of `if ...` words (without if/unless)."""
    groups: list[list[Term]] = [[]]
    words = list(condition)
    while words:
        word = words.pop(0)
        if word in ("||", "or"):
            groups.append([])
            continue
        negated = word.startswith("!")
        word = word[1:] if negated else word
        if not word and words:  # `! name`
            word = words.pop(0)
        if word == "{":
            end = words.index("}") if "}" in words else len(words)
            anonymous = tuple(words[:end])
            del words[: end + 1]
            groups[-1].append((negated, ("{", *anonymous)))
        else:
            groups[-1].append((negated, (word,)))
    if any(not group for group in groups):
        raise Unsupported("empty condition")
    return groups


def _alternatives(
    definition: tuple[str, ...], tls: bool, warnings: list[str]
) -> bool | list[Match]:
    """One ACL definition (criterion, flags, values) -> a constant or the match
    alternatives of which any must hold; what it loses on the way goes to `warnings`."""
    criterion, *rest = definition
    if criterion in ("ssl_fc", "ssl_fc()"):
        return tls
    if criterion in ("always_true", "TRUE"):
        return True
    if criterion in ("always_false", "FALSE"):
        return False
    method = None
    case_insensitive = False
    values: list[str] = []
    options = list(rest)
    while options and options[0].startswith("-") and options[0] != "-":
        flag = options.pop(0)
        if flag == "--":
            break
        if flag == "-i":
            case_insensitive = True
        elif flag == "-m" and options:
            method = options.pop(0)
        elif flag == "-f":
            raise Unsupported("patterns from a file (-f): list the values in the condition")
        elif flag not in ("-n",):
            raise Unsupported(f"acl flag {flag}")
    values = options
    fetch, shorthand = _SHORTHANDS.get(criterion.lower(), (criterion, None))
    method = shorthand or method or "str"
    fetch = fetch.lower() if fetch.lower() in (*_HOST_FETCHES, "path", "url") else fetch
    if fetch in _HOST_FETCHES and values:
        return _host_alternatives(method, values)
    if fetch == "path" and values and method in ("str", "beg"):
        if case_insensitive:
            warnings.append(
                f"{criterion} -i: fastlb compares paths byte-wise, so only the spellings "
                f"written ({', '.join(values)}) match; add a route per other spelling"
            )
        key = "path" if method == "str" else "path_prefix"
        return [{key: value} for value in values]
    if criterion.lower() == "method" and values:
        return [{"method": [value.upper() for value in values]}]
    if (
        criterion.lower().startswith(("hdr(", "req.hdr("))
        and criterion.endswith(")")
        and method == "str"
        and values
        and not case_insensitive
    ):
        name = criterion[criterion.index("(") + 1 : -1].split(",")[0]
        return [{"header": {name: value}} for value in values]
    if criterion == "src":
        raise Unsupported(
            "source addresses are not a route condition in fastlb; refuse them at accept "
            "with the frontend's acl (tcp-request connection reject)"
        )
    raise Unsupported(
        f"{criterion}{' -m ' + method if method != 'str' and not shorthand else ''}: "
        "fastlb routes on the host, the path (exact or prefix), the method or a header's "
        "exact value"
    )


def _host_alternatives(method: str, values: list[str]) -> list[Match]:
    hosts: list[str] = []
    for value in values:
        if method == "str":
            hosts.append(value)
        elif method == "end" and value.startswith("."):
            hosts.append("*" + value)
        elif method == "dom":
            hosts += [value, f"*.{value}"]
        else:
            raise Unsupported(
                f"host {method} match {value!r}: fastlb matches a host exactly or any name "
                "below a domain (*.example.com)"
            )
    for host in hosts:
        if ("]:" in host) if host.startswith("[") else host.count(":") == 1:
            raise Unsupported(
                f"host {host!r} with a port: fastlb compares the Host without its port"
            )
    return [{"host": host} for host in hosts]


def _merge(left: Match, right: Match) -> Match | None:
    """Both matches at once, or None when no request can satisfy both."""
    merged = dict(left)
    for key, value in right.items():
        if key not in merged:
            merged[key] = value
        elif key == "method":
            merged[key] = [m for m in merged[key] if m in value]
            if not merged[key]:
                return None
        elif key == "header":
            for name, wanted in value.items():
                if merged[key].get(name, wanted) != wanted:
                    return None
            merged[key] = {**merged[key], **value}
        elif key == "path_prefix":
            longer, shorter = sorted((merged[key], value), key=len, reverse=True)
            if not longer.startswith(shorter):
                return None
            merged[key] = longer
        elif merged[key] != value:
            if key == "host" and "*" in merged[key] + value:
                raise Unsupported("two host conditions at once, one of them a wildcard")
            return None
    if (
        "path" in merged
        and "path_prefix" in merged
        and not merged["path"].startswith(merged.pop("path_prefix"))
    ):
        return None
    return merged


def _term(term: Term, acls: AclTable, tls: bool, warnings: list[str]) -> bool | list[Match]:
    negated, words = term
    definitions = [words[1:]] if words[0] == "{" else acls.definitions(words[0])
    matches: list[Match] = []
    constant: bool | None = None
    lost: list[str] = []
    for definition in definitions:
        if not definition:
            raise Unsupported("empty acl")
        try:
            result = _alternatives(tuple(definition), tls, warnings)
        except Unsupported as exc:
            if len(definitions) == 1 or negated:
                raise
            # One line of an acl defined on several (an OR): the others still route.
            lost.append(f"acl {words[0]} {' '.join(definition)}: {exc}")
            continue
        if isinstance(result, bool):
            constant = bool(constant) or result
        else:
            matches += result
    if constant is not None and not matches:
        return constant != negated
    if constant:  # OR with something always true
        return not negated
    if negated:
        raise Unsupported(
            "a negated request condition (!acl): fastlb's routes cannot say 'not'; put a "
            "route for the other case first"
        )
    if lost and not matches:
        raise Unsupported("; ".join(lost))
    warnings += [
        f"partly translated: {why}; requests matching only that go to the next rule or the "
        "default backend"
        for why in lost
    ]
    return matches


def route_matches(
    condition: list[str] | None, acls: AclTable, tls: bool, warnings: list[str] | None = None
) -> list[Match]:
    """The route matches equivalent to `if`/`unless ...` (None: always) on a frontend with
    or without TLS: [] never matches, [{}] always. Raises Unsupported; appends to
    `warnings` what a partial translation loses."""
    warnings = [] if warnings is None else warnings
    if condition is None:
        return [{}]
    unless = condition[0] == "unless"
    groups = _groups(condition[1:])
    results: list[Match] = []
    for group in groups:
        per_term: list[list[Match]] = []
        for term in group:
            value = _term(term, acls, tls, warnings)
            per_term.append([{}] if value is True else [] if value is False else value)
        for combination in itertools.product(*per_term):
            merged: Match | None = {}
            for part in combination:
                merged = _merge(merged, part) if merged is not None else None
            if merged is not None and merged not in results:
                results.append(merged)
    if unless:
        if results == [{}]:
            return []
        if not results:
            return [{}]
        raise Unsupported("'unless' on a request condition: fastlb's routes cannot say 'not'")
    return results


def _sources(term: Term, acls: AclTable) -> list[str]:
    words = term[1]
    definitions = [words[1:]] if words[0] == "{" else acls.definitions(words[0])
    networks: list[str] = []
    for definition in definitions:
        if not definition or definition[0] != "src":
            raise Unsupported(
                "only source-address acls (src) can be checked at accept by fastlb's acl"
            )
        values = [value for value in definition[1:] if value != "--"]
        if not values or any(value.startswith("-") for value in values):
            raise Unsupported("src with flags or a pattern file (-f): list the networks instead")
        networks += values
    return networks


def source_rule(condition: list[str] | None, acls: AclTable) -> tuple[bool, list[str]]:
    """A connection condition on source addresses only, as `(inside, networks)`: true when
    the source is in `networks` (inside) or outside all of them (not inside). Raises
    Unsupported for other shapes."""
    if condition is None:
        raise Unsupported("an unconditional rule")
    groups = _groups(condition[1:])
    unless = condition[0] == "unless"
    if all(len(group) == 1 for group in groups):  # a || b || c
        terms = [group[0] for group in groups]
        if len({negated for negated, _ in terms}) == 1:
            negated = terms[0][0]
            if len(terms) == 1 or not negated:
                networks = [n for term in terms for n in _sources(term, acls)]
                return (not negated) != unless, networks
    if len(groups) == 1 and all(negated for negated, _ in groups[0]) and not unless:
        # !a !b: outside all of them
        return False, [n for term in groups[0] for n in _sources(term, acls)]
    raise Unsupported("this combination of source conditions has no acl form in fastlb")
