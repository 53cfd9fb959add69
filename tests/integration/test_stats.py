"""Counters that match what the clients actually did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from .clients import connect, echo_large, recv_line, wait_until
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(60)

N = 12


def drive(port: int) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """N sequential connections, each reads the greeting, sends a payload of its own size and
    reads the echo; every fourth payload is large enough to stream (the splice path, also in
    `auto`). Returns per server: connections, bytes client->server, bytes server->client."""
    connections: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    received: Counter[str] = Counter()
    for i in range(N):
        size = 2 * 1024 * 1024 + i if i % 4 == 3 else 1000 * (i + 1) + i
        payload = bytes([i]) * size
        with connect(port) as sock:
            name = recv_line(sock).decode()
            echo_large(sock, payload)
        connections[name] += 1
        sent[name] += len(payload)
        received[name] += len(name) + 1 + len(payload)
    return connections, sent, received


def check(
    stats_of: Callable[[], dict[str, Any]],
    connections: Counter[str],
    sent: Counter[str],
    received: Counter[str],
) -> None:
    def settled() -> dict[str, Any] | None:
        stats = stats_of()
        frontend = stats["frontends"]["web"]
        done = (
            frontend["current_connections"] == 0
            and frontend["bytes_in"] == sent.total()
            and frontend["bytes_out"] == received.total()
        )
        return stats if done else None

    stats = wait_until(settled, timeout=10) or stats_of()
    frontend = stats["frontends"]["web"]
    backend = stats["backends"]["web"]
    servers = backend["servers"]

    assert frontend["total_connections"] == N, frontend
    assert frontend["current_connections"] == 0, frontend
    assert frontend["bytes_in"] == sent.total(), frontend
    assert frontend["bytes_out"] == received.total(), frontend
    assert frontend["rejected_connections"] == 0, frontend
    assert frontend["no_server_errors"] == 0, frontend

    assert backend["total_connections"] == N, backend
    assert backend["current_connections"] == 0, backend
    assert backend["bytes_in"] == sent.total(), backend
    assert backend["bytes_out"] == received.total(), backend
    assert backend["connect_errors"] == 0, backend

    assert sum(s["total_connections"] for s in servers.values()) == N
    assert sum(s["connect_time"]["count"] for s in servers.values()) == N
    for name, server in servers.items():
        assert server["total_connections"] == connections[name], (name, server)
        assert server["current_connections"] == 0, (name, server)
        assert server["bytes_in"] == sent[name], (name, server)
        assert server["bytes_out"] == received[name], (name, server)
        assert server["connect_time"]["count"] == connections[name], (name, server)
        assert server["connect_errors"] == 0, (name, server)


def named_servers(backend: Callable[..., TcpServer]) -> list[dict[str, Any]]:
    servers = []
    for name, weight in {"alpha": 2, "beta": 1}.items():
        server = backend(named_echo(name), name)
        servers.append({"name": name, "address": server.address, "weight": weight})
    return servers


def test_api_stats_match_the_traffic(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    config = make_config(named_servers(backend), splice=splice)
    lb = fastlb(config)

    connections, sent, received = drive(frontend_port(config))

    assert connections == {"alpha": 8, "beta": 4}
    check(lb.stats, connections, sent, received)


def test_embedded_stats_match_the_traffic(backend: Callable[..., TcpServer]) -> None:
    import fastlb

    config = make_config(named_servers(backend), api=False)
    with fastlb.LoadBalancer(config) as lb:
        connections, sent, received = drive(frontend_port(config))
        assert connections == {"alpha": 8, "beta": 4}
        check(lb.stats, connections, sent, received)
