"""Bytes through the relay: large, concurrent and half-closed transfers arrive byte-exact."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from .clients import (
    abort,
    connect,
    echo_roundtrip,
    hash_exact,
    recv_exact,
    recv_line,
    recv_until_eof,
    send_length_prefixed,
    wait_until,
)
from .proc import FastlbProcess, frontend_port, make_config
from .servers import (
    TcpServer,
    echo,
    half_close_first,
    length_prefixed_hash,
    reply_after_eof,
    reset_after,
    source,
)

pytestmark = pytest.mark.timeout(90)

MIB = 1024 * 1024
LARGE = 64 * MIB


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def one_server(backend: Callable[..., TcpServer], handler: Any, splice: str) -> dict[str, Any]:
    server = backend(handler, "s1")
    return make_config([{"name": "s1", "address": server.address, "weight": 1}], splice=splice)


def test_large_upload_is_byte_exact(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    data = random_bytes(LARGE, seed=1)
    config = one_server(backend, length_prefixed_hash, splice)
    fastlb(config)

    with connect(frontend_port(config), timeout=60) as sock:
        send_length_prefixed(sock, data)
        answer = recv_line(sock).decode()

    assert answer == f"{hashlib.sha256(data).hexdigest()} {len(data)}"


def test_large_download_is_byte_exact(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    data = random_bytes(LARGE, seed=2)
    config = one_server(backend, source(data), splice)
    fastlb(config)

    with connect(frontend_port(config), timeout=60) as sock:
        assert hash_exact(sock, len(data)) == hashlib.sha256(data).hexdigest()
        assert recv_until_eof(sock) == b"", "bytes after the end of the server's data"


async def _echo_both_ways_at_once(port: int, data: bytes) -> str:
    """Writes `data` while reading the echo back concurrently; returns the echo's sha256."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:

        async def send() -> None:
            view = memoryview(data)
            for start in range(0, len(view), 64 * 1024):
                writer.write(view[start : start + 64 * 1024])
                await writer.drain()

        async def receive() -> str:
            digest = hashlib.sha256()
            remaining = len(data)
            while remaining:
                chunk = await reader.read(min(256 * 1024, remaining))
                if not chunk:
                    raise ConnectionError(f"EOF with {remaining} of {len(data)} bytes missing")
                digest.update(chunk)
                remaining -= len(chunk)
            return digest.hexdigest()

        _, echoed = await asyncio.gather(send(), receive())
        return echoed
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def test_concurrent_bidirectional_transfers_are_byte_exact(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    servers = [backend(echo, f"e{i}") for i in range(2)]
    config = make_config(
        [{"name": s.name, "address": s.address, "weight": 1} for s in servers], splice=splice
    )
    fastlb(config)
    port = frontend_port(config)
    payloads = [random_bytes(3 * MIB + i * 4099, seed=100 + i) for i in range(32)]

    async def run_all() -> list[str]:
        jobs = [_echo_both_ways_at_once(port, p) for p in payloads]
        return await asyncio.wait_for(asyncio.gather(*jobs), timeout=60)

    echoed = asyncio.run(run_all())

    assert echoed == [hashlib.sha256(p).hexdigest() for p in payloads]
    assert sum(s.accepted for s in servers) == 32


def test_client_half_close_then_server_replies(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    request = random_bytes(3 * MIB, seed=3)
    tail = random_bytes(2 * MIB, seed=4)
    config = one_server(backend, reply_after_eof(tail), splice)
    fastlb(config)

    with connect(frontend_port(config)) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        # The backend answers only once it has read our EOF through fastlb.
        header = recv_line(sock).decode()
        assert header == f"{hashlib.sha256(request).hexdigest()} {len(request)}"
        assert recv_exact(sock, len(tail)) == tail
        assert recv_until_eof(sock) == b""


def test_server_half_close_while_client_still_sends(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    greeting = random_bytes(1 * MIB, seed=5)
    upload = random_bytes(3 * MIB, seed=6)
    server = backend(half_close_first(greeting), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}], splice=splice)
    fastlb(config)

    with connect(frontend_port(config)) as sock:
        # The server's whole side arrives, then its EOF ...
        assert recv_exact(sock, len(greeting)) == greeting
        assert recv_until_eof(sock) == b""
        # ... while ours stays open: what we send now still reaches the server.
        sock.sendall(upload)
        sock.shutdown(socket.SHUT_WR)
        received = server.results.get(timeout=10)
        assert received == (hashlib.sha256(upload).hexdigest(), len(upload))


def _abort_mid_transfer(port: int, blob: bytes) -> None:
    """Pushes `blob` into an echo connection without reading the echo (so both directions
    are full of bytes in flight inside fastlb), then resets."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return
    try:
        sock.settimeout(0.2)
        with contextlib.suppress(OSError):
            sock.sendall(blob)
    finally:
        abort(sock)


def test_aborted_transfers_leave_no_stale_bytes(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    """Connections reset while bytes are in flight (in splice pipes, in buffers) must not
    leak those bytes into later connections."""
    config = one_server(backend, echo, splice)
    fastlb(config)
    port = frontend_port(config)
    poison = b"\xaa" * (4 * MIB)

    for round_ in range(3):
        aborters = [
            threading.Thread(target=_abort_mid_transfer, args=(port, poison)) for _ in range(16)
        ]
        for thread in aborters:
            thread.start()
        for thread in aborters:
            thread.join(timeout=30)
        # Fresh connections afterwards carry exactly their own bytes, both ways.
        for i in range(8):
            data = random_bytes(1 * MIB + i, seed=1000 * round_ + i)
            echoed = asyncio.run(asyncio.wait_for(_echo_both_ways_at_once(port, data), 30))
            assert echoed == hashlib.sha256(data).hexdigest(), (round_, i)
            with connect(port) as sock:
                echo_roundtrip(sock, b"small\n")


def test_server_reset_mid_transfer_ends_the_client_connection(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    """A server that resets mid-stream: the client sees its connection end (not hang), and
    fastlb forgets the connection."""
    data = random_bytes(2 * MIB, seed=7)
    config = one_server(backend, reset_after(data), splice)
    lb = fastlb(config)

    with connect(frontend_port(config)) as sock:
        # Never more than the server sent, then an end: EOF or reset, within a bounded wait.
        received = 0
        ended = None
        while ended is None:
            try:
                chunk = sock.recv(256 * 1024)
            except ConnectionResetError:
                ended = "reset"
            else:
                if not chunk:
                    ended = "eof"
                received += len(chunk)
        assert received <= len(data)

    def forgotten() -> bool:
        return bool(lb.stats()["frontends"]["web"]["current_connections"] == 0)

    assert wait_until(forgotten, timeout=10), lb.stats()["frontends"]["web"]
