"""Once a second: RSS, open file descriptors and threads of the fastlb process from /proc, and
its live client connections from its API.

The core does not expose its tokio task count; live connections (`global.current_connections`)
stand in for it: each is a task, and a leaked task would hold its connection's count up. The
pid to sample comes from a callable, because an upgrade replaces the process.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.soak.model import ResourceSample
from fastlb.ctl import ApiError, call_api


def read_status(pid: int) -> tuple[int, int]:
    """(VmRSS in bytes, Threads) from /proc/PID/status."""
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024  # the kernel reports kB
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss, threads


def count_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def live_connections(api_url: str) -> int | None:
    try:
        stats = call_api(api_url, "GET", "/api/stats")
    except ApiError:
        return None  # e.g. in the instant an upgrade hands the API socket over
    return int(stats["global"]["current_connections"])


def sample(pid: int, api_url: str, t: float) -> ResourceSample | None:
    """One sample, or None when the process is gone."""
    try:
        rss, threads = read_status(pid)
        fds = count_fds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return ResourceSample(t, pid, rss, fds, threads, live_connections(api_url))


class Sampler:
    """A thread sampling `current_pid()` every `interval` seconds until `stop()`."""

    def __init__(
        self,
        current_pid: Callable[[], int],
        api_url: str,
        started_at: float,
        interval: float = 1.0,
    ) -> None:
        self.current_pid = current_pid
        self.api_url = api_url
        self.started_at = started_at
        self.interval = interval
        self.samples: list[ResourceSample] = []
        self.missed: list[tuple[float, int]] = []  # (t, pid) when the process was not there
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=10)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            pid = self.current_pid()
            t = time.monotonic() - self.started_at
            taken = sample(pid, self.api_url, t)
            if taken is None:
                self.missed.append((t, pid))
            else:
                self.samples.append(taken)
            # A fixed cadence, not "1 s after the last one": the API call takes time too.
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
