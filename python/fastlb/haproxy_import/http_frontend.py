"""The `http:` block of a mode-http frontend: routes (from `redirect`, `http-request
redirect` and `use_backend`), header edits, forwarding headers, access log and timeouts.

HAProxy evaluates `http-request` rules, then `redirect` rules, then `use_backend` rules, and
the first that applies decides; fastlb's routes are one first-match list, so they are
written in that order. Header edits of a `backend` section become edits of the routes to it
(and of a last catch-all route to the default backend), since fastlb edits per frontend and
per route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .backend import BackendDraft
from .common import HeaderEdits, last
from .conditions import AclTable, Unsupported, route_matches, split_condition
from .report import Report
from .tokenizer import Line
from .values import duration

__all__ = ["HttpContext", "http_block", "route_rules"]

_REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass
class HttpContext:
    """What the http block of one HAProxy frontend needs, shared by its binds."""

    lines: list[Line]  # inherited: defaults then own
    own: list[Line]
    acls: AclTable
    backends: dict[str, BackendDraft]
    edits: HeaderEdits
    timeouts: dict[str, int]
    global_logs: list[Line]


def _redirect(words: list[str], line: Line, report: Report) -> dict[str, Any] | None:
    """`scheme https code 301` / `prefix https://www.example.com` -> fastlb's redirect."""
    if len(words) < 2:
        report.error(line, "a redirect needs a kind and a target")
        return None
    kind, target, options = words[0], words[1], words[2:]
    redirect: dict[str, Any] = {}
    if kind == "scheme" and target in ("http", "https"):
        redirect["scheme"] = target
    elif kind == "prefix":
        parts = urlsplit(target)
        if parts.scheme in ("http", "https") and parts.netloc:
            redirect["scheme"] = parts.scheme
            redirect["host"] = parts.netloc
        if parts.path not in ("", "/"):
            redirect["path_prefix"] = parts.path
        if not redirect or parts.query or parts.fragment or "%[" in target:
            report.unsupported(
                line,
                f"redirect prefix {target!r}: fastlb's redirects change "
                "the scheme, host or path prefix of the request's URL",
            )
            return None
    else:
        report.unsupported(
            line,
            f"redirect {kind} {target}: fastlb redirects keep the request's path and change "
            "its scheme, host or path prefix (redirect scheme / prefix)",
        )
        return None
    while options:
        option = options.pop(0)
        if option == "code" and options and options[0].isdigit():
            code = int(options.pop(0))
            if code in _REDIRECT_CODES:
                redirect["code"] = code
            else:
                report.unsupported(line, f"code {code}: fastlb takes 301, 302, 303, 307, 308")
        elif option in ("set-cookie", "clear-cookie") and options:
            options.pop(0)
            report.unsupported(line, f"{option}: fastlb's redirects set no cookies")
        else:
            report.unsupported(line, f"{option}: fastlb's redirects keep the query as sent")
    return redirect


def _matches(
    condition: list[str] | None, context: HttpContext, tls: bool, line: Line, report: Report
) -> list[dict[str, Any]] | None:
    warnings: list[str] = []
    try:
        matches = route_matches(condition, context.acls, tls, warnings)
    except Unsupported as exc:
        report.unsupported(line, f"rule left out: {exc}")
        return None
    for warning in warnings:  # a lost alternative, or a match that became stricter
        if warning.startswith("partly"):
            report.unsupported(line, warning)
        else:
            report.note(line, warning)
    return matches


def route_rules(context: HttpContext, tls: bool, report: Report) -> list[dict[str, Any]]:
    """The routes of one fastlb frontend (one HAProxy bind, with or without TLS)."""
    routes: list[dict[str, Any]] = []
    ordered = [line for line in context.own if line.words[:2] == ("http-request", "redirect")]
    ordered += [line for line in context.own if line.keyword in ("redirect", "use_backend")]
    for line in ordered:
        words, condition = split_condition(line.words[1:])
        if line.keyword == "http-request":
            words = words[1:]
        if line.keyword == "use_backend":
            target = words[0] if words else ""
            draft = context.backends.get(target)
            if draft is None or draft.config is None or "%[" in target:
                report.unsupported(line, f"no usable backend {target!r}: rule left out")
                continue
            action: dict[str, Any] = {"backend": draft.name, **draft.edits.blocks()}
        else:
            redirect = _redirect(words, line, report)
            if redirect is None:
                continue
            action = {"redirect": redirect}
        matches = _matches(condition, context, tls, line, report)
        if matches is None:
            continue
        report.done(line)
        for match in matches:
            routes.append({**({"match": match} if match else {}), **action})
    return routes


