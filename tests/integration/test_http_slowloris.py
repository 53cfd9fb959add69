"""Slowloris at scale on a `mode: http` frontend: 50 clients trickle header fields (each
within the gap a per-read timeout would allow) while ordinary keep-alive clients are served
throughout; every slow one gets 408 once `request_timeout` (a deadline on the whole head,
HAProxy's `timeout http-request`) has passed, and none of them reached the server."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from .http_backends import http_config, read_response
from .proc import FastlbProcess, frontend_port
from .servers import TcpServer
from .test_http_errors import recording_origin, seen

Start = Callable[[dict[str, Any]], FastlbProcess]

pytestmark = pytest.mark.timeout(60)

SLOW_CLIENTS = 50
REQUEST_TIMEOUT = 1.5


def normal_client(port: int, stop: threading.Event, served: list[int], errors: list[str]) -> None:
    """Keep-alive GETs until `stop`; counts answers, records anything but a 200."""
    count = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            buffer = bytearray()
            while not stop.is_set() and count < 100_000:
                sock.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
                response = read_response(sock, buffer)
                if response.status != 200:
                    errors.append(f"status {response.status}")
                    return
                count += 1
    except OSError as error:
        errors.append(repr(error))
    finally:
        served.append(count)


def test_fifty_slowloris_clients_get_408_while_others_are_served(
    backend: Callable[..., TcpServer], fastlb: Start
) -> None:
    origin = backend(recording_origin, "origin")
    config = http_config(
        [{"name": "o", "address": origin.address}],
        workers=2,
        http={"request_timeout": f"{int(REQUEST_TIMEOUT * 1000)}ms"},
    )
    proxy = fastlb(config)
    port = frontend_port(config)

    slow = []
    first_opened = time.monotonic()
    for _ in range(SLOW_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n")
        slow.append(sock)
    opened = time.monotonic()

    stop = threading.Event()
    served: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=normal_client, args=(port, stop, served, errors)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    try:
        # Trickle one field per client every 200 ms for longer than request_timeout.
        while time.monotonic() - opened < REQUEST_TIMEOUT - 0.3:
            for sock in slow:
                sock.sendall(b"X-Trickle: 1\r\n")
            # Nothing comes back before the deadline: trickling bytes does not extend it,
            # and a slow client is not cut off early either.
            readable, _, _ = select.select(slow, [], [], 0.2)
            if time.monotonic() < first_opened + REQUEST_TIMEOUT - 0.1:
                assert readable == [], "answered before request_timeout"
        statuses: list[int | str] = []
        for sock in slow:
            try:
                statuses.append(read_response(sock, bytearray()).status)
            except OSError as error:
                statuses.append(repr(error))
        waited = time.monotonic() - opened
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for sock in slow:
            sock.close()

    assert statuses == [408] * SLOW_CLIENTS, statuses
    # No 408 before the deadline (a little scheduling slack for the last answers).
    assert waited >= REQUEST_TIMEOUT - 0.05, waited
    assert errors == [], errors
    assert len(served) == 3 and all(count > 0 for count in served), served
    # Only the ordinary requests reached the server.
    assert set(seen(origin)) == {b"GET /fast HTTP/1.1"}
    stats = proxy.stats()["frontends"]["web"]["http"]
    assert stats["request_timeouts"] == SLOW_CLIENTS, stats
    assert stats["responses"]["4xx"] == SLOW_CLIENTS, stats
