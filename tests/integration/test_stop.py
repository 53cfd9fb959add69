"""Graceful stop of `fastlb serve` on SIGTERM: refuse new, finish established, exit 0."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from typing import Any

import pytest

from .clients import connect, echo_roundtrip, recv_line, wait_for_close, wait_until
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(60)


def refuses_connections(port: int) -> bool:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    sock.close()
    return False


def test_sigterm_drains_established_connections_then_exits_0(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}], splice=splice)
    config["drain_timeout"] = "30s"
    lb = fastlb(config)
    port = frontend_port(config)

    with connect(port) as established:
        assert recv_line(established) == b"s1"
        echo_roundtrip(established, b"before the signal\n")

        lb.terminate()

        assert wait_until(lambda: refuses_connections(port), timeout=5), (
            "new connections still accepted 5s after SIGTERM"
        )
        # Mid-conversation: the established connection keeps working in both directions.
        for i in range(5):
            echo_roundtrip(established, f"after the signal {i}\n".encode() * 1000)
        assert lb.alive(), f"fastlb exited with an established connection open:\n{lb.log()}"

    # Once it closes, nothing is left to drain.
    assert lb.wait(timeout=10) == 0, lb.log()


def test_drain_timeout_cuts_connections_that_never_close(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}], splice=splice)
    config["drain_timeout"] = "1s"
    lb = fastlb(config)

    with connect(frontend_port(config)) as lingering:
        assert recv_line(lingering) == b"s1"
        echo_roundtrip(lingering, b"hello\n")

        lb.terminate()

        assert wait_for_close(lingering, timeout=10) in {"eof", "reset"}, (
            "connection still open 10s after SIGTERM with drain_timeout 1s"
        )
        assert lb.wait(timeout=10) == 0, lb.log()


def test_sigint_stops_gracefully_too(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}])
    lb = fastlb(config)
    port = frontend_port(config)

    with connect(port) as established:
        assert recv_line(established) == b"s1"
        lb.popen.send_signal(signal.SIGINT)
        assert wait_until(lambda: refuses_connections(port), timeout=5), (
            "new connections still accepted 5s after SIGINT"
        )
        echo_roundtrip(established, b"after SIGINT\n")
        assert lb.alive(), f"fastlb exited with an established connection open:\n{lb.log()}"

    assert lb.wait(timeout=10) == 0, lb.log()
