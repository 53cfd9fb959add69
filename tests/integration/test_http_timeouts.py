"""Inactivity timeouts of `mode: http` that a client can run into in the middle of an
exchange: an upload that stops sending (the frontend's `idle_timeout`, HAProxy's `timeout
client`) and a WebSocket tunnel nobody talks on (`http.tunnel_timeout`, HAProxy's `timeout
tunnel`). Each is set to 1 s; without it the defaults (60 s, 1 h) would keep the connection
open past the test's 8 s socket timeout."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from .http_backends import http_config, read_response
from .proc import FastlbProcess, frontend_port
from .servers import TcpServer
from .test_http_websocket import recv_exactly, upgrade_request, websocket_origin

Start = Callable[[dict[str, Any]], FastlbProcess]
CLIENT_TIMEOUT = 8.0


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the proxy sends until it closes, and how long that took."""
    started = time.monotonic()
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - started


def swallow_request(conn: socket.socket, server: TcpServer) -> None:
    """An origin that reads whatever it gets and never answers."""
    while chunk := conn.recv(65536):
        server.results.put(chunk)


def test_a_stalled_upload_is_closed_after_the_idle_timeout(
    backend: Callable[..., TcpServer], fastlb: Start
) -> None:
    origin = backend(swallow_request, "sink")
    config = http_config([{"name": "sink", "address": origin.address}])
    config["frontends"][0]["idle_timeout"] = "1s"
    fastlb(config)
    with socket.create_connection(
        ("127.0.0.1", frontend_port(config)), timeout=CLIENT_TIMEOUT
    ) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        _, waited = read_until_closed(sock)
    # Closed by the 1 s timeout, not by the client's 8 s one (recv would have raised).
    assert waited < CLIENT_TIMEOUT - 2, waited


def test_an_idle_websocket_tunnel_is_closed_after_tunnel_timeout(
    backend: Callable[..., TcpServer], fastlb: Start
) -> None:
    origin = backend(websocket_origin, "ws")
    config = http_config([{"name": "ws", "address": origin.address}], http={"tunnel_timeout": "1s"})
    fastlb(config)
    with socket.create_connection(
        ("127.0.0.1", frontend_port(config)), timeout=CLIENT_TIMEOUT
    ) as sock:
        sock.sendall(upgrade_request(b"/ws"))
        buffer = bytearray()
        assert read_response(sock, buffer).status == 101
        assert recv_exactly(sock, buffer, 5) == b"hello"
        # Traffic keeps it open past the timeout: it is about inactivity, not age.
        for _ in range(6):
            sock.sendall(b"ping")
            assert recv_exactly(sock, buffer, 4) == b"ping"
            time.sleep(0.4)
        rest, waited = read_until_closed(sock)
    assert rest == b""
    assert waited < CLIENT_TIMEOUT - 2, waited
