"""`balance: leastconn` with real nginx servers: while server a holds a request (its `/slow`
is proxied to a listener that never answers), new requests go to the idle server b under
leastconn, and still to a every other time under roundrobin. /api/stats shows the request in
flight on a, and its end. TCP mode weighs open connections the same way."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from .clients import wait_until
from .http_backends import http_config, nginx_servers, read_response
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer

Start = Callable[[dict[str, Any]], FastlbProcess]

pytestmark = pytest.mark.timeout(60)


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield listener.getsockname()[1]


def active(lb: FastlbProcess, server: str) -> int:
    http = lb.stats()["backends"]["web"]["servers"][server].get("http") or {}
    return int(http.get("active_requests", 0))


def answered_by(port: int, n: int) -> Counter[str]:
    """`n` GETs of / on one keep-alive connection: which server answered each."""
    bodies: Counter[str] = Counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        buffer = bytearray()
        for _ in range(n):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            response = read_response(sock, buffer)
            assert response.status == 200, response.body
            bodies[response.body.decode()] += 1
    return bodies


@pytest.mark.parametrize("balance", ["leastconn", "roundrobin"])
def test_new_requests_avoid_the_busy_server_only_under_leastconn(
    tmp_path: Path, fastlb: Start, balance: str
) -> None:
    with ExitStack() as stack:
        hold_port = stack.enter_context(silent_listener())
        specs = {
            "a": (
                f"location /slow {{ proxy_pass http://127.0.0.1:{hold_port}; "
                "proxy_read_timeout 60s; } location / { return 200 'a'; }"
            ),
            "b": "location / { return 200 'b'; }",
        }
        started = stack.enter_context(nginx_servers(tmp_path, specs))
        servers = [{"name": s.name, "address": s.address} for s in started]
        config = http_config(servers)
        config["backends"][0]["balance"] = balance
        lb = fastlb(config)
        port = frontend_port(config)

        # /slow requests, each on its own connection, until one is held by a (b answers its
        # share at once). Under leastconn a never gets a second one: it is the busier.
        held: list[socket.socket] = []
        for _ in range(10):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            held.append(sock)
            if wait_until(lambda: active(lb, "a") >= 1, timeout=0.5):
                break
        assert active(lb, "a") == 1, lb.stats()["backends"]["web"]["servers"]

        answers = answered_by(port, 20)
        if balance == "leastconn":
            assert answers == Counter({"b": 20})
        else:
            assert answers == Counter({"a": 10, "b": 10})
        assert active(lb, "a") == 1 and active(lb, "b") == 0

        # The held requests end (the listener goes, nginx answers 502): nothing in flight.
        stack.close()
        assert wait_until(lambda: active(lb, "a") == 0, timeout=10)


def echo_name(name: str) -> Callable[[socket.socket, TcpServer], None]:
    def handle(conn: socket.socket, _server: TcpServer) -> None:
        conn.sendall(name.encode())
        while conn.recv(4096):
            pass

    return handle


def test_tcp_mode_weighs_open_connections(fastlb: Start, backend: Callable[..., TcpServer]) -> None:
    servers = [backend(echo_name(name), name) for name in ("a", "b")]
    config = make_config([{"name": s.name, "address": s.address} for s in servers])
    config["backends"][0]["balance"] = "leastconn"
    lb = fastlb(config)
    port = frontend_port(config)

    def connect() -> tuple[socket.socket, str]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        return sock, sock.recv(16).decode()

    with ExitStack() as stack:
        first, first_name = connect()
        stack.enter_context(first)
        # One connection held open on `first_name`: every new one goes to the other server
        # (each is closed, and counted closed, before the next, so the loads stay 1 to 0).
        others = []
        for _ in range(6):
            sock, name = connect()
            others.append(name)
            sock.close()
            idle = "b" if first_name == "a" else "a"
            assert wait_until(
                lambda idle=idle: (
                    lb.stats()["backends"]["web"]["servers"][idle]["current_connections"] == 0
                ),
                timeout=5,
            )
        assert set(others) == {"b" if first_name == "a" else "a"}, others
