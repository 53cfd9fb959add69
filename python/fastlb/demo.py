"""`fastlb demo`: three small real web servers on localhost, fastlb in front of them in HTTP
mode (`mode: http`) with weights 3/2/1, an http health check, X-Forwarded-For (each server
answers with the client address it was given), an HTTPS frontend (a throwaway self-signed
certificate, HTTP/2 and HTTP/1.1) and an http -> https redirect, an access log, and the API
with its dashboard; when MariaDB is installed, also a primary/replica pair behind a
`mode: mysql` frontend (demo_mysql.py) with failover, and a switchover of it on request
(`--switchover-after`). Prints what to try and runs until Ctrl-C (or `--duration`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from .balancer import LoadBalancer
from .demo_mysql import (
    APP_PASSWORD,
    APP_USER,
    DATABASE,
    MariaDBPair,
    MariaDBUnavailable,
    mariadb_pair,
)
from .harness.ports import free_port

DEMO_SERVERS = (("web-01", 3), ("web-02", 2), ("web-03", 1))
PREFERRED_FRONTEND_PORT = 8080
PREFERRED_HTTPS_PORT = 8443
PREFERRED_API_PORT = 9100
PREFERRED_MYSQL_PORT = 6033
# Two statements the mariadb client sends one by one: the INSERT to the primary, the SELECT to
# the replica once it has applied the INSERT.
WRITE_THEN_READ = (
    "INSERT INTO notes (note, written_on) VALUES ('mine', @@server_id); "
    "SELECT *, @@server_id AS read_on FROM notes"
)


class NamedWebServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 (free port) answering every GET with
    `hello from NAME to CLIENT`: CLIENT is the X-Forwarded-For fastlb adds (the client's own
    address, not fastlb's)."""

    def __init__(self, name: str) -> None:
        self.name = name

        class SayName(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: fastlb reuses its connections

            def do_GET(self) -> None:
                client = self.headers.get("X-Forwarded-For", "unknown (no X-Forwarded-For)")
                reply = f"hello from {name} to {client}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the demo's terminal is for fastlb's own log lines

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), SayName)
        self._httpd.daemon_threads = True
        self.address = f"127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"demo-{name}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def run_demo(duration: float | None = None, switchover_after: float | None = None) -> int:
    """Run the demo until SIGINT/SIGTERM/SIGHUP or for `duration` seconds; returns the exit
    status. `switchover_after`: that many seconds after the banner, the MySQL replica is
    made the primary (a planned switchover), and what happened is printed."""
    with _stop_on_signals() as stop, contextlib.ExitStack() as cleanup:
        with stop.abandons_startup():
            servers = []
            for name, _ in DEMO_SERVERS:
                server = NamedWebServer(name)
                cleanup.callback(server.close)
                servers.append(server)
            mysql: MariaDBPair | str  # the pair, or why the MySQL part is skipped
            try:
                mysql = cleanup.enter_context(mariadb_pair())
            except MariaDBUnavailable as why:
                mysql = str(why)
            workdir = Path(
                cleanup.enter_context(tempfile.TemporaryDirectory(prefix="fastlb-demo-"))
            )
            balancer = LoadBalancer(_demo_config(servers, mysql, workdir)).start()
            cleanup.callback(balancer.stop)
        _print_banner(balancer, mysql, workdir)
        started = time.monotonic()
        if switchover_after is not None and isinstance(mysql, MariaDBPair):
            if stop.requested.wait(_left(duration, started, switchover_after)):
                return 0
            _show_switchover(balancer)
        stop.requested.wait(_left(duration, started))
    return 0


def _left(duration: float | None, started: float, at_most: float | None = None) -> float | None:
    """Seconds to wait: up to `at_most`, and never past `duration` since `started`."""
    waits = [w for w in (at_most,) if w is not None]
    if duration is not None:
        waits.append(max(0.0, duration - (time.monotonic() - started)))
    return min(waits) if waits else None


def _show_switchover(balancer: LoadBalancer) -> None:
    """The switchover `fastlb ctl mysql switchover db` runs, with what it did printed."""
    from .mysql.failover import SwitchoverError

    print("switchover: making the replica the primary of backend db ...", flush=True)
    try:
        done = balancer.mysql_switchover("db")
    except (SwitchoverError, KeyError) as why:
        print(f"switchover: refused or failed: {why}", flush=True)
        return
    print(
        f"switchover: {done['primary']} is the primary now (was {done['previous']}); writes "
        f"were held {done['write_pause_seconds'] * 1000:.0f} ms, none lost; GTID "
        f"{done['gtid']}. Writes now show written_on 2. Switch back: fastlb ctl mysql "
        f"switchover db --api {balancer.api_url}",
        flush=True,
    )


