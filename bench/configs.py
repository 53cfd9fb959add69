"""Config files for the benchmark's processes: nginx backends and fastlb (HAProxy's is
fastlb.harness.haproxy's `web_config`, here as `haproxy_cfg`).

Both load balancers get the same two servers with the same weights (3:1) and the same number
of I/O threads (HAProxy `nbthread`, fastlb `workers`), so that the only difference measured is
the load balancer itself. Each process has four frontends: TCP, TLS-terminating TCP, HTTP/1.1
(`mode http`) and HTTP over TLS with ALPN h2 + http/1.1 (the h2 scenario).
"""

from __future__ import annotations

from fastlb.harness.haproxy import (
    HAPROXY_CLOSE_REUSE,
    HAPROXY_REUSE,
    HAPROXY_SPLICE,
    HTTP_KEEPALIVE_TIMEOUT,
    HTTP_REQUEST_TIMEOUT,
    THREADS,
    Ports,
    Server,
)
from fastlb.harness.haproxy import web_config as haproxy_cfg

__all__ = [
    "HAPROXY_CLOSE_REUSE",
    "HAPROXY_REUSE",
    "HAPROXY_SPLICE",
    "HTTP_REQUEST_TIMEOUT",
    "THREADS",
    "Ports",
    "Server",
    "fastlb_yaml",
    "haproxy_cfg",
    "nginx_conf",
]

SMALL_BODY = "fastlb-bench-" + "x" * 50 + "\n"  # 64 bytes: latency-bound small responses
BIG_SIZE = 16 * 1024 * 1024  # the bulk scenario's /big file
WEIGHTS = (3, 1)
CLIENT_THREADS = 2  # wrk's and h2load's -t, whatever the load balancer's thread count


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
