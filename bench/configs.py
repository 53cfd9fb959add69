"""Config files for the benchmark's processes: nginx backends, HAProxy and fastlb.

Both load balancers get the same two servers with the same weights (3:1) and the same number
of I/O threads (HAProxy `nbthread`, fastlb `workers`), so that the only difference measured is
the load balancer itself. Each process has four frontends: TCP, TLS-terminating TCP, HTTP/1.1
(`mode http`) and HTTP over TLS with ALPN h2 + http/1.1 (the h2 scenario).
"""

from __future__ import annotations

from dataclasses import dataclass

SMALL_BODY = "fastlb-bench-" + "x" * 50 + "\n"  # 64 bytes: latency-bound small responses
BIG_SIZE = 16 * 1024 * 1024  # the bulk scenario's /big file
WEIGHTS = (3, 1)
THREADS = 2  # the default I/O thread count (loadtests/ uses it); `make bench` runs 1 and 2
CLIENT_THREADS = 2  # wrk's and h2load's -t, whatever the load balancer's thread count


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    weight: int


def nginx_conf(prefix: str, port: int, name: str) -> str:
    """One nginx backend, one worker: `/` answers 64 bytes, `/big` a 16 MiB file (sendfile)."""
    return f"""\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {prefix}/www;
        add_header X-Backend {name} always;
        location = / {{ return 200 "{SMALL_BODY.rstrip()}\\n"; }}
        location = /big {{ }}
        # Checks made before timing (never timed): the X-Forwarded-For the proxy sent, and
        # which server connection carried the request (equal numbers = a reused connection).
        location = /xff {{ return 200 "$http_x_forwarded_for\\n"; }}
        location = /conn {{ return 200 "$connection\\n"; }}
    }}
}}
"""


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


def haproxy_cfg(
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


def fastlb_yaml(
    ports: Ports,
    api_port: int,
    servers: list[Server],
    splice: str,
    cert: str = "",
    key: str = "",
    threads: int = THREADS,
) -> str:
    """fastlb with `workers: threads` (HAProxy's nbthread), same servers and weights.

    The HTTP frontends are written per docs/http.md with the features HAProxy's HTTP section
    has: X-Forwarded-For only (HAProxy's `option forwardfor` adds nothing else), keep-alive
    both sides, pooled server connections (HAProxy's pool is unbounded; 1024 idle per server
    is more than the benchmark ever opens), HAProxy's timeouts.
    """
    server_lines = "\n".join(
        f"      - {{name: {s.name}, address: 127.0.0.1:{s.port}, weight: {s.weight}}}"
        for s in servers
    )
    http_backend = ""
    if ports.http or ports.https:
        http_backend = f"""\
  - name: web-http
    balance: roundrobin
    http: {{server_reuse: true, max_idle: 1024, idle_timeout: 30s, response_timeout: 120s}}
    servers:
{server_lines}
"""
    return f"""\
workers: {threads}
splice: {splice}
api:
  listen: 127.0.0.1:{api_port}
frontends:
  - name: web
    listen: 127.0.0.1:{ports.tcp}
    mode: tcp
    backend: web
    max_connections: 4096
{tls_frontend(ports.tls, cert, key)}{http_frontend("web-http", ports.http)}\
{http_frontend("web-https", ports.https, cert, key)}backends:
  - name: web
    balance: roundrobin
    servers:
{server_lines}
{http_backend}"""


def tls_frontend(port: int, cert: str, key: str) -> str:
    """fastlb's TLS-terminating frontend (resumption off, as HAProxy's), or nothing."""
    if not port:
        return ""
    return f"""\
  - name: web-tls
    listen: 127.0.0.1:{port}
    mode: tcp
    backend: web
    max_connections: 4096
    tls: {{cert: {cert}, key: {key}, session_resumption: false}}
"""


def http_frontend(name: str, port: int, cert: str = "", key: str = "") -> str:
    """A `mode: http` frontend (docs/http.md), over TLS with ALPN h2 + http/1.1 when `cert`
    is given, or nothing when `port` is 0."""
    if not port:
        return ""
    tls = ""
    if cert:
        tls = (
            f"    tls: {{cert: {cert}, key: {key}, alpn: [h2, http/1.1],"
            " session_resumption: false}\n"
        )
    return f"""\
  - name: {name}
    listen: 127.0.0.1:{port}
    mode: http
    backend: web-http
    max_connections: 4096
{tls}\
    http:
      request_timeout: {HTTP_REQUEST_TIMEOUT}
      keepalive_timeout: {HTTP_KEEPALIVE_TIMEOUT}
      forwarded: {{x_forwarded_for: true, x_forwarded_proto: false}}
"""
