"""Abrupt and hostile clients (resets, garbage, oversized, truncated, slow) must not hurt
anybody else, nor leave descriptors behind."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from .clients import (
    abort,
    ask_name,
    connect,
    echo_roundtrip,
    open_descriptors,
    recv_line,
    wait_for_close,
    wait_until,
)
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(60)

BURST_THREADS = 4
PER_THREAD = 100


def hostile_burst(port: int, seed: int) -> None:
    """PER_THREAD clients in a row: reset at once, garbage then reset, or a plain early close."""
    rng = random.Random(seed)
    for i in range(PER_THREAD):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue  # a hostile client that could not even connect is no concern here
        try:
            kind = i % 3
            if kind == 1:
                sock.sendall(rng.randbytes(rng.randrange(1, 8192)))
            if kind == 2:
                sock.close()
            else:
                abort(sock)
        except OSError:
            sock.close()


def test_burst_of_resetting_clients_does_not_hurt_others(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    servers = [backend(named_echo(f"s{i}"), f"s{i}") for i in range(2)]
    config = make_config(
        [{"name": s.name, "address": s.address, "weight": 1} for s in servers], splice=splice
    )
    lb = fastlb(config)
    port = frontend_port(config)

    with connect(port) as steady:
        recv_line(steady)
        echo_roundtrip(steady, b"before the burst\n")

        threads = [
            threading.Thread(target=hostile_burst, args=(port, seed))
            for seed in range(BURST_THREADS)
        ]
        for thread in threads:
            thread.start()
        # The long-lived connection keeps working while the burst is on.
        for i in range(20):
            echo_roundtrip(steady, f"during the burst {i}\n".encode())
        for thread in threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "hostile clients hung"

        echo_roundtrip(steady, b"after the burst\n" * 100)
        # New connections work afterwards, on every server.
        assert {ask_name(port) for _ in range(10)} == {"s0", "s1"}

    def drained() -> dict[str, Any] | None:
        stats = lb.stats()
        frontend = stats["frontends"]["web"]
        backend_stats = stats["backends"]["web"]
        counts = [frontend["current_connections"], backend_stats["current_connections"]]
        counts += [s["current_connections"] for s in backend_stats["servers"].values()]
        return stats if not any(counts) else None

    stats = wait_until(drained, timeout=10)
    assert stats, f"connections still counted as current: {lb.stats()}"
    # Every accepted connection was counted once, including the hostile ones.
    assert stats["frontends"]["web"]["total_connections"] >= 1 + 10
    assert lb.alive()


def test_garbage_oversized_truncated_and_slow_clients_leave_no_descriptor_behind(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    server = backend(named_echo("s0"), "s0")
    config = make_config(
        [{"name": "s0", "address": server.address, "weight": 1}],
        splice="never",
        idle_timeout="1s",
    )
    lb = fastlb(config)
    port = frontend_port(config)
    baseline = open_descriptors(lb.pid)
    rng = random.Random(7)

    with connect(port) as steady:
        recv_line(steady)
        slow = [connect(port) for _ in range(10)]
        for i in range(30):
            with connect(port) as sock:
                if i % 3 == 0:  # garbage, then gone
                    sock.sendall(rng.randbytes(4096))
                elif i % 3 == 1:  # oversized: 4 MiB it never reads back, then a reset
                    sock.settimeout(0.2)
                    with contextlib.suppress(OSError):
                        sock.sendall(rng.randbytes(4 << 20))
                    abort(sock)
                else:  # truncated: half a message and a half-close
                    sock.sendall(b"\x00\x01partial")
                    sock.shutdown(socket.SHUT_WR)
            # Slow-loris: a byte now and then, never enough to matter, until they stop.
            if i % 10 == 0:
                for sock in slow:
                    with contextlib.suppress(OSError):
                        sock.sendall(b".")
            echo_roundtrip(steady, f"still served {i}\n".encode())
        # Keep `steady` busy past the idle timeout of the silent slow clients.
        for i in range(8):
            time.sleep(0.25)
            echo_roundtrip(steady, f"after {i}\n".encode())
        closed = [wait_for_close(sock, timeout=5) for sock in slow]
        assert set(closed) <= {"eof", "reset"}, closed
        for sock in slow:
            sock.close()

    assert wait_until(lambda: open_descriptors(lb.pid) <= baseline, timeout=10), (
        f"{open_descriptors(lb.pid)} descriptors open, {baseline} before"
    )
    assert lb.stats()["frontends"]["web"]["current_connections"] == 0
    assert lb.alive()
