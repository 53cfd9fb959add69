"""Continuous client traffic and stats polling for the health, failover, drain and reload tests
(the killable backend processes are fastlb.harness.backends.echo_process)."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Re-exported: the tests import the killable backends from here.
from fastlb.harness.backends.echo_process import BackendPool as BackendPool
from fastlb.harness.backends.echo_process import BackendProcess as BackendProcess
from fastlb.harness.background import BackgroundLoop
from fastlb.harness.process import FastlbProcess
from fastlb.harness.sockets import recv_line

CONNECT_TIMEOUT = 5.0


# --- client side --------------------------------------------------------------------------


def client_first_exchange(sock: socket.socket, seq: int) -> str:
    """One request to a `BackendProcess`: send a line, get the name and the line back."""
    line = f"ping {seq}".encode()
    sock.sendall(line + b"\n")
    name = recv_line(sock).decode()
    echoed = recv_line(sock)
    if echoed != line:
        raise ConnectionError(f"echo mismatch: sent {line!r}, got {echoed!r}")
    return name


def greeting_first_exchange(sock: socket.socket, seq: int) -> str:
    """One request to a `servers.named_echo` backend: read the name, echo a line."""
    name = recv_line(sock).decode()
    line = f"ping {seq}".encode()
    sock.sendall(line + b"\n")
    echoed = recv_line(sock)
    if echoed != line:
        raise ConnectionError(f"echo mismatch: sent {line!r}, got {echoed!r}")
    return name


Exchange = Callable[[socket.socket, int], str]


@dataclass(frozen=True)
class Attempt:
    """One client connection: when it started (before connect) and ended (monotonic
    seconds), and the server that answered or the error."""

    started: float
    ended: float
    server: str | None
    error: str | None


class Traffic(BackgroundLoop):
    """`clients` threads, each opening one short connection every `pause` seconds to
    127.0.0.1:`port`, one request (`exchange`) per connection, every attempt recorded."""

    def __init__(
        self,
        port: int,
        exchange: Exchange = client_first_exchange,
        *,
        clients: int = 2,
        pause: float = 0.02,
    ) -> None:
        super().__init__("traffic", threads=clients, join_timeout=CONNECT_TIMEOUT * 3)
        self.port = port
        self.exchange = exchange
        self.interval = pause
        self._attempts: list[Attempt] = []
        self._lock = threading.Lock()

    def run(self, client: int) -> None:
        seq = 0
        while not self.stopping:
            seq += 1
            started = time.monotonic()
            server: str | None = None
            error: str | None = None
            try:
                with socket.create_connection(
                    ("127.0.0.1", self.port), timeout=CONNECT_TIMEOUT
                ) as sock:
                    server = self.exchange(sock, client * 1_000_000 + seq)
            except (OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._attempts.append(Attempt(started, time.monotonic(), server, error))
            self.pause(self.interval)

    def attempts(
        self, *, started_after: float = 0.0, ended_before: float = float("inf")
    ) -> list[Attempt]:
        with self._lock:
            return [
                a for a in self._attempts if a.started >= started_after and a.ended < ended_before
            ]

    def failures(self, *, started_after: float = 0.0) -> list[Attempt]:
        return [a for a in self.attempts(started_after=started_after) if a.error is not None]

    def served(
        self, *, started_after: float = 0.0, ended_before: float = float("inf")
    ) -> Counter[str]:
        """Successful connections per server."""
        return Counter(
            a.server
            for a in self.attempts(started_after=started_after, ended_before=ended_before)
            if a.server is not None
        )

    def wait_served(
        self, server: str, count: int, *, started_after: float, timeout: float = 10.0
    ) -> Counter[str]:
        """Waits (bounded) until `server` answered `count` connections started after
        `started_after`; returns the per-server counts since then either way."""
        deadline = time.monotonic() + timeout
        while True:
            served = self.served(started_after=started_after)
            if served[server] >= count or time.monotonic() > deadline:
                return served
            time.sleep(0.02)

    def wait_total(
        self, count: int, *, started_after: float, timeout: float = 10.0
    ) -> Counter[str]:
        """Waits (bounded) until `count` connections started after `started_after` ended
        (served or failed); returns the per-server counts of the successful ones."""
        deadline = time.monotonic() + timeout
        while len(self.attempts(started_after=started_after)) < count:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return self.served(started_after=started_after)


# --- stats --------------------------------------------------------------------------------


def server_stats(lb: FastlbProcess, server: str, backend: str = "web") -> dict[str, Any]:
    servers: dict[str, Any] = lb.stats()["backends"][backend]["servers"]
    assert server in servers, f"{server} not in {sorted(servers)}"
    result: dict[str, Any] = servers[server]
    return result


@dataclass(frozen=True)
class Observation:
    """A stats snapshot of one server, taken between `asked` and `answered` (monotonic)."""

    asked: float
    answered: float
    stats: dict[str, Any]


def wait_server(
    lb: FastlbProcess,
    server: str,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float,
    *,
    backend: str = "web",
    what: str = "",
    seen: list[Observation] | None = None,
) -> Observation:
    """Polls `/api/stats` until `predicate(server's stats)` holds; AssertionError with the last
    stats after `timeout`. Every snapshot taken is appended to `seen`."""
    deadline = time.monotonic() + timeout
    while True:
        asked = time.monotonic()
        stats = server_stats(lb, server, backend)
        observation = Observation(asked, time.monotonic(), stats)
        if seen is not None:
            seen.append(observation)
        if predicate(stats):
            return observation
        if observation.answered > deadline:
            raise AssertionError(f"{server}: not {what or predicate} after {timeout}s: {stats}")
        time.sleep(0.03)


def status_is(status: str) -> Callable[[dict[str, Any]], bool]:
    def check(stats: dict[str, Any]) -> bool:
        return bool(stats["status"] == status)

    return check


def health_check(
    type_: str, *, interval: float, fall: int, rise: int, fast_interval: float, **extra: Any
) -> dict[str, Any]:
    """A `health_check` config block (durations in the YAML's `NNNms` form)."""
    return {
        "type": type_,
        "interval": f"{round(interval * 1000)}ms",
        "timeout": "300ms",
        "rise": rise,
        "fall": fall,
        "fast_interval": f"{round(fast_interval * 1000)}ms",
        **extra,
    }


def api_ok(lb: FastlbProcess, method: str, path: str, body: Any = None) -> Any:
    """One API write that must succeed (2xx); returns the decoded body."""
    status, answer = lb.api(method, path, body)
    assert 200 <= status < 300, f"{method} {path} {body!r} -> {status}: {answer!r}"
    return answer