def http_block(
    context: HttpContext, default: BackendDraft, routes: list[dict[str, Any]], report: Report
) -> dict[str, Any]:
    """The frontend's `http:` section (routes already made for its bind)."""
    http: dict[str, Any] = {}
    times = context.timeouts
    client = times.get("client")
    request = times.get("http-request", client)
    if request:
        http["request_timeout"] = duration(request)
    keepalive = times.get("http-keep-alive", request)
    if keepalive:
        http["keepalive_timeout"] = duration(keepalive)
    tunnel = times.get("tunnel") or default.timeouts.get("tunnel")
    if tunnel is None and client and "server" in default.timeouts:
        tunnel = min(client, default.timeouts["server"])  # HAProxy without timeout tunnel
    if tunnel:
        http["tunnel_timeout"] = duration(tunnel)
    used = {route["backend"] for route in routes if "backend" in route}
    routed = [d for d in context.backends.values() if d.name in used and d is not default]
    http["forwarded"] = _forwarded(context, [default, *routed], report)
    for key, block in context.edits.blocks().items():
        http[key] = block
    if default.edits.has():
        routes = [*routes, {"backend": default.name, **default.edits.blocks()}]
    if routes:
        http["routes"] = routes
    log = _access_log(context, report)
    if log is not None:
        http["access_log"] = log
    return http


def _forwarded(context: HttpContext, used: list[BackendDraft], report: Report) -> dict[str, Any]:
    """HAProxy adds no forwarding header unless told to; fastlb's defaults add
    X-Forwarded-For and -Proto, so both are always written out. A backend's `option
    forwardfor` applies to the whole frontend (fastlb sets it per frontend)."""
    line = last(context.lines, "option", "forwardfor")
    for draft in used:
        if line is None and draft.forwardfor is not None:
            line = draft.forwardfor
            if draft is not used[0]:
                report.note(
                    line,
                    "fastlb adds X-Forwarded-For per frontend: every request "
                    "of the frontends using this backend gets it",
                )
    forwarded: dict[str, Any] = {"x_forwarded_for": line is not None}
    if line is not None:
        words = list(line.words[2:])
        while words:
            word = words.pop(0)
            if word == "except" and words:
                forwarded["x_forwarded_for_except"] = [words.pop(0)]
            elif word == "header" and words:
                report.unsupported(
                    line,
                    f"header {words.pop(0)}: fastlb writes the standard "
                    "X-Forwarded-For name (or RFC 7239 Forwarded)",
                )
            elif word == "if-none":
                report.note(
                    line,
                    "if-none: fastlb keeps the X-Forwarded-For of a "
                    "trusted_proxies peer and replaces anyone else's",
                )
            else:
                report.unsupported(line, f"{word}: not translated")
        report.note(
            line,
            "fastlb replaces an X-Forwarded-For sent by a client outside trusted_proxies "
            "(HAProxy appends its own field after the client's)",
        )
    proto = context.edits.forwarded_proto or [p for d in used for p in d.edits.forwarded_proto]
    forwarded["x_forwarded_proto"] = bool(proto)
    return forwarded


def _access_log(context: HttpContext, report: Report) -> dict[str, Any] | None:
    lines = context.lines
    httplog = last(lines, "option", "httplog")
    for line in lines:
        if line.words[:2] == ("option", "dontlognull"):
            report.ignored(line, "fastlb logs requests, never connections that sent none")
    targets: list[Line] = []
    for line in lines:
        if line.words[:2] == ("no", "log"):
            targets = []
            report.done(line)
        elif line.keyword == "log" and line.words[1:2] == ("global",):
            targets += context.global_logs
            report.done(line)
        elif line.keyword == "log":
            targets.append(line)
    if httplog is None:
        for target in targets:
            if target.number not in report.handled:
                report.ignored(target, "fastlb logs HTTP requests with `option httplog` only")
        return None
    if not targets:
        report.ignored(httplog, "no `log` target: HAProxy logs nowhere")
        return None
    log_format = "clf" if httplog.words[2:3] == ("clf",) else "haproxy"
    report.done(httplog)
    if (custom := last(lines, "log-format")) is not None:
        report.unsupported(
            custom, f"a custom log format: fastlb writes the {log_format} format (or json, clf)"
        )
    for target in targets:
        where = target.words[1] if len(target.words) > 1 else ""
        if where == "stdout":
            report.done(target)
        else:
            report.note(
                target,
                f"fastlb does not send syslog ({where}): the access log goes to stdout "
                "(journald under systemd); set access_log.path for a file",
            )
    return {"path": "-", "format": log_format}
