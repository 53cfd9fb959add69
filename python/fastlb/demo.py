"""`fastlb demo`: three small real web servers on localhost, fastlb in front of them with
weights 3/2/1 and a tcp health check, and the API with its dashboard; prints what to try
and runs until Ctrl-C (or `--duration`)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from .balancer import LoadBalancer

DEMO_SERVERS = (("web-01", 3), ("web-02", 2), ("web-03", 1))
PREFERRED_FRONTEND_PORT = 8080
PREFERRED_API_PORT = 9100


class NamedWebServer:
    """A tiny HTTP server on 127.0.0.1 (free port) answering `GET /` with `hello from NAME`."""

    def __init__(self, name: str) -> None:
        self.name = name
        reply = f"hello from {name}\n".encode()

        class SayName(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
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


def run_demo(duration: float | None = None) -> int:
    """Run the demo until SIGINT/SIGTERM or for `duration` seconds; returns the exit status."""
    with contextlib.ExitStack() as cleanup:
        servers = []
        for name, _ in DEMO_SERVERS:
            server = NamedWebServer(name)
            cleanup.callback(server.close)
            servers.append(server)
        config = {
            "workers": 2,
            "drain_timeout": "2s",
            "api": {"listen": f"127.0.0.1:{_port_if_free(PREFERRED_API_PORT)}"},
            "frontends": [
                {
                    "name": "web",
                    "listen": f"127.0.0.1:{_port_if_free(PREFERRED_FRONTEND_PORT)}",
                    "backend": "web",
                }
            ],
            "backends": [
                {
                    "name": "web",
                    "health_check": {"type": "tcp", "interval": "1s"},
                    "servers": [
                        {"name": server.name, "address": server.address, "weight": weight}
                        for server, (_, weight) in zip(servers, DEMO_SERVERS, strict=True)
                    ],
                }
            ],
        }
        balancer = LoadBalancer(config).start()
        cleanup.callback(balancer.stop)
        _print_banner(balancer)
        with _stop_on_signals() as stop_requested:
            stop_requested.wait(duration)
    return 0


def _print_banner(balancer: LoadBalancer) -> None:
    frontend = f"http://{balancer.addresses['web']}/"
    api = balancer.api_url
    weights = ", ".join(f"{name} weight {weight}" for name, weight in DEMO_SERVERS)
    print(
        f"""
fastlb demo: one frontend in front of 3 web servers ({weights})

  try it:    curl {frontend}        (repeat it: answers follow the weights 3:2:1)
  dashboard: {api}/
  live view: fastlb stats --api {api}
  stats:     curl {api}/api/stats
  metrics:   curl {api}/metrics
  weights:   fastlb ctl set-weight web web-03 5 --api {api}
  drain:     fastlb ctl drain web web-01 --api {api}

Ctrl-C stops everything.
""",
        flush=True,
    )


def _port_if_free(port: int) -> int:
    """`port` when nothing listens on it on 127.0.0.1, else 0 (any free port)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An Event set by SIGINT/SIGTERM while inside the block (main thread only)."""
    stop_requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop_requested
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop_requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
