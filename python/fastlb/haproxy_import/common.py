"""Pieces the frontend and backend translations share: the proxy's effective `mode`,
timeouts, header edits (`http-request`/`http-response set-header|add-header|del-header`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config_http import CORE_OWNED_HEADERS
from .conditions import split_condition
from .report import Report
from .tokenizer import Line
from .values import ValueProblem, parse_time_ms, static_value

__all__ = ["HeaderEdits", "last", "mode_of", "timeouts"]


def last(lines: list[Line], *keyword: str) -> Line | None:
    """The last line starting with these words (the one HAProxy uses)."""
    found = [line for line in lines if line.words[: len(keyword)] == keyword]
    return found[-1] if found else None


def mode_of(lines: list[Line], report: Report) -> str:
    line = last(lines, "mode")
    if line is None:
        return "tcp"  # HAProxy's default
    mode = line.words[1] if len(line.words) > 1 else ""
    if mode not in ("tcp", "http"):
        report.error(line, f"mode {mode!r}: fastlb imports tcp and http")
        return "tcp"
    report.done(line)
    return mode


def timeouts(lines: list[Line], report: Report, wanted: tuple[str, ...]) -> dict[str, int]:
    """`timeout NAME value` -> {NAME: milliseconds} for the wanted names (last one wins).
    A zero timeout (none at all in HAProxy) is reported: fastlb always has one."""
    found: dict[str, int] = {}
    for line in lines:
        if line.keyword != "timeout" or len(line.words) < 3 or line.words[1] not in wanted:
            continue
        try:
            value = parse_time_ms(line.words[2])
        except ValueProblem as exc:
            report.error(line, str(exc))
            continue
        if value == 0:
            report.unsupported(line, "no timeout: fastlb always has one; its default is kept")
            found.pop(line.words[1], None)
            continue
        found[line.words[1]] = value
    return found


@dataclass
class HeaderEdits:
    """fastlb's `{set, add, remove}` blocks for requests and responses."""

    request: dict[str, list[Any]] = field(default_factory=lambda: _empty())
    response: dict[str, list[Any]] = field(default_factory=lambda: _empty())
    forwarded_proto: list[Line] = field(default_factory=list)

    def has(self) -> bool:
        return any(self.request.values()) or any(self.response.values())

    def blocks(self) -> dict[str, Any]:
        """The non-empty blocks, as a route or frontend's `request_headers`/`response_headers`."""
        out: dict[str, Any] = {}
        for key, edits in (("request_headers", self.request), ("response_headers", self.response)):
            block = {name: value for name, value in edits.items() if value}
            if block:
                out[key] = block
        return out


def _empty() -> dict[str, list[Any]]:
    return {"set": [], "add": [], "remove": []}


_ACTIONS = {"set-header": "set", "add-header": "add", "del-header": "remove"}


def header_edits(lines: list[Line], report: Report) -> HeaderEdits:
    """The unconditional header edits of a section. HAProxy's X-Forwarded-Proto idiom
    (`set-header X-Forwarded-Proto https if { ssl_fc }`) is recognised: fastlb's
    forwarded.x_forwarded_proto does the same."""
    edits = HeaderEdits()
    for line in lines:
        side = {"http-request": edits.request, "http-response": edits.response}.get(line.keyword)
        if side is None or len(line.words) < 3 or line.words[1] not in _ACTIONS:
            continue
        action = _ACTIONS[line.words[1]]
        words, condition = split_condition(line.words[2:])
        name = words[0]
        if (
            side is edits.request
            and name.lower() == "x-forwarded-proto"
            and action != "remove"
            and len(words) == 2
            and words[1] in ("http", "https")
            and condition in (None, ["if", "{", "ssl_fc", "}"], ["if", "!{", "ssl_fc", "}"])
        ):
            edits.forwarded_proto.append(line)
            report.note(
                line,
                "translated as forwarded.x_forwarded_proto: fastlb sets X-Forwarded-Proto to "
                "https or http from the connection (and replaces a client's)",
            )
            continue
        if condition is not None:
            report.unsupported(
                line,
                "a conditional header edit: fastlb edits headers on a frontend or a route; "
                "make a route for the condition and put the edit there",
            )
            continue
        if name.lower() in CORE_OWNED_HEADERS:
            report.unsupported(line, f"{name}: fastlb manages the framing and hop-by-hop headers")
            continue
        if action == "remove":
            if len(words) != 1:
                report.unsupported(line, "del-header with a match method: only plain names")
                continue
            side["remove"].append(name)
        else:
            value = static_value(" ".join(words[1:])) if len(words) >= 2 else None
            if value is None or len(words) != 2:
                report.unsupported(
                    line,
                    "a value computed per request (%[...]): fastlb's header values are "
                    "constants; X-Forwarded-For/-Proto/-Host and Forwarded are under "
                    "http.forwarded",
                )
                continue
            side[action].append([name, value])
        report.done(line)
    return edits
