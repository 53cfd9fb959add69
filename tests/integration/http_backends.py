"""Real HTTP backends for the `mode: http` tests: nginx processes on free loopback ports
(fastlb.harness.backends.nginx), and raw-socket HTTP/1.1 helpers (requests, responses).
"""

from __future__ import annotations

import socket
from typing import Any

from fastlb.harness.backends.nginx import NAMED, Nginx, nginx_servers
from fastlb.harness.process import make_config

__all__ = ["NAMED", "Nginx", "Response", "http_config", "nginx_servers", "read_response", "request"]


def http_config(
    servers: list[dict[str, Any]],
    *,
    workers: int = 1,
    http: dict[str, Any] | None = None,
    backend_http: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`make_config` with the frontend in `mode: http`."""
    config = make_config(servers, workers=workers)
    frontend = config["frontends"][0]
    frontend["mode"] = "http"
    frontend["http"] = http or {}
    if backend_http is not None:
        config["backends"][0]["http"] = backend_http
    return config


def request(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    """Sends `raw` on a new connection and reads until the proxy closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def read_response(sock: socket.socket, buffer: bytearray, head_method: bool = False) -> Response:
    """Reads one response (Content-Length or chunked body) from `sock`; `buffer` carries the
    bytes read past it (pipelining)."""

    def fill() -> None:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the end of the response")
        buffer.extend(data)

    while b"\r\n\r\n" not in buffer:
        fill()
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    buffer[:] = rest
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = bytearray()
    if head_method or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b"")
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(buffer) < length:
            fill()
        body, buffer[:] = buffer[:length], buffer[length:]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            while b"\r\n" not in buffer:
                fill()
            size_line, _, rest = bytes(buffer).partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                fill()
                size_line, _, rest = bytes(buffer).partition(b"\r\n")
            body.extend(rest[:size])
            buffer[:] = rest[size + 2 :]
            if size == 0:
                break
    return Response(status, headers, bytes(body))
