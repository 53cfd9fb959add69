"""Frontend limits: idle timeout, max_connections, running out of file descriptors."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from .clients import (
    connect,
    echo_roundtrip,
    open_descriptors,
    recv_exact,
    recv_line,
    wait_for_close,
    wait_until,
)
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(60)


def test_idle_connection_is_closed_active_one_stays(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config(
        [{"name": "s1", "address": server.address, "weight": 1}],
        splice=splice,
        idle_timeout="1s",
    )
    fastlb(config)
    port = frontend_port(config)

    with connect(port) as idle, connect(port) as active:
        assert recv_line(idle) == b"s1"
        # The last byte the idle connection ever carries just arrived: its idle time starts.
        idle_since = time.monotonic()
        assert recv_line(active) == b"s1"
        idle.setblocking(False)
        idle_closed_after = None

        # A byte every 200 ms on `active` for 2.4 s; meanwhile watch `idle` for its EOF.
        for i in range(12):
            time.sleep(0.2)
            byte = bytes([65 + i])
            active.sendall(byte)
            assert recv_exact(active, 1) == byte, f"active connection broke after {i * 0.2:.1f}s"
            if idle_closed_after is None and select.select([idle], [], [], 0)[0]:
                try:
                    closed = idle.recv(1) == b""
                except ConnectionResetError:
                    closed = True
                assert closed, "unexpected data on the idle connection"
                idle_closed_after = time.monotonic() - idle_since

        if idle_closed_after is None:
            idle.setblocking(True)
            assert wait_for_close(idle, timeout=5) in {"eof", "reset"}, (
                "idle connection still open 7s into a 1s idle_timeout"
            )
        else:
            # Never before the timeout (a slow machine only makes this later, never sooner).
            assert idle_closed_after >= 0.9, idle_closed_after
        echo_roundtrip(active, b"still up\n")


def rejected(sock: socket.socket) -> str:
    """How a connection over the limit ended: "eof"/"reset", "served" or "open" (bounded)."""
    sock.settimeout(5)
    try:
        data = sock.recv(64)
    except TimeoutError:
        return "open"
    except ConnectionResetError:
        return "reset"
    return "served" if data else "eof"


def test_max_connections_rejects_the_one_too_many(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = make_config(
        [{"name": "s1", "address": server.address, "weight": 1}], max_connections=2
    )
    lb = fastlb(config)
    port = frontend_port(config)

    with connect(port) as first, connect(port) as second:
        assert recv_line(first) == b"s1"
        assert recv_line(second) == b"s1"

        try:
            third = connect(port)
        except ConnectionRefusedError:
            outcome = "refused"
        else:
            with third:
                outcome = rejected(third)
        assert outcome in {"refused", "eof", "reset"}, f"3rd connection: {outcome}"

        echo_roundtrip(first, b"first still works\n")
        echo_roundtrip(second, b"second still works\n")
        frontend = lb.stats()["frontends"]["web"]
        assert frontend["rejected_connections"] >= 1, frontend
        assert frontend["current_connections"] == 2, frontend
        assert server.accepted == 2

    # With the two gone there is room again (bounded wait: their close is asynchronous).
    deadline = time.monotonic() + 5
    while True:
        with connect(port) as again:
            outcome = rejected(again)
            if outcome == "served":
                break
        assert time.monotonic() < deadline, f"no room after closing both: {outcome}"
        time.sleep(0.1)


def test_accepting_recovers_after_running_out_of_descriptors(
    backend: Callable[..., TcpServer],
    fastlb: Callable[..., FastlbProcess],
) -> None:
    """With 128 descriptors in all, 150 clients exhaust fastlb (accept or the backend
    connect fails with EMFILE). Once they leave, it serves again: nothing spins, nothing
    leaks, the API answers."""
    server = backend(named_echo("s1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}], splice="never")
    lb = fastlb(config, open_files=128, hard_open_files=True)
    port = frontend_port(config)
    baseline = open_descriptors(lb.pid)

    with contextlib.ExitStack() as stack:
        crowd = [stack.enter_context(connect(port, timeout=2)) for _ in range(150)]
        served = 0
        deadline = time.monotonic() + 20  # bounded, however many wait unanswered
        for sock in crowd:
            sock.settimeout(max(0.01, min(2.0, deadline - time.monotonic())))
            with contextlib.suppress(OSError):
                served += recv_line(sock) == b"s1"
        assert 0 < served < len(crowd), f"{served} of {len(crowd)} served: no pressure?"

    def recovered() -> dict[str, Any] | None:
        try:
            stats = lb.stats()
        except (OSError, ValueError):
            return None  # the API itself may be out of descriptors a moment longer
        frontend = stats["frontends"]["web"]
        return frontend if frontend["current_connections"] == 0 else None

    frontend = wait_until(recovered, timeout=15)
    assert frontend is not None, "connections still open long after every client left"
    assert frontend["accept_errors"] + frontend["resource_errors"] > 0, frontend
    with connect(port) as sock:
        assert recv_line(sock) == b"s1"
        echo_roundtrip(sock, b"served again\n")
    assert wait_until(lambda: open_descriptors(lb.pid) <= baseline + 2, timeout=10), (
        f"{open_descriptors(lb.pid)} descriptors open, {baseline} before"
    )
    assert lb.alive()
