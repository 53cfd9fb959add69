"""fastlb.harness.background.BackgroundLoop: the threads run while the `with` block does, and
stop and are joined at its end, also when the block raises."""

from __future__ import annotations

import threading

import pytest

from fastlb.harness.background import BackgroundLoop


class Counter(BackgroundLoop):
    def __init__(self, threads: int) -> None:
        super().__init__("counter", threads=threads)
        self.rounds: dict[int, int] = {}
        self.running = threading.Semaphore(0)

    def run(self, worker: int) -> None:
        self.rounds[worker] = 0
        self.running.release()
        while not self.pause(0.001):
            self.rounds[worker] += 1


def test_every_worker_runs_until_the_block_ends() -> None:
    with Counter(threads=3) as counter:
        for _ in range(3):
            assert counter.running.acquire(timeout=5)
    assert sorted(counter.rounds) == [0, 1, 2]
    assert not counter.alive
    frozen = dict(counter.rounds)
    assert counter.pause(10)  # stopped: returns at once
    assert counter.rounds == frozen


def test_the_threads_stop_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), Counter(threads=1) as counter:
        assert counter.running.acquire(timeout=5)
        raise RuntimeError("the test failed inside the block")
    assert counter.stopping
    assert not counter.alive
