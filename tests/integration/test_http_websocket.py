"""WebSocket (`Upgrade`) through `mode: http`: the tunnel opens only on the server's 101; a
refused upgrade stays an HTTP connection."""

from __future__ import annotations

import base64
import hashlib
import socket
from collections.abc import Callable
from typing import Any

from .http_backends import http_config, read_response
from .proc import FastlbProcess, frontend_port
from .servers import TcpServer

Start = Callable[[dict[str, Any]], FastlbProcess]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_origin(conn: socket.socket, server: TcpServer) -> None:
    """`/ws`: RFC 6455 handshake, then echoes every byte (frames included) back. Anything
    else: 403, and the connection goes on as HTTP."""
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        server.results.put(lines[0])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if lines[0].split()[1] != b"/ws":
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
            continue
        key = fields[b"sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        assert fields.get(b"upgrade", b"").lower() == b"websocket"
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + b"hello"
        )
        if data:
            conn.sendall(data)
        while chunk := conn.recv(65536):
            conn.sendall(chunk)
        return


def upgrade_request(path: bytes) -> bytes:
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


def recv_exactly(sock: socket.socket, buffer: bytearray, n: int) -> bytes:
    while len(buffer) < n:
        chunk = sock.recv(65536)
        assert chunk, "closed"
        buffer.extend(chunk)
    out = bytes(buffer[:n])
    del buffer[:n]
    return out


def test_websocket_echo_through_the_tunnel(backend: Callable[..., TcpServer], fastlb: Start) -> None:
    origin = backend(websocket_origin, "ws")
    config = http_config([{"name": "ws", "address": origin.address}])
    proxy = fastlb(config)
    with socket.create_connection(("127.0.0.1", frontend_port(config)), timeout=5) as sock:
        sock.sendall(upgrade_request(b"/ws"))
        buffer = bytearray()
        response = read_response(sock, buffer)
        assert response.status == 101
        assert response.headers["upgrade"].lower() == "websocket"
        assert response.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert recv_exactly(sock, buffer, 5) == b"hello"
        # A masked text frame "ping" (RFC 6455 5.3), echoed byte for byte by the origin.
        frame = bytes([0x81, 0x84, 1, 2, 3, 4]) + bytes(b ^ m for b, m in zip(b"ping", b"\x01\x02\x03\x04"))
        for _ in range(3):
            sock.sendall(frame)
            assert recv_exactly(sock, buffer, len(frame)) == frame
    assert proxy.stats()["frontends"]["web"]["http"]["websocket_upgrades"] == 1


def test_a_refused_upgrade_stays_http(backend: Callable[..., TcpServer], fastlb: Start) -> None:
    origin = backend(websocket_origin, "ws")
    config = http_config([{"name": "ws", "address": origin.address}])
    fastlb(config)
    with socket.create_connection(("127.0.0.1", frontend_port(config)), timeout=5) as sock:
        buffer = bytearray()
        # The bytes after the head must not be tunnelled: they are the next request.
        sock.sendall(upgrade_request(b"/no") + b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock, buffer).status == 403
        assert read_response(sock, buffer).status == 403
    lines = []
    while not origin.results.empty():
        lines.append(origin.results.get())
    assert lines == [b"GET /no HTTP/1.1", b"GET /after HTTP/1.1"]
