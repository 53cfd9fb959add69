"""The frontend side of a `frontend` or `listen` section: one fastlb frontend per bind
address (HAProxy puts plain and TLS binds in one frontend; fastlb gives each listener its
own frontend), with TLS, the PROXY protocol, the source ACL, limits and timeouts.

HAProxy's `ssl crt FILE` takes one PEM file holding the certificate chain and its key.
fastlb's core reads the certificates of the `cert` file and the first private key of the
`key` file, so the same combined file is given as both (`tls: {cert: F, key: F}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .backend import BackendDraft
from .common import header_edits, last, mode_of, timeouts
from .conditions import AclTable, Unsupported, source_rule, split_condition
from .http_frontend import HttpContext, http_block, route_rules
from .report import Report
from .sections import Section
from .tokenizer import Line
from .values import ValueProblem, bind_addresses, duration, fastlb_name

__all__ = ["GlobalSettings", "translate_frontend"]

_BIND_WITH_ARGUMENT = frozenset(
    """crt crt-list alpn npn ssl-min-ver ssl-max-ver name ciphers ciphersuites curves ecdhe
    verify ca-file crl-file process thread interface namespace mss maxconn backlog nice id
    level severity-output mode uid gid user group tcp-ut proto sigalgs client-sigalgs
    ca-verify-file ca-ignore-err crt-ignore-err expose-fd label shards
    accept-netscaler-cip""".split()  # noqa: SIM905
)
_BIND_IGNORED = {
    "v4v6",
    "v6only",
    "defer-accept",
    "name",
    "process",
    "thread",
    "backlog",
    "id",
    "tfo",
    "prefer-client-ciphers",
    "strict-sni",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "shards",
    "label",
}
# Anyone may send a PROXY header to an HAProxy `accept-proxy` bind.
_ANYONE = ["0.0.0.0/0", "::/0"]


@dataclass
class GlobalSettings:
    """What proxies take from `global`."""

    crt_base: str | None = None
    ca_base: str | None = None
    logs: list[Line] = field(default_factory=list)
    min_version: str | None = None
    no_tickets: bool = False
    no_cache: bool = False
    verify_servers: bool = True


def _tls_version(text: str, line: Line, report: Report) -> str | None:
    version = {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}.get(text)
    if version is None:
        report.note(line, f"ssl-min-ver {text}: fastlb's minimum is TLS 1.2")
    return version


@dataclass
class Bind:
    line: Line
    address: str
    tls: dict[str, Any] | None
    accept_proxy: bool


def _binds(section: Section, settings: GlobalSettings, report: Report) -> list[Bind]:
    binds: list[Bind] = []
    header_addresses = list(section.header.words[2:])
    if "from" in header_addresses:  # `frontend web from base`: not an address
        at = header_addresses.index("from")
        del header_addresses[at : at + 2]
    for text in header_addresses:  # `frontend main *:5000` (HAProxy 1.x style)
        try:
            binds += [Bind(section.header, a, None, False) for a in bind_addresses(text)]
        except ValueProblem as exc:
            report.unsupported(section.header, str(exc))
    for line in section.own("bind"):
        if len(line.words) < 2:
            report.error(line, "bind needs an address")
            continue
        try:
            addresses = bind_addresses(line.words[1])
        except ValueProblem as exc:
            report.unsupported(line, str(exc))
            continue
        tls, accept_proxy = _bind_options(line, settings, report)
        binds += [Bind(line, address, tls, accept_proxy) for address in addresses]
    return binds


def _bind_options(
    line: Line, settings: GlobalSettings, report: Report
) -> tuple[dict[str, Any] | None, bool]:
    words = list(line.words[2:])
    options: dict[str, list[str]] = {}
    while words:
        word = words.pop(0)
        value = words.pop(0) if word in _BIND_WITH_ARGUMENT and words else ""
        options.setdefault(word, []).append(value)
    for word in options:
        if word in ("ssl", "crt", "alpn", "accept-proxy", "ssl-min-ver", "no-tls-tickets"):
            continue
        if word in _BIND_IGNORED:
            report.ignored(line, f"{word}: not needed by fastlb")
        elif word in ("verify", "ca-file"):
            report.unsupported(line, f"{word}: fastlb does not ask clients for certificates")
        elif word in ("ciphers", "ciphersuites", "curves", "ecdhe", "sigalgs"):
            report.unsupported(line, f"{word}: fastlb uses rustls's safe cipher suites")
        else:
            report.unsupported(line, f"bind option {word}: not translated")
    report.done(line)
    tls: dict[str, Any] | None = None
    if "ssl" in options:
        certificates = []
        for crt in options.get("crt", []):
            path = (
                crt
                if crt.startswith("/") or not settings.crt_base
                else (f"{settings.crt_base.rstrip('/')}/{crt}")
            )
            certificates.append({"cert": path, "key": path})
        for crt_list in options.get("crt-list", []):
            report.unsupported(
                line,
                f"crt-list {crt_list}: list each certificate as "
                "tls.certificates [{cert, key}, ...]",
            )
        if not certificates:
            report.error(line, "ssl without a crt file: this bind is left out")
            return None, False
        tls = (
            {"cert": certificates[0]["cert"], "key": certificates[0]["key"]}
            if len(certificates) == 1
            else {"certificates": certificates}
        )
        if "alpn" in options:
            tls["alpn"] = options["alpn"][-1].split(",")
        version = options.get("ssl-min-ver", [settings.min_version or ""])[-1]
        if version and (minimum := _tls_version(version, line, report)):
            tls["min_version"] = minimum
        tickets_off = "no-tls-tickets" in options or settings.no_tickets
        if tickets_off and settings.no_cache:
            tls["session_resumption"] = False
        elif tickets_off or settings.no_cache:
            report.note(
                line,
                "fastlb turns session resumption (tickets and cache) on or off together: left on",
            )
    if "accept-proxy" in options:
        report.note(
            line,
            "accept-proxy: HAProxy believes a PROXY header from anyone; so "
            "does the import (trusted_proxies: [0.0.0.0/0, ::/0]): narrow it to "
            "the addresses of your load balancers in front",
        )
    return tls, "accept-proxy" in options


def _acl(section: Section, acls: AclTable, report: Report) -> dict[str, list[str]] | None:
    """`tcp-request connection accept|reject` and `http-request deny|allow` on source
    addresses -> fastlb's acl (checked at accept: a denied client is closed, not sent
    a 403)."""
    allow: list[str] = []
    deny: list[str] = []
    allow_list = False
    for line in section.lines:
        if line.words[:2] == ("tcp-request", "connection"):
            action, condition = split_condition(line.words[2:])
            http = False
        elif line.keyword == "http-request" and line.words[1:2] in (("deny",), ("allow",)):
            action, condition = split_condition(line.words[1:])
            http = True
        else:
            continue
        verb = action[0] if action else ""
        if verb not in ("accept", "reject", "deny", "allow") or len(action) != 1:
            report.unsupported(
                line, f"{' '.join(action)}: fastlb's acl allows or denies source addresses only"
            )
            continue
        refuse = verb in ("reject", "deny")
        if condition is None:
            if refuse:
                allow_list = True
                report.done(line)
            else:
                report.unsupported(line, "accepts everything: rules after it are not imported")
            continue
        try:
            inside, networks = source_rule(condition, acls)
        except Unsupported as exc:
            report.unsupported(line, f"rule left out: {exc}")
            continue
        if refuse == inside:
            deny += networks
        else:
            allow += networks
        if http:
            report.note(
                line,
                "fastlb refuses these clients at accept (the connection is "
                "closed) where HAProxy answers 403",
            )
        else:
            report.done(line)
    for lines in acls.lines.values():
        for line in lines:
            report.done(line)  # used by a rule, or reported with it
    if allow_list and not allow:
        report.unsupported(section.header, "an unconditional reject refuses every client")
    if not allow and not deny:
        return None
    return {"allow": allow, "deny": deny}


def translate_frontend(
    section: Section,
    backends: dict[str, BackendDraft],
    settings: GlobalSettings,
    report: Report,
) -> list[dict[str, Any]]:
    """The fastlb frontends of one HAProxy frontend or listen section (one per bind)."""
    lines = section.inherited_lines()
    name = fastlb_name(section.name)
    mode = mode_of(lines, report)
    acls = AclTable()
    for line in section.own("acl"):
        acls.add(line)
    default = _default_backend(section, lines, backends, report)
    binds = _binds(section, settings, report)
    if not binds:
        report.error(section.header, f"{section.kind} {section.name} has no usable bind: left out")
        return []
    if default is None:
        report.error(
            section.header, f"{section.kind} {section.name} has no usable default backend: left out"
        )
        return []
    times = timeouts(lines, report, ("client", "http-request", "http-keep-alive", "tunnel"))
    for line in lines:
        if line.keyword == "timeout" and line.words[1:2] in (
            ("client",),
            ("http-request",),
            ("http-keep-alive",),
            ("tunnel",),
        ):
            report.done(line)
    common: dict[str, Any] = {"mode": mode, "backend": default.name}
    if (maxconn := last(lines, "maxconn")) is not None:
        if maxconn.words[1:2] and maxconn.words[1].isdigit() and int(maxconn.words[1]) > 0:
            common["max_connections"] = int(maxconn.words[1])
            report.done(maxconn)
        else:
            report.error(maxconn, "maxconn must be a positive number")
    idle = _idle_timeout(mode, times, default, lines, report)
    if idle:
        common["idle_timeout"] = duration(idle)
    acl = _acl(section, acls, report)
    if acl is not None:
        common["acl"] = acl
    context = None
    if mode == "http":
        edits = header_edits(section.lines, report)
        context = HttpContext(lines, section.lines, acls, backends, edits, times, settings.logs)
    elif section.own("use_backend") or section.own("redirect"):
        for line in section.own("use_backend") + section.own("redirect"):
            report.unsupported(
                line,
                "content switching in tcp mode: fastlb's tcp frontends "
                "send everything to their backend",
            )
    frontends = []
    used_names: set[str] = set()
    for index, bind in enumerate(binds):
        port = bind.address.rpartition(":")[2]
        frontend_name = name if index == 0 else f"{name}-{port}"
        while frontend_name in used_names:
            frontend_name += "-x"
        used_names.add(frontend_name)
        frontend: dict[str, Any] = {"name": frontend_name, "listen": bind.address, **common}
        if bind.tls is not None:
            frontend["tls"] = bind.tls
        if bind.accept_proxy:
            frontend["accept_proxy"] = True
            frontend["trusted_proxies"] = list(_ANYONE)
        if context is not None:
            routes = route_rules(context, bind.tls is not None, report)
            frontend["http"] = http_block(context, default, routes, report)
        frontends.append(frontend)
    return frontends


def _default_backend(
    section: Section, lines: list[Line], backends: dict[str, BackendDraft], report: Report
) -> BackendDraft | None:
    if section.kind == "listen":
        return backends.get(section.name)
    line = last(lines, "default_backend")
    if line is not None:
        report.done(line)
        draft = backends.get(line.words[1] if len(line.words) > 1 else "")
        if draft is None or draft.config is None:
            report.error(line, "no usable backend of that name")
        return draft if draft is not None and draft.config is not None else None
    for rule in section.own("use_backend"):
        words, _ = split_condition(rule.words[1:])
        draft = backends.get(words[0] if words else "")
        if draft is not None and draft.config is not None:
            report.note(
                rule,
                f"no default_backend: HAProxy answers 503 when no rule matches; "
                f"fastlb needs a default backend: {draft.name} is used",
            )
            return draft
    return None


def _idle_timeout(
    mode: str, times: dict[str, int], default: BackendDraft, lines: list[Line], report: Report
) -> int | None:
    """HAProxy's `timeout client` is the client side's inactivity limit; in tcp mode the
    connection also ends when the server side is idle for `timeout server`, and `timeout
    tunnel` replaces both: fastlb's one idle_timeout (no traffic either way) is the
    shortest that applies."""
    client = times.get("client")
    if mode == "http":
        return client
    tunnel = times.get("tunnel") or default.timeouts.get("tunnel")
    if tunnel:
        return tunnel
    server = default.timeouts.get("server")
    if client and server and client != server:
        line = last(lines, "timeout", "client")
        if line is not None:
            report.note(
                line,
                f"fastlb has one idle timeout per tcp connection: the shorter "
                f"of timeout client and the backend's timeout server "
                f"({duration(min(client, server))})",
            )
    candidates = [t for t in (client, server) if t]
    return min(candidates) if candidates else None
