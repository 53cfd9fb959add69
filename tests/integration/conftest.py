"""Fixtures for the data-path integration tests: real backends, real `fastlb serve`."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fastlb.harness.backends.echo_process import BackendPool, BackendProcess
from fastlb.harness.backends.tcp import Handler, TcpServer
from fastlb.harness.process import FastlbProcess

SPLICE_MODES = ["never", "always", "auto"]


@pytest.fixture(params=SPLICE_MODES)
def splice(request: pytest.FixtureRequest) -> str:
    """Every relay test runs once per `splice` mode."""
    return str(request.param)


@pytest.fixture
def backend() -> Iterator[Callable[..., TcpServer]]:
    """Factory: `backend(handler, name="", host="127.0.0.1")` starts a real TCP server; all
    are closed at teardown."""
    started: list[TcpServer] = []

    def start(handler: Handler, name: str = "", host: str = "127.0.0.1") -> TcpServer:
        server = TcpServer(handler, name, host)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def fastlb(tmp_path: Path) -> Iterator[Callable[..., FastlbProcess]]:
    """Factory: `fastlb(config, open_files=None, hard_open_files=False)` starts
    `fastlb serve -c` and waits until it listens. At teardown the process is killed if still
    alive and its log is printed (shown when the test fails)."""
    started: list[FastlbProcess] = []

    def start(
        config: dict[str, Any], open_files: int | None = None, hard_open_files: bool = False
    ) -> FastlbProcess:
        workdir = tmp_path / f"fastlb{len(started)}"
        workdir.mkdir()
        process = FastlbProcess(
            config, workdir, open_files=open_files, hard_open_files=hard_open_files
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.close()
        print(f"--- fastlb serve log ({process.log_path}) ---\n{process.log()}")


@pytest.fixture
def refused_address() -> Iterator[str]:
    """`127.0.0.1:PORT` where connections are refused: a bound socket that never listens (the
    port stays reserved for the test, so nothing else can start listening there)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def backend_process() -> Iterator[Callable[[str], BackendProcess]]:
    """Factory: `backend_process(name)` starts a killable backend process on a free port."""
    pool = BackendPool()
    yield pool.start
    pool.close()
