"""`server` and `default-server` lines: a backend's servers, and the settings HAProxy keeps
per server that fastlb keeps per backend (health check timing, TLS, PROXY protocol).

fastlb checks every server of a backend the same way and speaks TLS or the PROXY protocol to
all of them or none; where the HAProxy servers differ, the most common setting is taken and
the others are reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..contract import MAX_WEIGHT
from .report import Report
from .tokenizer import Line
from .values import ValueProblem, fastlb_name, parse_time_ms, server_address

__all__ = ["ServerOptions", "ServersResult", "parse_options", "translate_servers"]

# Server keywords that take one argument (HAProxy's configuration manual, section 5.2);
# any other keyword is a flag.
_WITH_ARGUMENT = frozenset(
    """weight inter fastinter downinter rise fall maxconn maxqueue minconn port addr slowstart
    on-error on-marked-down on-marked-up error-limit observe sni ca-file crl-file crt verify
    verifyhost check-sni id cookie resolvers resolve-prefer resolve-net resolve-opts init-addr
    source proto alpn check-alpn check-proto npn pool-max-conn pool-purge-delay pool-low-conn
    agent-port agent-inter agent-addr agent-send namespace track redir ws ciphers ciphersuites
    ssl-min-ver ssl-max-ver curves sigalgs client-sigalgs tcp-ut max-reuse log-proto
    set-proxy-v2-tlv-fmt proxy-v2-options shard hash-key guid usesrc""".split()  # noqa: SIM905
)
# Flags with a `no-` form that clears them (a default-server's, say).
_NEGATABLE = ("check", "backup", "ssl", "send-proxy", "send-proxy-v2", "check-send-proxy")
# What to do instead, for server settings fastlb has no counterpart of.
_UNSUPPORTED = {
    "maxconn": "fastlb has no per-server connection limit or queue; limit the frontend "
    "(max_connections) or lower the server's weight",
    "maxqueue": "fastlb does not queue connections",
    "minconn": "fastlb does not queue connections",
    "downinter": "fastlb checks a DOWN server at interval (fast_interval while it rises)",
    "slowstart": "fastlb has no slow start; raise the weight in steps with `fastlb ctl "
    "set-weight BACKEND SERVER N%`",
    "port": "fastlb checks the server's own address and port",
    "addr": "fastlb checks the server's own address and port",
    "agent-check": "fastlb has no agent checks; set weights and states with `fastlb ctl`",
    "crt": "fastlb presents no client certificate to servers",
    "alpn": "fastlb speaks HTTP/1.1 to servers",
    "proto": "fastlb speaks HTTP/1.1 to servers",
    "track": "each fastlb server has its own checks",
    "redir": "fastlb has no per-server redirects",
    "source": "fastlb connects from the host's default source address",
    "on-marked-down": "fastlb keeps established connections when a server goes DOWN",
    "on-marked-up": "fastlb keeps established connections when a server comes back",
    "check-ssl": "fastlb's checks use the backend's TLS setting",
}
_IGNORED = {
    "id": "fastlb names servers; numeric ids are not needed",
    "enabled": "the default",
    "resolvers": "fastlb resolves names at start and at each reload (SIGHUP)",
    "init-addr": "fastlb resolves names at start and at each reload (SIGHUP)",
    "resolve-prefer": "fastlb prefers IPv4 addresses when it resolves names",
    "resolve-opts": "fastlb resolves names at start and at each reload (SIGHUP)",
    "check-sni": "fastlb's checks use the backend's TLS setting",
    "no-check-ssl": "the default",
    "no-tls-tickets": "fastlb's TLS client settings are fixed",
    "ssl-min-ver": "fastlb speaks TLS 1.2 or 1.3 to servers",
    "error-limit": "fastlb marks a server DOWN after `fall` failed checks",
    "on-error": "fastlb marks a server DOWN after `fall` failed checks",
}


@dataclass
class ServerOptions:
    """Options of a `server` after its `default-server` lines: keyword -> (value, line)."""

    values: dict[str, tuple[str, Line]] = field(default_factory=dict)
    flags: dict[str, tuple[bool, Line]] = field(default_factory=dict)

    def merged(self, other: ServerOptions) -> ServerOptions:
        return ServerOptions({**self.values, **other.values}, {**self.flags, **other.flags})

    def flag(self, name: str) -> bool:
        return name in self.flags and self.flags[name][0]


def parse_options(words: tuple[str, ...] | list[str], line: Line, report: Report) -> ServerOptions:
    options = ServerOptions()
    words = list(words)
    while words:
        word = words.pop(0)
        if word in _WITH_ARGUMENT:
            if not words:
                report.error(line, f"{word} needs a value")
                break
            options.values[word] = (words.pop(0), line)
        elif word.startswith("no-") and word[3:] in _NEGATABLE:
            options.flags[word[3:]] = (False, line)
        elif word == "enabled":
            options.flags["disabled"] = (False, line)
        else:
            options.flags[word] = (True, line)
    return options


@dataclass
class ServersResult:
    servers: list[dict[str, Any]]
    checked: bool
    check_timing: dict[str, Any]
    observe: bool
    tls: dict[str, Any] | None
    send_proxy: str | None
    check_send_proxy: bool
    pool: dict[str, Any]


def _time(option: tuple[str, Line], report: Report) -> int | None:
    try:
        return parse_time_ms(option[0])
    except ValueProblem as exc:
        report.error(option[1], str(exc))
        return None


def _server(line: Line, defaults: ServerOptions, report: Report) -> dict[str, Any] | None:
    """One `server NAME ADDRESS options` line, with its own options kept in `_options`."""
    if len(line.words) < 3:
        report.error(line, "a server needs a name and an address")
        return None
    name = fastlb_name(line.words[1])
    if name != line.words[1]:
        report.note(line, f"renamed {line.words[1]!r} to {name!r} (fastlb's name syntax)")
    try:
        address = server_address(line.words[2])
    except ValueProblem as exc:
        report.unsupported(line, f"server left out: {exc}")
        return None
    options = defaults.merged(parse_options(line.words[3:], line, report))
    server: dict[str, Any] = {"name": name, "address": address}
    if "weight" in options.values:
        weight, where = options.values["weight"]
        if weight.isdigit() and int(weight) <= MAX_WEIGHT:
            server["weight"] = int(weight)
        else:
            report.error(where, f"weight {weight!r}: fastlb takes 0..{MAX_WEIGHT}, as HAProxy does")
    if options.flag("backup"):
        server["backup"] = True
    if "cookie" in options.values:
        # Kept only if the backend has a `cookie` line (backend.py drops it otherwise).
        server["cookie"] = options.values["cookie"][0]
    if options.flag("disabled"):
        server["weight"] = 0
        report.note(
            options.flags["disabled"][1],
            f"server {name} starts in maintenance in HAProxy; fastlb has no start state, so "
            "it is imported with weight 0 (no new connections): enable it with `fastlb ctl "
            "set-weight BACKEND SERVER N`",
        )
    for keyword, (_, where) in options.values.items():
        if keyword in _UNSUPPORTED:
            report.unsupported(where, f"{keyword}: {_UNSUPPORTED[keyword]}")
        elif keyword in _IGNORED:
            report.ignored(where, f"{keyword}: {_IGNORED[keyword]}")
    for keyword, (on, where) in options.flags.items():
        if on and keyword in _UNSUPPORTED:
            report.unsupported(where, f"{keyword}: {_UNSUPPORTED[keyword]}")
        elif keyword in _IGNORED:
            report.ignored(where, f"{keyword}: {_IGNORED[keyword]}")
        elif keyword not in (*_NEGATABLE, "disabled"):
            report.unsupported(where, f"{keyword}: unknown server option, not translated")
    report.done(line)
    server["_options"] = options
    return server


def _common(values: list[Any]) -> Any:
    return Counter(values).most_common(1)[0][0] if values else None


def translate_servers(
    lines: list[Line], report: Report, ca_base: str | None, verify_default: bool = True
) -> ServersResult:
    """The servers of a backend (`lines`: its defaults' then its own lines)."""
    defaults = ServerOptions()
    servers: list[dict[str, Any]] = []
    for line in lines:
        if line.keyword == "default-server":
            defaults = defaults.merged(parse_options(line.words[1:], line, report))
            report.done(line)
        elif line.keyword == "server":
            server = _server(line, defaults, report)
            if server is not None:
                servers.append(server)
    options = [server["_options"] for server in servers]
    checked = [o for o in options if o.flag("check")]
    for server, option in zip(servers, options, strict=True):
        if checked and not option.flag("check"):
            report.note(
                _line_of(option, server),
                f"server {server['name']} has no check in HAProxy; fastlb checks every "
                "server of a backend that has a health check",
            )
    timing: dict[str, Any] = {}
    for keyword in ("inter", "fastinter", "rise", "fall"):
        found = [(o.values[keyword]) for o in checked if keyword in o.values]
        parsed = [
            (_time(v, report) if keyword.endswith("inter") else _count(v, report), v[1])
            for v in found
        ]
        chosen = _common([value for value, _ in parsed if value is not None])
        if chosen is None:
            continue
        timing[keyword] = chosen
        for value, where in parsed:
            if value != chosen:
                report.note(where, f"{keyword}: fastlb has one per backend; {chosen} is used")
    tls = _tls(servers, options, report, ca_base, verify_default)
    send_proxy = _send_proxy(servers, options, report)
    pool: dict[str, Any] = {}
    purge = _common([o.values[k] for o in options if (k := "pool-purge-delay") in o.values])
    if purge and (milliseconds := _time(purge, report)):
        pool["idle_timeout_ms"] = milliseconds
        report.done(purge[1])
    idle = _common([o.values["pool-max-conn"] for o in options if "pool-max-conn" in o.values])
    if idle and idle[0].isdigit():
        pool["max_idle"] = min(int(idle[0]), 100_000)
        report.note(
            idle[1], "fastlb keeps up to max_idle idle connections per server and worker thread"
        )
    for server in servers:
        del server["_options"]
    return ServersResult(
        servers=servers,
        checked=bool(checked),
        check_timing=timing,
        observe=any("observe" in o.values for o in checked),
        tls=tls,
        send_proxy=send_proxy,
        check_send_proxy=any(o.flag("check-send-proxy") for o in options),
        pool=pool,
    )


def _line_of(options: ServerOptions, server: dict[str, Any]) -> Line:
    lines = [where for _, where in (*options.values.values(), *options.flags.values())]
    return max(lines, key=lambda line: line.number) if lines else Line(0, (server["name"],))


def _count(option: tuple[str, Line], report: Report) -> int | None:
    if option[0].isdigit() and 1 <= int(option[0]) <= 1000:
        return int(option[0])
    report.error(option[1], f"{option[0]!r}: fastlb takes a count between 1 and 1000")
    return None


def _tls(
    servers: list[dict[str, Any]],
    options: list[ServerOptions],
    report: Report,
    ca_base: str | None,
    verify_default: bool,
) -> dict[str, Any] | None:
    with_ssl = [o for o in options if o.flag("ssl")]
    if not with_ssl:
        return None
    if len(with_ssl) != len(options):
        for server, option in zip(servers, options, strict=True):
            if not option.flag("ssl"):
                report.unsupported(
                    _line_of(option, server),
                    f"server {server['name']} is plaintext beside TLS servers: fastlb speaks "
                    "TLS to all servers of a backend; put it in a backend of its own",
                )
    first = with_ssl[0]
    # HAProxy verifies server certificates unless `verify none` (or the global
    # `ssl-server-verify none`).
    verify = first.values["verify"][0] != "none" if "verify" in first.values else verify_default
    tls: dict[str, Any] = {"verify": verify}
    if "ca-file" in first.values:
        ca = first.values["ca-file"][0]
        tls["ca"] = ca if ca.startswith("/") or not ca_base else f"{ca_base.rstrip('/')}/{ca}"
    name = first.values.get("verifyhost") or first.values.get("sni")
    if name is not None:
        value = name[0]
        if value.startswith("str(") and value.endswith(")"):
            value = value[4:-1]
        if "(" in value:
            report.unsupported(name[1], "a per-request SNI: fastlb sends one server_name")
        else:
            tls["server_name"] = value
    return tls


def _send_proxy(
    servers: list[dict[str, Any]], options: list[ServerOptions], report: Report
) -> str | None:
    versions = [
        "v2" if o.flag("send-proxy-v2") else "v1" if o.flag("send-proxy") else None for o in options
    ]
    chosen: str | None = _common(versions)
    for server, option, version in zip(servers, options, versions, strict=True):
        if version != chosen:
            report.unsupported(
                _line_of(option, server),
                f"server {server['name']}: fastlb sends the same PROXY header ({chosen or 'none'})"
                " to every server of a backend; put it in a backend of its own",
            )
    return chosen
