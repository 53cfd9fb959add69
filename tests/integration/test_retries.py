"""A server that refuses connections: clients never notice, the stats do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from .clients import connect, echo_roundtrip, recv_line, wait_until
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

    answered = Counter()
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
