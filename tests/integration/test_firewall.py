"""The firewall at accept: source ACLs (127.0.0.1 vs 127.0.0.2 on loopback), per-source
connection and rate limits, and the global max_connections' back-pressure."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from .clients import echo_roundtrip, recv_line, wait_until
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(60)

Fastlb = Callable[..., FastlbProcess]


def connect_from(source: str, port: int, timeout: float = 10.0) -> socket.socket:
    """A connection to 127.0.0.1:port from the loopback address `source`."""
    return socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    )


def attempt(source: str, port: int) -> str:
    """One connection from `source`: "served", or how it was refused (a reset can arrive
    before connect() even returns, on loopback)."""
    try:
        sock = connect_from(source, port)
    except ConnectionResetError:
        return "reset"
    with sock:
        return outcome(sock)


def outcome(sock: socket.socket) -> str:
    """ "served" (the backend's greeting came), or how the connection was refused."""
    try:
        line = recv_line(sock)
    except ConnectionResetError:
        return "reset"
    except ConnectionError:
        return "eof"
    except TimeoutError:
        return "open"
    return "served" if line else "empty"


def start(
    backend: Callable[..., TcpServer], fastlb: Fastlb, **frontend: Any
) -> tuple[TcpServer, FastlbProcess, int]:
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}], **frontend)
    return server, fastlb(config), frontend_port(config)


def refused(lb: FastlbProcess) -> dict[str, int]:
    return dict(lb.stats()["frontends"]["web"]["refused_connections"])


def test_acl_allows_and_denies_by_source_address(
    backend: Callable[..., TcpServer], fastlb: Fastlb
) -> None:
    server, lb, port = start(
        backend, fastlb, acl={"allow": ["127.0.0.0/24"], "deny": ["127.0.0.2"]}
    )
    with connect_from("127.0.0.1", port) as allowed:
        assert outcome(allowed) == "served"
        assert attempt("127.0.0.2", port) in {"reset", "eof"}
        assert attempt("127.0.1.1", port) in {"reset", "eof"}
        echo_roundtrip(allowed, b"the allowed client carries on\n")
    assert server.accepted == 1, "a refused client must never reach a backend"
    assert refused(lb) == {"acl": 2, "source_connections": 0, "source_rate": 0}
    metrics = lb.api("GET", "/metrics")[1]
    assert 'fastlb_frontend_refused_connections_total{proxy="web",reason="acl"} 2.0' in metrics


def test_max_connections_per_source(backend: Callable[..., TcpServer], fastlb: Fastlb) -> None:
    _, lb, port = start(backend, fastlb, max_connections_per_source=2)
    first, second = connect_from("127.0.0.1", port), connect_from("127.0.0.1", port)
    with first, second:
        assert (outcome(first), outcome(second)) == ("served", "served")
        assert attempt("127.0.0.1", port) in {"reset", "eof"}
        assert attempt("127.0.0.3", port) == "served"
    # Both closed: once fastlb has seen them go (asynchronously), the source has room again.
    assert wait_until(lambda: lb.stats()["frontends"]["web"]["current_connections"] == 0, 5)
    assert attempt("127.0.0.1", port) == "served"
    assert refused(lb)["source_connections"] == 1


def test_connection_rate_per_source(backend: Callable[..., TcpServer], fastlb: Fastlb) -> None:
    _, lb, port = start(
        backend, fastlb, connection_rate_per_source={"connections": 3, "window": "1s"}
    )
    results = [attempt("127.0.0.1", port) for _ in range(4)]
    assert results[:3] == ["served"] * 3
    assert results[3] in {"reset", "eof"}
    assert attempt("127.0.0.4", port) == "served"
    time.sleep(2.2)  # two windows: the history has faded
    assert attempt("127.0.0.1", port) == "served"
    assert refused(lb)["source_rate"] == 1


def test_global_max_connections_pauses_accepting_instead_of_refusing(
    backend: Callable[..., TcpServer], fastlb: Fastlb
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}])
    config["max_connections"] = 2
    lb = fastlb(config)
    port = frontend_port(config)

    first, second = connect_from("127.0.0.1", port), connect_from("127.0.0.1", port)
    with first, second:
        assert (outcome(first), outcome(second)) == ("served", "served")
        # The third waits in the kernel's accept queue: not refused, not served yet.
        with connect_from("127.0.0.1", port, timeout=1.0) as third:
            assert outcome(third) == "open"
            stats = lb.stats()
            assert stats["global"]["current_connections"] == 2
            assert stats["global"]["max_connections"] == 2
            assert stats["global"]["accept_pauses"] >= 1
            first.close()
            third.settimeout(10)
            assert outcome(third) == "served", "served as soon as a connection ended"
            echo_roundtrip(second, b"the others never noticed\n")
    assert lb.stats()["frontends"]["web"]["rejected_connections"] == 0
