"""A server that refuses connections: clients never notice, the stats do."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .clients import connect, echo_roundtrip, recv_line, wait_for_close, wait_until
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(60)


def test_refusing_server_is_retried_and_counted(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    refused_address: str,
) -> None:
    good1 = backend(named_echo("good1"), "good1")
    good2 = backend(named_echo("good2"), "good2")
    config = make_config(
        [
            {"name": "good1", "address": good1.address, "weight": 1},
            {"name": "dead", "address": refused_address, "weight": 1},
            {"name": "good2", "address": good2.address, "weight": 1},
        ],
        retries=3,
    )
    lb = fastlb(config)
    port = frontend_port(config)

    answered: Counter[str] = Counter()
    for i in range(30):
        with connect(port) as sock:
            name = recv_line(sock).decode()
            echo_roundtrip(sock, f"request {i}\n".encode())
        answered[name] += 1

    # Every client was served, by a server that works, and both working servers took part.
    assert sum(answered.values()) == 30
    assert set(answered) == {"good1", "good2"}, answered

    def counted() -> dict[str, Any] | None:
        stats = lb.stats()
        return stats if stats["backends"]["web"]["servers"]["dead"]["retries"] > 0 else None

    # Picks do land on the dead server (one in three of the schedule): its failed connects are
    # counted, and each was retried on another server.
    stats = wait_until(counted, timeout=5) or lb.stats()
    web = stats["backends"]["web"]
    dead = web["servers"]["dead"]
    assert dead["connect_errors"] > 0, dead
    assert dead["retries"] > 0, dead
    assert dead["total_connections"] == 0, dead
    assert web["connect_errors"] > 0, web
    assert web["retries"] > 0, web
    assert web["no_server_errors"] == 0, web
    assert stats["frontends"]["web"]["no_server_errors"] == 0, stats["frontends"]["web"]
    good_totals = sum(web["servers"][n]["total_connections"] for n in ("good1", "good2"))
    assert good_totals == 30, web["servers"]
    assert good1.accepted + good2.accepted == 30


@pytest.fixture
def second_refused_address() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_no_reachable_server_closes_the_client_and_counts_it(
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    refused_address: str,
    second_refused_address: str,
) -> None:
    config = make_config(
        [
            {"name": "dead1", "address": refused_address, "weight": 1},
            {"name": "dead2", "address": second_refused_address, "weight": 1},
        ],
        retries=3,
    )
    lb = fastlb(config)

    with connect(frontend_port(config)) as sock:
        # The client is told (EOF or reset), it is not left hanging.
        assert wait_for_close(sock, timeout=10) in {"eof", "reset"}

    def counted() -> dict[str, Any] | None:
        stats = lb.stats()
        return stats if stats["frontends"]["web"]["no_server_errors"] >= 1 else None

    stats = wait_until(counted, timeout=5) or lb.stats()
    web = stats["backends"]["web"]
    assert stats["frontends"]["web"]["no_server_errors"] == 1, stats["frontends"]["web"]
    assert web["no_server_errors"] == 1, web
    # Both servers were tried: 1 attempt + 3 retries, spread over the two.
    assert web["servers"]["dead1"]["connect_errors"] >= 1, web["servers"]
    assert web["servers"]["dead2"]["connect_errors"] >= 1, web["servers"]
    assert web["connect_errors"] == 4, web
    # Every failure but the last was retried.
    assert web["retries"] == 3, web
    assert web["current_connections"] == 0, web
    assert stats["frontends"]["web"]["current_connections"] == 0, stats["frontends"]["web"]
    assert lb.alive()


@pytest.fixture
def blackhole_address() -> Iterator[str]:
    """`127.0.0.1:PORT` where a connect neither succeeds nor fails: a listener with a full
    accept queue (backlog 0, one connection never accepted), so the kernel drops new SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname(), timeout=5)
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        filler.close()
        listener.close()


def test_connect_timeout_moves_on_to_another_server(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    blackhole_address: str,
) -> None:
    good = backend(named_echo("good"), "good")
    config = make_config(
        [
            {"name": "silent", "address": blackhole_address, "weight": 1},
            {"name": "good", "address": good.address, "weight": 1},
        ],
        retries=3,
    )
    config["backends"][0]["connect_timeout"] = "300ms"
    lb = fastlb(config)
    port = frontend_port(config)

    # Each client is served by the good server, after at most one connect timeout.
    for i in range(6):
        with connect(port, timeout=10) as sock:
            assert recv_line(sock) == b"good", i
            echo_roundtrip(sock, f"request {i}\n".encode())

    servers = lb.stats()["backends"]["web"]["servers"]
    assert servers["silent"]["connect_errors"] >= 1, servers["silent"]
    assert servers["silent"]["retries"] >= 1, servers["silent"]
    assert servers["silent"]["total_connections"] == 0, servers["silent"]
    assert servers["good"]["total_connections"] == 6, servers["good"]
