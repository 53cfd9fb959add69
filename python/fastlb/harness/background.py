"""Work that runs in threads beside a test or a benchmark until it is told to stop: a load, a
prober, a sampler.

    class Sampler(BackgroundLoop):
        def run(self, worker: int) -> None:
            while not self.pause(0.05):
                self.samples.append(read())

    with Sampler("samples") as sampler:   # the threads start here
        ...                               # and are stopped and joined here

A subclass writes only its loop; starting, the stop signal and joining are here once, so that
every loop stops at the end of its `with` block, also when the test fails inside it.
"""

from __future__ import annotations

import threading
from typing import Self


class BackgroundLoop:
    """`threads` daemon threads each running `run(worker)` (worker = 0, 1, ...) from
    `__enter__` until `stop()` (called by `__exit__`). `run` loops until `stopping` is true,
    waiting with `pause()`, which returns early, with True, once stop was asked."""

    def __init__(self, name: str, *, threads: int = 1, join_timeout: float = 5.0) -> None:
        self.join_timeout = join_timeout
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.run, args=(worker,), name=f"{name}-{worker}", daemon=True)
            for worker in range(threads)
        ]

    def run(self, worker: int) -> None:
        """The loop of one thread; subclasses write it."""
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def alive(self) -> bool:
        """Whether any of the threads still runs (after `stop()`: one that outlived its join)."""
        return any(thread.is_alive() for thread in self._threads)

    def pause(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when stop was asked (then at once)."""
        return self._stop.wait(max(0.0, seconds))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask every thread to stop and wait up to `join_timeout` for each (a thread blocked
        in a call finishes that call first)."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(self.join_timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
