"""Rise/fall hysteresis for the topology monitor: one missed probe must not change the topology.

A server whose probe fails keeps its last good observation until `failcount` probes in a row
have failed — a load spike that delays one probe past its timeout changes nothing. Past that,
a server that live sessions are still using successfully (passive evidence: its statement
counter in the core moved since the last round) keeps it too: a primary answering the
application's writes is not "unavailable" because the monitor's own probe was slow. A server
coming back is believed at once (its fresh observation replaces the kept one).

Pure bookkeeping, no I/O (tests/test_mysql_hysteresis.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from .topology import ServerObservation

__all__ = ["Hysteresis"]


class Hysteresis:
    """Smooths each round's observations (see the module docstring)."""

    def __init__(self, failcount: int = 3) -> None:
        if failcount < 1:
            raise ValueError(f"failcount must be at least 1 (got {failcount})")
        self.failcount = failcount
        #: Failed probes in a row, by server name.
        self.failures: dict[str, int] = {}
        self._last_good: dict[str, ServerObservation] = {}
        self._activity: dict[str, int] = {}

    def smooth(
        self,
        observed: Sequence[ServerObservation],
        activity: Mapping[str, int] | None = None,
    ) -> list[ServerObservation]:
        """The observations the policy decides on. `activity`: each server's count of
        statements served so far (the core's stats), if known."""
        activity = activity or {}
        smoothed = []
        for seen in observed:
            name = seen.name
            count = activity.get(name)
            previous = self._activity.get(name)
            busy = count is not None and previous is not None and count > previous
            if count is not None:
                self._activity[name] = count
            if seen.reachable:
                self.failures[name] = 0
                self._last_good[name] = seen
                smoothed.append(seen)
                continue
            failures = self.failures.get(name, 0) + 1
            self.failures[name] = failures
            kept = self._last_good.get(name)
            if kept is not None and (failures < self.failcount or busy):
                why = "still serving sessions" if failures >= self.failcount else "kept"
                error = f"probe failed ({failures}/{self.failcount}, {why}): {seen.error}"
                seen = dataclasses.replace(kept, error=error, checked_at=seen.checked_at)
            smoothed.append(seen)
        return smoothed
