"""Config files for the benchmark's processes: nginx backends, HAProxy and fastlb.

Both load balancers get the same two servers with the same weights (3:1) and the same number
of I/O threads, so that the only difference measured is the load balancer itself.
"""

from __future__ import annotations

from dataclasses import dataclass

SMALL_BODY = "fastlb-bench-" + "x" * 50 + "\n"  # 64 bytes: latency-bound small responses
BIG_SIZE = 16 * 1024 * 1024  # the bulk scenario's /big file
WEIGHTS = (3, 1)
THREADS = 2


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
    }}
}}
"""


HAPROXY_SPLICE = {
    "auto": ["option splice-auto"],
    "always": ["option splice-request", "option splice-response"],
    "never": [],
}


def haproxy_cfg(
    port: int, servers: list[Server], splice: str = "auto", tls_port: int = 0, crt: str = ""
) -> str:
    """Stock HAProxy in TCP mode, `nbthread 2`, roundrobin with the same weights.

    `splice` "auto" (the default, in every scenario) is `option splice-auto`: HAProxy only
    splices when it sees a transfer worth it, so small requests are unaffected and there is
    one config to describe. "always" forces splice-request + splice-response, for comparison.
    """
    lines = [
        "global",
        f"    nbthread {THREADS}",
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
    lines += ["listen web", f"    bind 127.0.0.1:{port}", "    balance roundrobin"]
    lines += [f"    server {s.name} 127.0.0.1:{s.port} weight {s.weight}" for s in servers]
    if tls_port:
        # TLS termination in TCP mode: no HTTP processing, like fastlb.
        lines += ["listen web-tls", f"    bind 127.0.0.1:{tls_port} ssl crt {crt}"]
        lines += ["    balance roundrobin"]
        lines += [f"    server {s.name} 127.0.0.1:{s.port} weight {s.weight}" for s in servers]
    return "\n".join(lines) + "\n"


def fastlb_yaml(
    port: int,
    api_port: int,
    servers: list[Server],
    splice: str,
    tls_port: int = 0,
    cert: str = "",
    key: str = "",
) -> str:
    """fastlb with `workers: 2` (HAProxy's nbthread 2), same servers and weights."""
    server_lines = "\n".join(
        f"      - {{name: {s.name}, address: 127.0.0.1:{s.port}, weight: {s.weight}}}"
        for s in servers
    )
    return f"""\
workers: {THREADS}
splice: {splice}
api:
  listen: 127.0.0.1:{api_port}
frontends:
  - name: web
    listen: 127.0.0.1:{port}
    mode: tcp
    backend: web
    max_connections: 4096
{tls_frontend(tls_port, cert, key)}backends:
  - name: web
    balance: roundrobin
    servers:
{server_lines}
"""


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
