"""The backend side of a `backend` or `listen` section: servers, balancing, retries,
timeouts, the health check, TLS to servers, the HTTP server pool.

| HAProxy | fastlb |
|---|---|
| `balance roundrobin` / `static-rr` | `balance: roundrobin` (others reported) |
| `balance leastconn` | `balance: leastconn` |
| `balance source` | `balance: source` (note: a Maglev hash, not HAProxy's) |
| `cookie NAME insert indirect nocache httponly secure` | `cookie: {name, insert, ...}` |
| server `cookie V` | the server's `cookie` |
| `retries N` | `retries` |
| `timeout connect` | `connect_timeout` |
| `timeout server` (mode http) | `http.response_timeout` |
| `timeout check` (else `inter`) | `health_check.timeout` |
| `option httpchk [meth] [uri] [ver]`, `http-check send` | `health_check.{path, host}` |
| `http-check expect status N` | `health_check.expect_status` |
| `option mysql-check [user U]` | `health_check: {type: mysql, user}` |
| `http-reuse never` / `option http-server-close` | `http.server_reuse: false` |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .common import HeaderEdits, header_edits, last, mode_of, timeouts
from .report import Report
from .sections import Section
from .servers import translate_servers
from .tokenizer import Line
from .values import duration, fastlb_name

__all__ = ["BackendDraft", "translate_backend"]

_CHECK_OPTIONS = (
    "httpchk",
    "mysql-check",
    "tcp-check",
    "ssl-hello-chk",
    "pgsql-check",
    "redis-check",
    "smtpchk",
    "ldap-check",
    "spop-check",
    "external-check",
)
# HAProxy's defaults for a check (configuration manual, "inter", "rise", "fall").
_DEFAULT_INTER_MS, _DEFAULT_RISE, _DEFAULT_FALL = 2000, 2, 3
_UNSUPPORTED_BACKEND = {
    "stick-table": "fastlb has no stick tables; per-source limits are on the frontend "
    "(max_connections_per_source, connection_rate_per_source)",
    "stick": "fastlb's session persistence is by cookie only (`cookie`)",
    "hash-type": "fastlb's source balancing is always consistent (Maglev); other hashes "
    "are not offered",
    "fullconn": "fastlb has no dynamic per-server limits",
    "http-send-name-header": "fastlb does not name the server in a request header",
    "compression": "fastlb does not compress responses",
    "hash-balance-factor": "fastlb's Maglev hash has no load bound",
}


@dataclass
class BackendDraft:
    """A translated backend and what frontends using it need to know."""

    section: Section
    name: str
    mode: str
    config: dict[str, Any] | None  # None: not usable (e.g. no server)
    timeouts: dict[str, int] = field(default_factory=dict)
    forwardfor: Line | None = None
    edits: HeaderEdits = field(default_factory=HeaderEdits)
    server_close: bool = False


def translate_backend(
    section: Section, report: Report, ca_base: str | None, verify_default: bool = True
) -> BackendDraft:
    lines = section.inherited_lines()
    name = fastlb_name(section.name)
    if name != section.name:
        report.note(section.header, f"renamed {section.name!r} to {name!r} (fastlb's names)")
    mode = mode_of(lines, report)
    draft = BackendDraft(section, name, mode, None)
    draft.timeouts = timeouts(lines, report, ("connect", "server", "check", "tunnel", "queue"))
    backend: dict[str, Any] = {"name": name}
    _balance(lines, backend, report)
    if (retries := last(lines, "retries")) is not None:
        count = retries.words[1] if len(retries.words) > 1 else ""
        if count.isdigit() and int(count) <= 100:
            backend["retries"] = int(count)
            if last(lines, "option", "redispatch") is None:
                report.note(
                    retries,
                    "fastlb retries a failed connect on the next server (HAProxy's "
                    "`option redispatch`), not on the same one",
                )
            else:
                report.done(retries)
        else:
            report.error(retries, f"retries {count!r}: fastlb takes 0..100")
    # Used here (http mode) or by the frontends (tcp mode's idle timeout).
    _mark(lines, report, ("timeout", "server"))
    _mark(lines, report, ("timeout", "tunnel"))
    if "connect" in draft.timeouts:
        backend["connect_timeout"] = duration(draft.timeouts["connect"])
        _mark(lines, report, ("timeout", "connect"))
    servers = translate_servers(lines, report, ca_base, verify_default)
    if not servers.servers:
        report.error(
            section.header,
            f"backend {section.name} has no usable server: left out (fastlb needs at least one)",
        )
        return draft
    if servers.tls is not None:
        backend["tls"] = servers.tls
    health = _health_check(lines, report, servers, draft.timeouts, backend)
    if health is not None:
        backend["health_check"] = health
    if servers.send_proxy:
        backend["send_proxy"] = servers.send_proxy
    if servers.check_send_proxy:
        if servers.send_proxy and health is not None:
            backend["check_send_proxy"] = True
        else:
            report.add(
                None,
                "unsupported",
                f"backend {name}: check-send-proxy needs send-proxy "
                "and checks on the same servers; left out",
            )
    draft.server_close = _server_close(lines, report)
    http: dict[str, Any] = {}
    if mode == "http":
        http["idle_timeout"] = duration(servers.pool.get("idle_timeout_ms", 5000))
        if "max_idle" in servers.pool:
            http["max_idle"] = servers.pool["max_idle"]
        if "server" in draft.timeouts:
            http["response_timeout"] = duration(draft.timeouts["server"])
    if draft.server_close:
        http["server_reuse"] = False
    if http:
        backend["http"] = http
    _cookie(lines, backend, servers.servers, report)
    for keyword, message in _UNSUPPORTED_BACKEND.items():
        for line in lines:
            if line.keyword == keyword:
                report.unsupported(line, message)
    if (queue := last(lines, "timeout", "queue")) is not None:
        report.ignored(
            queue,
            "fastlb does not queue connections (at max_connections it "
            "stops accepting until one ends)",
        )
    draft.forwardfor = last(lines, "option", "forwardfor")
    if section.kind == "backend":  # a listen section's edits are its frontend's
        draft.edits = header_edits(section.lines, report)
    backend["servers"] = servers.servers
    draft.config = backend
    return draft


def _mark(lines: list[Line], report: Report, words: tuple[str, ...]) -> None:
    for line in lines:
        if line.words[: len(words)] == words:
            report.done(line)


def _balance(lines: list[Line], backend: dict[str, Any], report: Report) -> None:
    line = last(lines, "balance")
    if line is None:
        return
    algorithm = line.words[1] if len(line.words) > 1 else ""
    if algorithm == "leastconn":
        report.done(line)
        backend["balance"] = "leastconn"
        return
    if algorithm == "source":
        report.note(
            line,
            "imported as balance: source (a consistent Maglev hash of the client address): "
            "each client stays on one server, though not the one HAProxy's hash picked",
        )
        backend["balance"] = "source"
        return
    if algorithm == "roundrobin":
        report.done(line)
    elif algorithm == "static-rr":
        report.note(
            line,
            "imported as roundrobin: the same weighted order; fastlb's weights "
            "can also change at runtime",
        )
    else:
        report.unsupported(
            line,
            "fastlb balances by roundrobin, leastconn or a client-address hash "
            "(source/maglev); imported as roundrobin",
        )
    backend["balance"] = "roundrobin"


# `cookie NAME [mode] [options]`: what fastlb's cookie section does with each word.
_COOKIE_FLAGS = {
    "insert": "insert",
    "nocache": "nocache",
    "httponly": "httponly",
    "secure": "secure",
}
_COOKIE_VALUED = ("domain", "maxidle", "maxlife", "attr")


def _cookie(
    lines: list[Line], backend: dict[str, Any], servers: list[dict[str, Any]], report: Report
) -> None:
    """`cookie NAME insert indirect nocache httponly secure` (+ each server's `cookie V`):
    fastlb's sticky sessions always act as `indirect` (no new cookie for a client whose
    cookie names the server that answered). Without a `cookie` line, server cookies go."""
    line = last(lines, "cookie")
    if line is None or len(line.words) < 2:
        for server in servers:
            if server.pop("cookie", None) is not None:
                report.add(
                    None,
                    "ignored",
                    f"server {server['name']}: cookie without a `cookie` line in its backend",
                )
        return
    cookie: dict[str, Any] = {"name": line.words[1], "insert": False}
    words = iter(line.words[2:])
    ignored: list[str] = []
    for word in words:
        if word in _COOKIE_FLAGS:
            cookie[_COOKIE_FLAGS[word]] = True
        elif word == "indirect":
            pass  # fastlb's behaviour anyway
        elif word in _COOKIE_VALUED:
            ignored.append(f"{word} {next(words, '')}".strip())
        else:
            ignored.append(word)
    backend["cookie"] = cookie
    if ignored:
        report.note(
            line,
            f"imported without {', '.join(ignored)}: fastlb inserts its own cookie "
            "(`insert`) or reads one the application sets, and never rewrites the server's",
        )
    else:
        report.done(line)


def _server_close(lines: list[Line], report: Report) -> bool:
    """HAProxy's server-side keep-alive: on unless `http-reuse never`, `option
    http-server-close` or `option httpclose`; the last such line wins."""
    close = False
    for line in lines:
        if line.keyword == "http-reuse" and len(line.words) > 1:
            close = line.words[1] == "never"
            if line.words[1] in ("always", "aggressive"):
                report.note(
                    line,
                    "fastlb reuses idle server connections as `http-reuse safe` "
                    "does (never across clients for a first request)",
                )
            else:
                report.done(line)
        elif line.words[:2] in (("option", "http-server-close"), ("option", "httpclose")):
            close = True
            report.done(line)
        elif line.words[:2] == ("option", "http-keep-alive"):
            close = False
            report.done(line)
    return close


def _health_check(
    lines: list[Line],
    report: Report,
    servers: Any,
    times: dict[str, int],
    backend: dict[str, Any],
) -> dict[str, Any] | None:
    kind_line = None
    for line in lines:
        if line.keyword == "option" and len(line.words) > 1 and line.words[1] in _CHECK_OPTIONS:
            kind_line = line
    if not servers.checked:
        if kind_line is not None:
            report.ignored(kind_line, "no server has `check`: HAProxy runs no checks either")
        for line in lines:
            if line.keyword in ("http-check", "tcp-check"):
                report.ignored(line, "no server has `check`")
        return None
    timing = servers.check_timing
    inter = timing.get("inter", _DEFAULT_INTER_MS)
    check: dict[str, Any] = {
        "type": "tcp",
        "interval": duration(inter),
        # HAProxy's fastinter defaults to inter; fastlb's to a quarter of it.
        "fast_interval": duration(timing.get("fastinter", inter)),
        # Without `timeout check`, a check may take up to `inter`.
        "timeout": duration(times.get("check", inter)),
        "rise": timing.get("rise", _DEFAULT_RISE),
        "fall": timing.get("fall", _DEFAULT_FALL),
        # HAProxy marks servers down from checks only, unless `observe layer4|layer7`.
        "observe": servers.observe,
    }
    _mark(lines, report, ("timeout", "check"))
    option = kind_line.words[1] if kind_line is not None else "tcp-check"
    if option == "httpchk":
        assert kind_line is not None
        _http_check(kind_line, lines, report, check)
    elif option == "mysql-check":
        assert kind_line is not None
        check["type"] = "mysql"
        words = kind_line.words[2:]
        if len(words) >= 2 and words[0] == "user":
            check["user"] = words[1]
            report.done(kind_line)
        else:
            report.note(
                kind_line,
                "without `user` the check reads the greeting and closes, "
                "which MySQL counts as an aborted connect (max_connect_errors): give "
                "health_check.user a passwordless check user",
            )
        report.note(
            kind_line,
            "a MySQL backend: fastlb's `mode: mysql` frontend can also "
            "split reads (replica) from writes (primary) on one port: see the README",
        )
    elif option == "tcp-check":
        if kind_line is not None:
            report.done(kind_line)
        for line in lines:
            if line.keyword == "tcp-check":
                report.unsupported(line, "tcp-check rules: fastlb's tcp check only connects")
    else:
        assert kind_line is not None
        report.unsupported(kind_line, f"option {option}: imported as a tcp (connect) check")
    if check["type"] != "tcp" and "tls" in backend:
        report.unsupported(
            kind_line or Line(0, ("option",)),
            f"{check['type']} checks speak plaintext and this backend's servers TLS: "
            "imported as a tcp check",
        )
        dropped = ("path", "host", "expect_status", "user")
        check = {key: value for key, value in check.items() if key not in dropped}
        check["type"] = "tcp"
    return check


def _http_check(kind_line: Line, lines: list[Line], report: Report, check: dict[str, Any]) -> None:
    check["type"] = "http"
    method, path, version = "OPTIONS", "/", ""
    words = list(kind_line.words[2:])
    if len(words) == 1:
        path = words[0]
    elif len(words) >= 2:
        method, path, version = words[0], words[1], " ".join(words[2:])
    headers: dict[str, str] = {}
    if "\n" in version:  # `HTTP/1.1\r\nHost:\ www` : the old way to send headers
        for field_line in version.split("\n")[1:]:
            name, _, value = field_line.strip("\r").partition(":")
            headers[name.strip().lower()] = value.strip()
    expect: int | None = None
    for line in lines:
        if line.words[:2] == ("http-check", "send"):
            send = list(line.words[2:])
            while len(send) >= 2:
                key, value = send.pop(0), send.pop(0)
                if key == "meth":
                    method = value
                elif key == "uri":
                    path = value
                elif key == "hdr" and send:
                    headers[value.lower()] = send.pop(0)
            report.done(line)
        elif line.words[:3] == ("http-check", "expect", "status") and len(line.words) == 4:
            if line.words[3].isdigit():
                expect = int(line.words[3])
                report.done(line)
            else:
                report.unsupported(line, "fastlb expects one status code")
        elif line.keyword == "http-check" and line.words[1:2] != ("send-state",):
            report.unsupported(line, "fastlb's http check sends GET and expects one status")
    check["path"] = path
    if "host" in headers:
        check["host"] = headers["host"]
    if method.upper() not in ("GET", "HEAD"):
        report.note(kind_line, f"fastlb's http check sends GET where HAProxy sends {method}")
    else:
        report.done(kind_line)
    if expect is None:
        report.note(
            kind_line,
            "HAProxy takes any 2xx or 3xx status as healthy; fastlb expects "
            "exactly 200 (health_check.expect_status)",
        )
    else:
        check["expect_status"] = expect
