"""Operator states and percent weights through the HTTP API, with real backends: a drained
(or maintenance) server keeps its established connections and takes no new ones; `ready`
brings it back; `"50%"` halves a weight and the round robin follows."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from .clients import ask_name, connect, echo_roundtrip, recv_line
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo
from .traffic import api_ok, server_stats

pytestmark = pytest.mark.timeout(60)


def connection_to(port: int, server: str, tries: int = 8) -> tuple[socket.socket, list[str]]:
    """Opens connections until one is answered by `server`; returns it (kept open) and the
    names that answered the others (closed)."""
    others: list[str] = []
    for _ in range(tries):
        sock = connect(port)
        name = recv_line(sock).decode()
        if name == server:
            return sock, others
        sock.close()
        others.append(name)
    raise AssertionError(f"no connection reached {server} in {tries} tries: {others}")


@pytest.mark.parametrize("state", ["drain", "maint"])
def test_drained_server_keeps_established_connections_and_takes_no_new_ones(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    state: str,
) -> None:
    servers = {name: backend(named_echo(name), name) for name in ("a", "b")}
    config = make_config(
        [{"name": n, "address": s.address, "weight": 1} for n, s in servers.items()]
    )
    lb = fastlb(config)
    port = frontend_port(config)

    established, _ = connection_to(port, "b")
    with established:
        echo_roundtrip(established, b"before\n")

        view = api_ok(lb, "PUT", "/api/backends/web/servers/b", {"state": state})
        assert view["state"] == state, view
        assert view["status"] == state.upper(), view
        assert view["active"] is False, view

        # The established connection carries on, both ways, with bytes sent after the change.
        echo_roundtrip(established, b"after the state change\n")
        assert Counter(ask_name(port) for _ in range(12)) == {"a": 12}
        echo_roundtrip(established, b"still there\n" * 100)

        stats = server_stats(lb, "b")
        assert stats["status"] == state.upper(), stats
        assert stats["state"] == state, stats
        assert stats["current_connections"] == 1, stats
        accepted_while_out = servers["b"].accepted

        view = api_ok(lb, "PUT", "/api/backends/web/servers/b", {"state": "ready"})
        assert view["status"] == "UP", view
        assert Counter(ask_name(port) for _ in range(12)) == {"a": 6, "b": 6}
        echo_roundtrip(established, b"after ready\n")

    # b accepted nothing new while it was out of rotation (the 6 came after `ready`).
    assert servers["b"].accepted == accepted_while_out + 6


def test_percent_weight_halves_and_restores_the_share(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    servers = {name: backend(named_echo(name), name) for name in ("a", "b")}
    config = make_config(
        [
            {"name": "a", "address": servers["a"].address, "weight": 4},
            {"name": "b", "address": servers["b"].address, "weight": 2},
        ]
    )
    lb = fastlb(config)
    port = frontend_port(config)

    # Whole cycles of the smooth weighted round robin: exact shares.
    assert Counter(ask_name(port) for _ in range(12)) == {"a": 8, "b": 4}

    view = api_ok(lb, "PUT", "/api/backends/web/servers/a", {"weight": "50%"})
    assert (view["weight"], view["initial_weight"]) == (2, 4), view
    stats = server_stats(lb, "a")
    assert (stats["weight"], stats["initial_weight"]) == (2, 4), stats
    assert Counter(ask_name(port) for _ in range(12)) == {"a": 6, "b": 6}

    # Percentages are of the configured weight, not of the current one.
    view = api_ok(lb, "PUT", "/api/backends/web/servers/a", {"weight": "100%"})
    assert view["weight"] == 4, view
    assert Counter(ask_name(port) for _ in range(12)) == {"a": 8, "b": 4}

    view = api_ok(lb, "PUT", "/api/backends/web/servers/b", {"weight": "50%"})
    assert view["weight"] == 1, view
    assert Counter(ask_name(port) for _ in range(10)) == {"a": 8, "b": 2}
