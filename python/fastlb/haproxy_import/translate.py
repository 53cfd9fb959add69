"""The whole translation: `global`, the proxies, the HAProxy stats page, and the report of
every line nothing translated. The result is checked with fastlb's own validation
(`Config.from_mapping`), whose problems join the report."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..errors import ConfigError
from .backend import BackendDraft, translate_backend
from .frontend import GlobalSettings, translate_frontend
from .report import Report
from .sections import Document, Section, parse_sections
from .tokenizer import Line, tokenize
from .values import ValueProblem, bind_addresses, duration, parse_time_ms

__all__ = ["Translation", "translate"]

_PROCESS = "fastlb serve runs in the foreground: run it with packaging/fastlb.service (systemd)"
_GLOBAL_IGNORED = {
    "daemon": _PROCESS,
    "master-worker": _PROCESS,
    "pidfile": "systemd tracks the process",
    "user": "run fastlb as that user (systemd User=); ports below 1024 need CAP_NET_BIND_SERVICE",
    "group": "run fastlb as that group (systemd Group=)",
    "uid": "run fastlb as that user (systemd User=)",
    "gid": "run fastlb as that group (systemd Group=)",
    "chroot": "use systemd's sandboxing (ProtectSystem=strict) instead",
    "stats": "fastlb's runtime interface is its HTTP API (api.listen) and `fastlb ctl`",
    "ulimit-n": "set LimitNOFILE= in the systemd unit",
    "cpu-map": "fastlb runs `workers` threads and pins none",
    "spread-checks": "fastlb spreads its checks itself",
    "ssl-default-bind-ciphers": "fastlb uses rustls's safe cipher suites",
    "ssl-default-bind-ciphersuites": "fastlb uses rustls's safe cipher suites",
    "ssl-default-server-ciphers": "fastlb uses rustls's safe cipher suites",
    "ssl-default-server-ciphersuites": "fastlb uses rustls's safe cipher suites",
    "ssl-default-server-options": "fastlb's TLS client settings are fixed (TLS 1.2+)",
    "ssl-dh-param-file": "rustls uses ECDHE only",
    "log-send-hostname": "fastlb writes its access log to a file or stdout",
    "log-tag": "fastlb writes its access log to a file or stdout",
    "description": "not needed",
    "node": "not needed",
    "server-state-file": "fastlb keeps server state across reloads itself",
    "insecure-fork-wanted": "not needed",
    "expose-experimental-directives": "not needed",
}
_PROXY_MESSAGES = {
    "errorfile": "fastlb answers errors with its own short pages",
    "errorloc": "fastlb answers errors with its own short pages",
    "errorloc302": "fastlb answers errors with its own short pages",
    "errorloc303": "fastlb answers errors with its own short pages",
    "monitor-uri": "fastlb's API answers GET /api/health",
    "capture": "fastlb's access log records method, host, path and status",
    "description": "not needed",
    "id": "not needed",
    "unique-id-format": "fastlb adds no request id",
    "unique-id-header": "fastlb adds no request id",
    "log-format": "fastlb writes the haproxy, clf or json access log format",
    "http-after-response": "fastlb's response edits are http.response_headers",
}
_IGNORED_OPTIONS = {
    "redispatch": "fastlb always retries a failed connect on the next server",
    "dontlognull": "fastlb logs requests, never connections that sent none",
    "log-health-checks": "fastlb records each server's last check in /api/stats",
    "tcpka": "not needed",
    "clitcpka": "not needed",
    "srvtcpka": "not needed",
    "contstats": "fastlb's counters are always live",
    "socket-stats": "fastlb counts per frontend",
    "http-keep-alive": "the default",
    "splice-auto": "splice: auto",
    "splice-request": "splice",
    "splice-response": "splice",
    "abortonclose": "fastlb closes the server connection when the client goes away",
    "http-ignore-probes": "fastlb logs requests only",
    "prefer-last-server": "fastlb's pool reuses idle server connections",
    "nolinger": "not needed",
}


@dataclass
class Translation:
    """The fastlb configuration (None when nothing usable came out), the report, and
    whether the configuration passed fastlb's validation."""

    config: dict[str, Any] | None
    report: Report
    valid: bool


