"""Stock HAProxy's configs, written in one place for every comparison against it: `web_config`
(the web benchmark's and load test's TCP, TLS and `mode http` sections) and `tcp_config` (plain
`mode tcp` relays, e.g. to MySQL servers). The load balancer under comparison gets the same
servers, weights and thread count (HAProxy `nbthread`, fastlb `workers`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

THREADS = 2  # the default I/O thread count of both load balancers in a comparison


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    weight: int


@dataclass(frozen=True)
class Ports:
    """One load balancer's listening ports: TCP, TLS-terminating TCP, HTTP/1.1 (`mode http`)
    and HTTP over TLS (ALPN h2, http/1.1). 0 = that frontend is not configured."""

    tcp: int
    tls: int = 0
    http: int = 0
    https: int = 0
    # `Connection: close` clients: HAProxy's own section (another http-reuse); fastlb's http.
    http_close: int = 0


HAPROXY_SPLICE = {
    "auto": ["option splice-auto"],
    "always": ["option splice-request", "option splice-response"],
    "never": [],
}

# HAProxy's server-side connection reuse. `safe` (HAProxy's default, the reference) in the
# keep-alive and h2 sections. It never sends a client connection's *first* request over an
# idle connection of another client, so with `Connection: close` clients (one request per
# connection) it opens a server connection per request: measured, nginx's `$connection`
# differs on every request (`aggressive` too: it only reuses connections already reused).
# The close scenario is about reused server connections, so HAProxy's section for it says
# `always` (reuse any idle connection), which is what fastlb's pool does (docs/http.md).
HAPROXY_REUSE = ("safe", "aggressive", "always")
HAPROXY_CLOSE_REUSE = "always"

# Keep-alive timeouts both load balancers use in mode http (HAProxy's stock Debian values).
HTTP_REQUEST_TIMEOUT = "10s"
HTTP_KEEPALIVE_TIMEOUT = "10s"


def web_config(
    ports: Ports,
    servers: list[Server],
    splice: str = "auto",
    crt: str = "",
    threads: int = THREADS,
    reuse: str = "safe",
    close_reuse: str = HAPROXY_CLOSE_REUSE,
) -> str:
    """Stock HAProxy: `nbthread threads`, roundrobin with the same weights.

    The TCP sections: `splice` "auto" (the default, in every scenario) is `option splice-auto`:
    HAProxy only splices when it sees a transfer worth it, so small requests are unaffected
    and there is one config to describe. "always" forces splice-request + splice-response.

    The HTTP sections have their own `defaults` (no splice option inherited): `mode http`,
    `option forwardfor`, keep-alive to clients and servers (`option http-keep-alive`, HAProxy's
    default made explicit), `http-reuse {reuse}`, the stock Debian `timeout http-request`;
    the section for `Connection: close` clients says `http-reuse {close_reuse}` (see
    HAPROXY_CLOSE_REUSE).
    """
    lines = [
        "global",
        f"    nbthread {threads}",
        "    maxconn 4096",
        # Resumption off (no session cache, no tickets): every TLS handshake is a full one.
        "    tune.ssl.cachesize 0",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 120s",
        "    timeout server 120s",
    ]
    lines += [f"    {option}" for option in HAPROXY_SPLICE[splice]]
    lines += ["listen web", f"    bind 127.0.0.1:{ports.tcp}", "    balance roundrobin"]
    lines += _haproxy_servers(servers)
    if ports.tls:
        # TLS termination in TCP mode: no HTTP processing, like fastlb.
        lines += ["listen web-tls", f"    bind 127.0.0.1:{ports.tls} ssl crt {crt}"]
        lines += ["    balance roundrobin"]
        lines += _haproxy_servers(servers)
    if ports.http or ports.https:
        lines += [
            "defaults http",
            "    mode http",
            "    timeout connect 5s",
            "    timeout client 120s",
            "    timeout server 120s",
            f"    timeout http-request {HTTP_REQUEST_TIMEOUT}",
            f"    timeout http-keep-alive {HTTP_KEEPALIVE_TIMEOUT}",
            "    option http-keep-alive",
            "    option forwardfor",
            f"    http-reuse {reuse}",
            "listen web-http",
        ]
        if ports.http:
            lines.append(f"    bind 127.0.0.1:{ports.http}")
        if ports.https:
            lines.append(f"    bind 127.0.0.1:{ports.https} ssl crt {crt} alpn h2,http/1.1")
        lines += ["    balance roundrobin"]
        lines += _haproxy_servers(servers)
    if ports.http_close:
        lines += [
            "listen web-http-close",
            f"    bind 127.0.0.1:{ports.http_close}",
            f"    http-reuse {close_reuse}",
            "    balance roundrobin",
        ]
        lines += _haproxy_servers(servers)
    return "\n".join(lines) + "\n"


def _haproxy_servers(servers: list[Server]) -> list[str]:
    return [f"    server {s.name} 127.0.0.1:{s.port} weight {s.weight}" for s in servers]


def tcp_config(listeners: Mapping[str, tuple[int, Sequence[tuple[str, str]]]], threads: int) -> str:
    """`mode tcp` relays: each listener `name -> (port, [(server name, address), ...])` binds
    127.0.0.1:port and balances (roundrobin, HAProxy's default) over its servers."""
    lines = [
        "global",
        f"    nbthread {threads}",
        "defaults",
        "    mode tcp",
        "    timeout connect 5s",
        "    timeout client 120s",
        "    timeout server 120s",
    ]
    for name, (port, servers) in listeners.items():
        lines += [f"listen {name}", f"    bind 127.0.0.1:{port}"]
        lines += [f"    server {server} {address}" for server, address in servers]
    return "\n".join(lines) + "\n"
