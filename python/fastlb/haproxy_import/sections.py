"""The section model of an HAProxy file: `global`, `defaults` (anonymous or named), and the
proxies (`frontend`, `backend`, `listen`), each with the `defaults` section it inherits from.

A proxy takes the last `defaults` section above it, or the named one given with
`from NAME` (HAProxy 2.4+). Sections fastlb has no counterpart for (`userlist`, `peers`,
`resolvers`, `mailers`, `cache`, `program`, `http-errors`, `ring`, ...) are reported whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .report import Report
from .tokenizer import Line

__all__ = ["Document", "Section", "parse_sections"]

PROXY_KINDS = ("frontend", "backend", "listen")

# Sections without a proxy, and what to use in fastlb instead.
_OTHER_SECTIONS = {
    "userlist": "fastlb's API has one bearer token (api.token), no user lists",
    "peers": "fastlb has no stick tables to synchronise; for a pair of load balancers use "
    "the failover section (VRRP)",
    "resolvers": "fastlb resolves server names at start and at each reload (SIGHUP)",
    "mailers": "fastlb sends no mail; alert from its Prometheus metrics (/metrics)",
    "cache": "fastlb has no HTTP cache",
    "program": "run other programs as their own systemd units",
    "http-errors": "fastlb answers errors with its own short pages",
    "ring": "fastlb writes its access log to a file or stdout",
    "log-forward": "fastlb does not relay syslog",
    "fcgi-app": "fastlb speaks HTTP to servers, not FastCGI",
    "crt-store": "give certificate and key paths in the frontend's tls section",
    "traces": "fastlb has no trace sinks",
}


@dataclass
class Section:
    """One section: its header line and the lines below it."""

    kind: str
    name: str
    header: Line
    lines: list[Line] = field(default_factory=list)
    defaults: Section | None = None

    def own(self, keyword: str) -> list[Line]:
        return [line for line in self.lines if line.keyword == keyword]

    def inherited_lines(self) -> list[Line]:
        """The defaults' lines then the section's own: for a setting, the last one wins."""
        return (self.defaults.inherited_lines() if self.defaults else []) + self.lines


@dataclass
class Document:
    global_section: Section | None
    proxies: list[Section]
    defaults: list[Section]


def parse_sections(lines: list[Line], report: Report) -> Document:
    """Group the lines into sections and link each proxy to its defaults."""
    global_section: Section | None = None
    proxies: list[Section] = []
    all_defaults: list[Section] = []
    named_defaults: dict[str, Section] = {}
    current: Section | None = None
    last_defaults: Section | None = None
    for line in lines:
        keyword = line.keyword
        if keyword in ("global", "defaults", *PROXY_KINDS, *_OTHER_SECTIONS):
            current = _start_section(line, report, last_defaults, named_defaults)
            if current.kind == "global":
                if global_section is None:
                    global_section = current
                else:  # HAProxy merges repeated global sections
                    current = global_section
                    report.done(line)
            elif current.kind == "defaults":
                last_defaults = current
                all_defaults.append(current)
                if current.name:
                    named_defaults[current.name] = current
            elif current.kind in PROXY_KINDS:
                proxies.append(current)
            continue
        if current is None:
            report.error(line, "outside any section: HAProxy would refuse this line")
        elif current.kind in _OTHER_SECTIONS:
            report.done(line)  # already reported with its section
        else:
            current.lines.append(line)
    return Document(global_section, proxies, all_defaults)


def _start_section(
    line: Line, report: Report, last_defaults: Section | None, named: dict[str, Section]
) -> Section:
    kind = line.keyword
    words = list(line.words[1:])
    if kind in _OTHER_SECTIONS:
        report.unsupported(line, f"section not translated: {_OTHER_SECTIONS[kind]}")
        return Section(kind, words[0] if words else "", line)
    report.done(line)
    defaults = last_defaults
    if "from" in words:  # `frontend web from base`: a named defaults section
        at = words.index("from")
        wanted = words[at + 1] if at + 1 < len(words) else ""
        del words[at : at + 2]
        defaults = named.get(wanted)
        if defaults is None:
            report.error(line, f"no defaults section named {wanted!r} above this line")
    name = words[0] if words and kind != "global" else ""
    if kind in PROXY_KINDS and not name:
        report.error(line, f"a {kind} section needs a name")
    section = Section(kind, name, line, defaults=defaults if kind in PROXY_KINDS else None)
    if kind == "defaults" and defaults is not None and defaults is not last_defaults:
        section.defaults = defaults
    return section
