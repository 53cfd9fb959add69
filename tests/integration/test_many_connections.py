"""Many simultaneous connections under an ordinary open-files limit."""

from __future__ import annotations

import contextlib
import os
import socket
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from .clients import connect, echo_roundtrip, recv_line, wait_until
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(90)

CONNECTIONS = 400
# The soft limit most Linux distributions and service managers start processes with.
SOFT_OPEN_FILES = 1024


def test_hundreds_of_simultaneous_connections_with_1024_open_files(
    backend: Callable[..., TcpServer],
    fastlb: Callable[..., FastlbProcess],
    splice: str,
) -> None:
    """400 connections need 800 sockets in fastlb, under a 1024 soft limit: every one is
    served and relays both ways, whatever else (pipes) fastlb would like to open."""
    servers = [backend(named_echo(f"s{i}"), f"s{i}") for i in range(2)]
    config = make_config(
        [{"name": s.name, "address": s.address, "weight": 1} for s in servers], splice=splice
    )
    lb = fastlb(config, open_files=SOFT_OPEN_FILES)
    port = frontend_port(config)

    with contextlib.ExitStack() as stack:
        clients: list[socket.socket] = []
        names: Counter[str] = Counter()
        for i in range(CONNECTIONS):
            sock = stack.enter_context(connect(port))
            try:
                names[recv_line(sock).decode()] += 1
            except (TimeoutError, ConnectionError) as error:
                message = f"connection {i} of {CONNECTIONS} not served: {error!r}"
                raise AssertionError(message) from error
            clients.append(sock)
        assert names == {"s0": CONNECTIONS // 2, "s1": CONNECTIONS // 2}
        # Every one of them relays, in both directions, with all of them open.
        payload = bytes(range(256)) * 256
        for sock in clients:
            echo_roundtrip(sock, payload)
        assert lb.stats()["frontends"]["web"]["current_connections"] == CONNECTIONS

    def drained() -> bool:
        return bool(lb.stats()["frontends"]["web"]["current_connections"] == 0)

    assert wait_until(drained, timeout=10), lb.stats()["frontends"]["web"]


def _pipe_descriptors(pid: int) -> int:
    fd_dir = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fd_dir.iterdir():
        with contextlib.suppress(FileNotFoundError):
            count += os.readlink(fd).startswith("pipe:")
    return count


def test_idle_connections_hold_no_pipes(
    backend: Callable[..., TcpServer],
    fastlb: Callable[..., FastlbProcess],
) -> None:
    """With `splice: always`, 100 connections that each moved data and then went idle own
    no pipe: pipes are taken while bytes flow and given back (a pipe is 2 descriptors, so
    holding them would take 400 descriptors here)."""
    server = backend(named_echo("s0"), "s0")
    config = make_config([{"name": "s0", "address": server.address, "weight": 1}], splice="always")
    lb = fastlb(config)
    assert lb.proc is not None
    pid = lb.proc.pid
    port = frontend_port(config)
    baseline = _pipe_descriptors(pid)
    with contextlib.ExitStack() as stack:
        for _ in range(100):
            sock = stack.enter_context(connect(port))
            recv_line(sock)
            echo_roundtrip(sock, bytes(range(256)) * 1024)
        assert lb.stats()["frontends"]["web"]["current_connections"] == 100
        # What remains are the pool's spare pipes: a few, not one per connection.
        assert _pipe_descriptors(pid) - baseline <= 16
