"""What the failover machinery did, for people: a bounded list of events (/api/stats
`mysql_topology.<backend>.events`), the log, and the counters /metrics exports."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Event", "EventKind", "EventLog"]

log = logging.getLogger("fastlb.mysql.failover")

EventKind = Literal[
    "failover_started",
    "promoted",
    "switchover_started",
    "switchover_failed",
    "failover_failed",
    "fenced",
    "rejoined",
    "diverged",
]

# Enough for a person to see the last few incidents, bounded so that a flapping server can't
# grow the stats without limit.
MAX_EVENTS = 100

_WARNINGS = frozenset({"failover_started", "switchover_failed", "failover_failed", "diverged"})


@dataclass(frozen=True)
class Event:
    kind: EventKind
    #: Wall-clock time (UNIX seconds).
    at: float
    server: str | None
    message: str
    #: The GTID position that matters to the event (the promoted server's, the old
    #: primary's...), when known.
    gtid: str | None = None


class EventLog:
    """Thread-safe: written on the monitor's loop, read by the API's."""

    def __init__(self, backend: str, on_record: Callable[[Event], None] | None = None) -> None:
        self.backend = backend
        #: Told of every event as it is recorded (the `notify` command); must not block.
        self.on_record = on_record
        self._events: collections.deque[Event] = collections.deque(maxlen=MAX_EVENTS)
        self._lock = threading.Lock()
        self.failovers_total = 0
        self.switchovers_total = 0
        #: Seconds writes could not be served: failover outages (detection to promotion)
        #: plus switchover holds.
        self.write_unavailable_seconds = 0.0

    def record(
        self, kind: EventKind, server: str | None, message: str, gtid: str | None = None
    ) -> Event:
        event = Event(kind, time.time(), server, message, gtid)
        with self._lock:
            self._events.append(event)
        level = logging.WARNING if kind in _WARNINGS else logging.INFO
        log.log(level, "mysql %s: %s: %s", self.backend, kind, message)
        if self.on_record is not None:
            try:
                self.on_record(event)
            except Exception:
                # Telling someone must never stop the failover that is being told about.
                log.exception("mysql %s: event listener failed on %s", self.backend, kind)
        return event

    def add_outage(self, seconds: float, *, failover: bool) -> None:
        with self._lock:
            self.write_unavailable_seconds += max(0.0, seconds)
            if failover:
                self.failovers_total += 1
            else:
                self.switchovers_total += 1

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "events": [asdict(event) for event in self._events],
                "failovers_total": self.failovers_total,
                "switchovers_total": self.switchovers_total,
                "write_unavailable_seconds": self.write_unavailable_seconds,
            }