def _global(section: Section | None, report: Report) -> tuple[GlobalSettings, dict[str, Any]]:
    settings = GlobalSettings()
    top: dict[str, Any] = {}
    if section is None:
        return settings, top
    for line in section.lines:
        keyword, args = line.keyword, line.words[1:]
        if keyword == "maxconn" and args and args[0].isdigit() and int(args[0]) > 0:
            top["max_connections"] = int(args[0])
            report.done(line)
        elif keyword == "nbthread" and args and args[0].isdigit() and 1 <= int(args[0]) <= 1024:
            top["workers"] = int(args[0])
            report.done(line)
        elif keyword == "nbproc":
            report.unsupported(line, "fastlb is one process with `workers` threads")
        elif keyword in ("crt-base", "ca-base") and args:
            setattr(settings, keyword.replace("-", "_"), args[0])
            report.done(line)
        elif keyword == "log":
            settings.logs.append(line)
        elif keyword == "hard-stop-after" and args:
            try:
                top["drain_timeout"] = duration(parse_time_ms(args[0]))
                report.done(line)
            except ValueProblem as exc:
                report.error(line, str(exc))
        elif keyword == "ssl-default-bind-options":
            _bind_defaults(line, settings, report)
        elif keyword == "ssl-server-verify" and args:
            settings.verify_servers = args[0] != "none"
            report.done(line)
        elif keyword == "tune.ssl.cachesize" and args == ("0",):
            settings.no_cache = True
            report.done(line)
        elif keyword.startswith("tune."):
            report.ignored(
                line,
                "HAProxy tuning: fastlb sizes its buffers itself "
                "(http.max_header_size for request heads)",
            )
        elif keyword in _GLOBAL_IGNORED:
            report.ignored(line, _GLOBAL_IGNORED[keyword])
    return settings, top


def _bind_defaults(line: Line, settings: GlobalSettings, report: Report) -> None:
    words = list(line.words[1:])
    while words:
        word = words.pop(0)
        if word == "ssl-min-ver" and words:
            settings.min_version = words.pop(0)
        elif word == "no-tls-tickets":
            settings.no_tickets = True
        elif word not in ("no-sslv3", "no-tlsv10", "no-tlsv11"):
            report.note(line, f"{word}: not translated (fastlb speaks TLS 1.2 and 1.3)")
    report.done(line)


def _stats_page(section: Section) -> bool:
    has_stats = any(
        line.words[:2] in (("stats", "enable"), ("stats", "uri")) for line in section.lines
    )
    return has_stats and not section.own("server") and not section.own("default_backend")


def _api_from_stats(section: Section, report: Report) -> dict[str, Any] | None:
    addresses: list[str] = []
    for line in section.own("bind"):
        with contextlib.suppress(ValueProblem):
            addresses += bind_addresses(line.words[1]) if len(line.words) > 1 else []
        report.done(line)
    for line in section.lines:
        if line.keyword == "stats" or line.words[:2] == ("http-request", "use-service"):
            report.done(line)
        if line.words[1:2] == ("auth",):
            report.note(
                line,
                "fastlb's API has one bearer token for its write endpoints: "
                "set api.token (${FASTLB_API_TOKEN})",
            )
    if not addresses:
        return None
    report.note(
        section.header,
        f"HAProxy's stats page: fastlb's API on {addresses[0]} serves "
        "the dashboard (/), /api/stats and /metrics",
    )
    return {"listen": addresses[0]}


def _splice(doc: Document, report: Report) -> str | None:
    chosen = None
    for section in [*doc.defaults, *doc.proxies]:
        options = {
            line.words[1]: line
            for line in section.lines
            if line.words[:1] == ("option",)
            and line.words[1:2]
            and line.words[1].startswith("splice-")
        }
        value = (
            "auto"
            if "splice-auto" in options
            else "always"
            if {"splice-request", "splice-response"} <= options.keys()
            else None
        )
        for line in options.values():
            report.done(line)
            if value is None or (chosen is not None and value != chosen):
                report.note(
                    line, f"fastlb's splice setting is global: {chosen or value or 'auto'} is used"
                )
        chosen = chosen or value
    return chosen


