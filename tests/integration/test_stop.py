"""Graceful stop of `fastlb serve` on SIGTERM: refuse new, finish established, exit 0."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .clients import connect, echo_roundtrip, recv_line, wait_for_close, wait_until
from .http_backends import NAMED, http_config, nginx_servers, read_response
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo
from .test_http_websocket import recv_exactly, upgrade_request, websocket_origin

pytestmark = pytest.mark.timeout(60)


def refuses_connections(port: int) -> bool:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    sock.close()
    return False


def test_sigterm_drains_established_connections_then_exits_0(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}], splice=splice)
    config["drain_timeout"] = "30s"
    lb = fastlb(config)
    port = frontend_port(config)

    with connect(port) as established:
        assert recv_line(established) == b"s1"
        echo_roundtrip(established, b"before the signal\n")

        lb.terminate()

        assert wait_until(lambda: refuses_connections(port), timeout=5), (
            "new connections still accepted 5s after SIGTERM"
        )
        # Mid-conversation: the established connection keeps working in both directions.
        for i in range(5):
            echo_roundtrip(established, f"after the signal {i}\n".encode() * 1000)
        assert lb.alive(), f"fastlb exited with an established connection open:\n{lb.log()}"

    # Once it closes, nothing is left to drain.
    assert lb.wait(timeout=10) == 0, lb.log()


def test_drain_timeout_cuts_connections_that_never_close(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}], splice=splice)
    config["drain_timeout"] = "1s"
    lb = fastlb(config)

    with connect(frontend_port(config)) as lingering:
        assert recv_line(lingering) == b"s1"
        echo_roundtrip(lingering, b"hello\n")

        lb.terminate()

        assert wait_for_close(lingering, timeout=10) in {"eof", "reset"}, (
            "connection still open 10s after SIGTERM with drain_timeout 1s"
        )
        assert lb.wait(timeout=10) == 0, lb.log()


def test_sigint_stops_gracefully_too(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}])
    lb = fastlb(config)
    port = frontend_port(config)

    with connect(port) as established:
        assert recv_line(established) == b"s1"
        lb.popen.send_signal(signal.SIGINT)
        assert wait_until(lambda: refuses_connections(port), timeout=5), (
            "new connections still accepted 5s after SIGINT"
        )
        echo_roundtrip(established, b"after SIGINT\n")
        assert lb.alive(), f"fastlb exited with an established connection open:\n{lb.log()}"

    assert lb.wait(timeout=10) == 0, lb.log()


class KeepAliveClients:
    """HTTP/1.1 clients, each sending one request after another on its own keep-alive
    connection until an answer says `Connection: close`. Counts answers; any request left
    without its whole answer is an error."""

    def __init__(self, port: int, count: int) -> None:
        self.answered = 0
        self.told_to_close = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._sockets = [
            socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)
        ]
        self._threads = [
            threading.Thread(target=self._run, args=(sock,), daemon=True) for sock in self._sockets
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, sock: socket.socket) -> None:
        buffer = bytearray()
        # Bounded: fastlb's drain deadline (60 s) is the only other end.
        until = time.monotonic() + 90
        with sock:
            while time.monotonic() < until:
                try:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                    response = read_response(sock, buffer)
                except OSError as exc:
                    self.errors.append(f"request lost: {exc!r}")
                    return
                if response.status != 200:
                    self.errors.append(f"status {response.status}")
                with self._lock:
                    self.answered += 1
                if response.headers.get("connection", "").lower() == "close":
                    if sock.recv(1) != b"":
                        self.errors.append("the connection stayed open after `Connection: close`")
                    with self._lock:
                        self.told_to_close += 1
                    return
            self.errors.append("never told to close")

    def join(self) -> None:
        for thread in self._threads:
            thread.join(120)


def test_sigterm_under_http_keepalive_load_closes_each_connection_after_an_answer(
    tmp_path: Path, fastlb: Callable[[dict[str, Any]], FastlbProcess]
) -> None:
    """`mode: http`: on SIGTERM each keep-alive connection's exchange in progress (or the
    request that comes next) is answered with `Connection: close`, then closed; no request
    goes unanswered, and fastlb exits long before its 60 s drain deadline."""
    with nginx_servers(tmp_path, {"a": NAMED.format(name="a")}) as web:
        config = http_config([{"name": "a", "address": web[0].address, "weight": 1}])
        config["drain_timeout"] = "60s"
        lb = fastlb(config)
        clients = KeepAliveClients(frontend_port(config), count=8)
        assert wait_until(lambda: clients.answered >= 200, timeout=20), clients.errors

        lb.terminate()

        # Ended by its HTTP sessions closing, not by the 60 s deadline.
        assert lb.wait(timeout=20) == 0, lb.log()
        clients.join()
        assert clients.errors == []
        assert clients.told_to_close == 8


def test_sigterm_closes_idle_http_but_leaves_a_websocket_tunnel_running_until_it_ends(
    backend: Callable[..., TcpServer], fastlb: Callable[[dict[str, Any]], FastlbProcess]
) -> None:
    """A tunnel has no request boundary to stop at: it runs on after SIGTERM (until it ends
    or the drain deadline), while an idle keep-alive connection beside it is closed after
    the soft stop's grace, long before its 60 s keep-alive timeout."""
    origin = backend(websocket_origin, "ws")
    config = http_config(
        [{"name": "ws", "address": origin.address}], http={"keepalive_timeout": "60s"}
    )
    config["drain_timeout"] = "60s"
    lb = fastlb(config)
    port = frontend_port(config)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as tunnel,
        socket.create_connection(("127.0.0.1", port), timeout=10) as idle,
    ):
        tunnel.sendall(upgrade_request(b"/ws"))
        buffer = bytearray()
        assert read_response(tunnel, buffer).status == 101
        assert recv_exactly(tunnel, buffer, 5) == b"hello"
        idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(idle, bytearray()).status == 403

        lb.terminate()

        assert wait_until(lambda: refuses_connections(port), timeout=5)
        assert idle.recv(1) == b"", "the idle keep-alive connection stayed open"
        for i in range(3):
            message = f"after the stop {i}".encode()
            tunnel.sendall(message)
            assert recv_exactly(tunnel, buffer, len(message)) == message
        assert lb.alive(), f"fastlb exited with a tunnel open:\n{lb.log()}"

    assert lb.wait(timeout=20) == 0, lb.log()
