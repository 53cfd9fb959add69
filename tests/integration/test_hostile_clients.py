"""Abrupt and hostile clients in a burst must not hurt anybody else."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from .clients import abort, ask_name, connect, echo_roundtrip, recv_line, wait_until
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
