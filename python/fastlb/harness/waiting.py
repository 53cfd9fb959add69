"""Bounded waits: poll a condition, or a child process's port, never longer than a timeout."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from .ports import listening_ports

T = TypeVar("T")


class ProcessFailed(RuntimeError):
    """A child process exited or never listened; the message carries its log's tail."""


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Polls `predicate()` until it returns something truthy (returned) or `timeout` passes
    (returns the last falsy value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_listening(
    proc: subprocess.Popen[bytes],
    ports: int | Iterable[int],
    log: Path | None = None,
    timeout: float = 30.0,
) -> None:
    """Returns once every port of `ports` is in LISTEN state (no probe connection: see
    ports.listening_ports); ProcessFailed with the tail of `log` when `proc` exits first or
    `timeout` passes."""
    wanted = {ports} if isinstance(ports, int) else set(ports)
    deadline = time.monotonic() + timeout
    while not wanted <= listening_ports():
        if proc.poll() is not None:
            raise ProcessFailed(f"{proc.args!r} exited with {proc.returncode}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise ProcessFailed(
                f"{proc.args!r} did not listen on {sorted(wanted)} in {timeout}s:\n{tail(log)}"
            )
        time.sleep(0.05)


def tail(log: Path | None, lines: int = 30) -> str:
    """The last `lines` lines of a log file, for an error message."""
    if log is None:
        return "(no log)"
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def wait_for(
    condition: Callable[[], object], timeout: float, what: str = "", interval: float = 0.02
) -> float:
    """Polls `condition()` until it is truthy and returns the seconds that took;
    AssertionError naming `what` after `timeout`. The 20 ms default is the resolution of
    times measured with it (a failover's takeover)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what or condition}")
        time.sleep(interval)
    return time.monotonic() - start