def _demo_config(
    servers: list[NamedWebServer], mysql: MariaDBPair | str, workdir: Path
) -> dict[str, Any]:
    cert, key = _self_signed_certificate(workdir)
    https_port = _port_if_free(PREFERRED_HTTPS_PORT) or free_port()
    access_log = {"path": str(workdir / "access.log"), "format": "haproxy"}
    config: dict[str, Any] = {
        "workers": 2,
        "drain_timeout": "2s",
        "api": {"listen": f"127.0.0.1:{_port_if_free(PREFERRED_API_PORT)}"},
        "frontends": [
            {
                "name": "web",
                "listen": f"127.0.0.1:{_port_if_free(PREFERRED_FRONTEND_PORT)}",
                "mode": "http",
                "backend": "web",
                "http": {
                    # Sign-in pages only over HTTPS: the classic redirect, one route.
                    "routes": [
                        {
                            "match": {"path_prefix": "/login"},
                            "redirect": {
                                "scheme": "https",
                                "host": f"127.0.0.1:{https_port}",
                                "code": 301,
                            },
                        }
                    ],
                    "access_log": access_log,
                },
            },
            {
                "name": "web-tls",
                "listen": f"127.0.0.1:{https_port}",
                "mode": "http",
                "backend": "web",
                "tls": {"cert": str(cert), "key": str(key), "alpn": ["h2", "http/1.1"]},
                "http": {"access_log": access_log},
            },
        ],
        "backends": [
            {
                "name": "web",
                "health_check": {"type": "http", "interval": "1s", "path": "/"},
                "servers": [
                    {"name": server.name, "address": server.address, "weight": weight}
                    for server, (_, weight) in zip(servers, DEMO_SERVERS, strict=True)
                ],
            }
        ],
    }
    if isinstance(mysql, MariaDBPair):
        listen = f"127.0.0.1:{_port_if_free(PREFERRED_MYSQL_PORT)}"
        config["frontends"].append(
            {"name": "sql", "listen": listen, "mode": "mysql", "backend": "db"}
        )
        config["backends"].append(mysql.backend("db"))
    return config


def _print_banner(balancer: LoadBalancer, mysql: MariaDBPair | str, workdir: Path) -> None:
    frontend = f"http://{balancer.addresses['web']}/"
    https = f"https://{balancer.addresses['web-tls']}/"
    api = balancer.api_url
    weights = ", ".join(f"{name} weight {weight}" for name, weight in DEMO_SERVERS)
    print(
        f"""
fastlb demo: HTTP mode in front of 3 web servers ({weights})

  try it:    curl {frontend}        (repeat it: answers follow the weights 3:2:1,
             and each server names the client address fastlb forwarded: X-Forwarded-For)
  https:     curl -k --http2 {https}   (TLS and HTTP/2 at fastlb, self-signed certificate)
  redirect:  curl -ik {frontend}login    (301 to HTTPS; add -L to follow it)
  log:       tail -f {workdir / "access.log"}
  dashboard: {api}/
  live view: fastlb stats --api {api}
  stats:     curl {api}/api/stats
  metrics:   curl {api}/metrics
  weights:   fastlb ctl set-weight web web-03 5 --api {api}
  drain:     fastlb ctl drain web web-01 --api {api}
{_mysql_banner(balancer, mysql)}
Ctrl-C stops everything.
""",
        flush=True,
    )


def _mysql_banner(balancer: LoadBalancer, mysql: MariaDBPair | str) -> str:
    if isinstance(mysql, str):
        return f"\nMySQL part skipped: {mysql}\n"
    host, port = balancer.addresses["sql"].rsplit(":", 1)
    client = f"mariadb -h {host} -P {port} -u {APP_USER} -p{APP_PASSWORD} {DATABASE}"
    api = balancer.api_url
    return f"""
MySQL read/write splitting: fastlb (mode mysql) at {host}:{port} in front of MariaDB
  servers:   primary {mysql.primary.address} (server_id 1), read-only replica
             {mysql.replica.address} (server_id 2), data in {mysql.workdir}
  read:      {client} -e 'SELECT @@server_id'
             (2: the replica answers reads)
  write:     {client} -e "{WRITE_THEN_READ}"
             (written_on 1: the INSERT ran on the primary; read_on 2: the replica, which
             waited for that write first: causal_reads: session)
  routing:   curl {api}/api/stats   (frontends.sql.mysql, mysql_topology)
             curl -s {api}/metrics | grep fastlb_mysql_
  switchover: fastlb ctl mysql switchover db --api {api}
             (the replica becomes the primary and the old primary its replica; writes are
             held meanwhile, none lost; run it again to switch back. The dashboard's MySQL
             panel shows the roles and the events; `fastlb demo --switchover-after 10`
             does it by itself)
"""


def _self_signed_certificate(workdir: Path) -> tuple[Path, Path]:
    """A throwaway ECDSA P-256 certificate for 127.0.0.1/localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastlb demo")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "demo.pem", workdir / "demo.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _port_if_free(port: int) -> int:
    """`port` when nothing listens on it on 127.0.0.1, else 0 (any free port)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


class _StopSignals:
    """SIGINT/SIGTERM/SIGHUP during the demo. While starting (inside `abandons_startup()`) the
    first one raises KeyboardInterrupt, so that the start is abandoned and the ExitStack stops
    what did start; any other only sets `requested`, so a clean-up is never cut short."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._starting = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested.set()
        if self._starting:
            self._starting = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def abandons_startup(self) -> Iterator[None]:
        self._starting = not self.requested.is_set()
        try:
            yield
        finally:
            self._starting = False


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[_StopSignals]:
    """Our handler while inside the block (main thread only). SIGHUP too: a closed terminal
    must not leave the MariaDB servers (in sessions of their own) running."""
    stop = _StopSignals()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, stop.handle) for sig in signals}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
