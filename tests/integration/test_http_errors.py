"""`mode: http` refusals and failures with real sockets: request smuggling (CL.TE, TE.CL,
TE.TE) refused before a byte reaches a server, slowloris (408 while others are served),
oversized heads (431), and the 502/503/504 answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from .http_backends import http_config, read_response, request
from .proc import FastlbProcess, frontend_port
from .servers import TcpServer

Start = Callable[[dict[str, Any]], FastlbProcess]


def recording_origin(conn: socket.socket, server: TcpServer) -> None:
    """An HTTP/1.1 keep-alive origin that reports every request line it parses."""
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
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(data) < length:
            data += conn.recv(65536)
        data = data[length:]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def seen(server: TcpServer) -> list[bytes]:
    lines = []
    while not server.results.empty():
        lines.append(server.results.get())
    return lines


SMUGGLING = {
    "CL.TE": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    "TE.CL": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    b"2c\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n\r\n0\r\n\r\n",
    "TE.TE": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n"
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    "TE space": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n"
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    "two CL": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n"
    b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(SMUGGLING))
def test_smuggling_is_refused_and_never_reaches_a_server(
    backend: Callable[..., TcpServer], fastlb: Start, case: str
) -> None:
    origin = backend(recording_origin, "origin")
    config = http_config([{"name": "o", "address": origin.address}])
    fastlb(config)
    answer = request(frontend_port(config), SMUGGLING[case])
    assert answer.split(b"\r\n")[0] in (
        b"HTTP/1.1 400 Bad Request",
        b"HTTP/1.1 501 Not Implemented",
    ), answer
    # One answer, then the connection is closed: nothing after it is read as a request.
    assert answer.count(b"HTTP/1.1 ") == 1
    time.sleep(0.1)
    assert seen(origin) == []


def test_slowloris_gets_408_while_others_are_served(
    backend: Callable[..., TcpServer], fastlb: Start
) -> None:
    origin = backend(recording_origin, "origin")
    config = http_config(
        [{"name": "o", "address": origin.address}], http={"request_timeout": "600ms"}
    )
    proxy = fastlb(config)
    port = frontend_port(config)
    slow = socket.create_connection(("127.0.0.1", port), timeout=5)
    slow.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
    served = 0
    started = trickled = time.monotonic()
    while time.monotonic() - started < 0.4:
        assert request(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").endswith(b"ok")
        served += 1
        if time.monotonic() - trickled > 0.05:
            # The slow client keeps trickling header fields; the deadline is the whole head's.
            slow.sendall(b"X-A: b\r\n")
            trickled = time.monotonic()
    answer = read_response(slow, bytearray())
    slow.close()
    assert answer.status == 408
    assert served > 0
    assert seen(origin) == [b"GET / HTTP/1.1"] * served
    assert proxy.stats()["frontends"]["web"]["http"]["request_timeouts"] == 1


def test_oversized_head_is_431(backend: Callable[..., TcpServer], fastlb: Start) -> None:
    origin = backend(recording_origin, "origin")
    config = http_config(
        [{"name": "o", "address": origin.address}], http={"max_header_size": 4096, "max_headers": 10}
    )
    fastlb(config)
    port = frontend_port(config)
    big = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"x" * 5000 + b"\r\n\r\n"
    assert request(port, big).startswith(b"HTTP/1.1 431")
    many = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(12)) + b"\r\n"
    assert request(port, many).startswith(b"HTTP/1.1 431")
    assert seen(origin) == []


def test_502_503_504(
    backend: Callable[..., TcpServer], fastlb: Start, refused_address: str
) -> None:
    get = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    config = http_config([{"name": "dead", "address": refused_address}])
    proxy = fastlb(config)
    assert request(frontend_port(config), get).startswith(b"HTTP/1.1 502")
    proxy.api("PUT", "/api/backends/web/servers/dead", {"state": "maint"})
    assert request(frontend_port(config), get).startswith(b"HTTP/1.1 503")

    silent_stop = threading.Event()

    def silent(conn: socket.socket, server: TcpServer) -> None:
        silent_stop.wait(10)

    mute = backend(silent, "mute")
    config = http_config(
        [{"name": "mute", "address": mute.address}], backend_http={"response_timeout": "300ms"}
    )
    fastlb(config)
    assert request(frontend_port(config), get).startswith(b"HTTP/1.1 504")
    silent_stop.set()


def test_a_server_closing_before_answering_is_502_for_a_post(
    backend: Callable[..., TcpServer], fastlb: Start
) -> None:
    def rude(conn: socket.socket, server: TcpServer) -> None:
        conn.recv(65536)

    origin = backend(rude, "rude")
    config = http_config([{"name": "r", "address": origin.address}])
    fastlb(config)
    answer = request(frontend_port(config), b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    assert answer.startswith(b"HTTP/1.1 502")
