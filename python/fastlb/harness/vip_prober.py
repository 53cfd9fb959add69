"""The client of a virtual-IP topology (vrrp_pair, bgp_fleet): a request through the virtual IP
every 20 ms from the client namespace, each on a new connection with a short timeout. Who
answered and when is kept; the longest stretch without an answer is the outage a failover
caused, which the tests bound and `bench.failover` / `bench.scaleout` report.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from fastlb.harness.background import BackgroundLoop
from fastlb.harness.netns import Lab
from fastlb.harness.waiting import wait_for

# One request per connection, so that each probe asks the network anew where the VIP is.
INTERVAL = 0.02


class VipProber(BackgroundLoop):
    """`ask(timeout)` from the lab's `client` host every INTERVAL: it returns who answered, or
    None when the request failed; `answers` keeps (time, who), `failures` the start times of
    the failed requests."""

    def __init__(
        self, lab: Lab, vip: str, ask: Callable[[float], str | None], timeout: float = 0.2
    ) -> None:
        super().__init__("prober")
        self._lab = lab
        self._ask = ask
        self.vip = vip
        self.timeout = timeout
        self.answers: list[tuple[float, str]] = []
        self.failures: list[float] = []

    def run(self, worker: int) -> None:
        self._lab.enter("client")
        while not self.stopping:
            started = time.monotonic()
            who = self._ask(self.timeout)
            if who is None:
                self.failures.append(started)
            else:
                self.answers.append((time.monotonic(), who))
            self.pause(INTERVAL - (time.monotonic() - started))

    @property
    def successes(self) -> list[float]:
        """When each answer arrived."""
        return [at for at, _ in self.answers]

    def wait_answers(self, count: int, timeout: float) -> None:
        """Until `count` more requests have succeeded."""
        target = len(self.answers) + count
        wait_for(lambda: len(self.answers) >= target, timeout, f"{count} answers via {self.vip}")

    def outage(self) -> float:
        """The longest time between two consecutive answers, in seconds."""
        return max((b - a for a, b in itertools.pairwise(self.successes)), default=0.0)