def _leftovers(doc: Document, report: Report) -> None:
    """Every line no translation looked at: reported, never silently dropped."""
    sections = [s for s in (doc.global_section, *doc.defaults, *doc.proxies) if s is not None]
    used: set[int] = set()
    for proxy in doc.proxies:
        parent = proxy.defaults
        while parent is not None:
            used.add(id(parent))
            parent = parent.defaults
    for section in sections:
        for line in section.lines:
            if line.number in report.handled:
                continue
            keyword = line.keyword
            if section.kind == "defaults" and id(section) not in used:
                report.ignored(line, "no frontend, backend or listen section uses these defaults")
            elif keyword == "errorfile" and "/etc/haproxy/errors/" in " ".join(line.words):
                report.ignored(line, "HAProxy's stock error page: fastlb answers with its own")
            elif section.kind == "global" and keyword == "log":
                report.ignored(line, "no proxy logs requests with `option httplog` through it")
            elif keyword == "option" and line.words[1:2] and line.words[1] in _IGNORED_OPTIONS:
                report.ignored(line, _IGNORED_OPTIONS[line.words[1]])
            elif keyword in _PROXY_MESSAGES:
                report.unsupported(line, _PROXY_MESSAGES[keyword])
            else:
                report.unsupported(line, "not translated: fastlb has no equivalent")


def _server_close_from_frontends(
    made: list[tuple[Section, list[dict[str, Any]]]],
    drafts: dict[str, BackendDraft],
    report: Report,
) -> None:
    """`option http-server-close` in a frontend: fastlb sets it per backend, on those the
    frontend uses."""
    by_name = {d.name: d.config for d in drafts.values() if d.config is not None}
    for section, frontends in made:
        for line in section.lines:
            if line.words[:2] not in (("option", "http-server-close"), ("option", "httpclose")):
                continue
            names = {f["backend"] for f in frontends}
            for frontend in frontends:
                routes = frontend.get("http", {}).get("routes", [])
                names |= {route["backend"] for route in routes if "backend" in route}
            for name in names:
                if (config := by_name.get(name)) is not None:
                    config.setdefault("http", {})["server_reuse"] = False
            report.note(
                line,
                "fastlb sets this per backend: applied to "
                f"{', '.join(sorted(names)) or 'no backend'}",
            )


def translate(text: str, source: str) -> Translation:
    lines, problems = tokenize(text)
    report = Report(source)
    for number, reason in problems:
        report.error(Line(number, ("(line)",)), f"{reason}: HAProxy would refuse this line")
    doc = parse_sections(lines, report)
    settings, top = _global(doc.global_section, report)
    drafts: dict[str, BackendDraft] = {}
    api = None
    for section in doc.proxies:
        if _stats_page(section):
            api = api or _api_from_stats(section, report)
        elif section.kind in ("backend", "listen") and section.name:
            drafts[section.name] = translate_backend(
                section, report, settings.ca_base, settings.verify_servers
            )
    frontends: list[dict[str, Any]] = []
    made: list[tuple[Section, list[dict[str, Any]]]] = []
    for section in doc.proxies:
        if section.kind in ("frontend", "listen") and section.name and not _stats_page(section):
            translated = translate_frontend(section, drafts, settings, report)
            for frontend in translated:
                while frontend["name"] in {f["name"] for f in frontends}:
                    frontend["name"] += "-x"
                frontends.append(frontend)
            made.append((section, translated))
    _server_close_from_frontends(made, drafts, report)
    if (splice := _splice(doc, report)) is not None:
        top["splice"] = splice
    _leftovers(doc, report)
    backends = [d.config for d in drafts.values() if d.config is not None]
    report.translated = {"frontends": len(frontends), "backends": len(backends)}
    if not frontends or not backends:
        report.error(
            None,
            "no frontend with a usable backend: nothing to write (fastlb "
            "needs at least one frontend and one backend)",
        )
        return Translation(None, report, False)
    config: dict[str, Any] = {
        **top,
        **({"api": api} if api else {}),
        "frontends": frontends,
        "backends": backends,
    }
    try:
        Config.from_mapping(config)
    except ConfigError as exc:
        for line in exc.lines():
            report.error(None, f"the output does not pass fastlb check: {line}")
        return Translation(config, report, False)
    return Translation(config, report, True)
