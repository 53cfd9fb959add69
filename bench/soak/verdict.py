"""The soak's pass/fail rule as a pure function of what was recorded (tests/test_soak_verdict.py).

A soak fails when
- the fastlb process's RSS, open file descriptors or threads grew by more than a small bound
  between the start and the end of its steady state (each process judged on its own: an upgrade
  replaces it), or
- a client saw an error it may not see, or
- an operation failed (a reload refused, a weight change not applied, fastlb exited), or
- a traffic class was never served (a soak that carried no traffic proves nothing).

What a client may legitimately see, and only while the backend behind its traffic restarts
(from the stop until `grace_s` after it listens again, time for the health check to notice):
- HTTP: a 502/503/504 from fastlb for a request that was on (or sent to) the stopping server;
  the client's own connection to fastlb stays up;
- bulk TCP: a reset or an early EOF of a stream relayed to the killed server (a TCP proxy
  cannot move a stream to another server), or a broken pipe while sending into it;
- MySQL: fastlb's own 1158 (08S01, server lost during a statement) or 1927 (70100, session
  closed), the codes docs/mysql.md gives for a lost server connection.
An upgrade, a reload or a weight change allows no error at all: the old process of an upgrade
answers each kept-alive client's last request with `Connection: close` (HTTP soft stop), so
no client finds its reused connection closed.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.soak.model import BACKEND_OF_TRAFFIC, ClientError, Operation, ResourceSample

MiB = 1 << 20

ALLOWED_DURING_RESTART: dict[str, frozenset[str]] = {
    "web": frozenset({"status 502", "status 503", "status 504"}),
    "tcp": frozenset({"reset", "eof", "broken pipe"}),
    "mysql": frozenset({"mysql 1158", "mysql 1927"}),
}


@dataclass(frozen=True)
class Bounds:
    """How much growth is "small". A metric's baseline is the median of the first `window`
    samples of the steady state, its end the median of the last `window` (medians, so that
    a burst of connections at either end does not decide)."""

    warmup_s: float  # the first process's steady state starts here
    settle_s: float = 10.0  # ... a process started later (upgrade), this long after its start
    window: int = 10
    rss_bytes: int = 16 * MiB
    fds: int = 32
    threads: int = 4
    grace_s: float = 5.0


@dataclass(frozen=True)
class Growth:
    metric: str  # "rss_bytes" | "fds" | "threads"
    pid: int
    baseline: float
    end: float
    limit: float

    @property
    def grew(self) -> float:
        return self.end - self.baseline

    @property
    def exceeded(self) -> bool:
        return self.grew > self.limit


@dataclass(frozen=True)
class Verdict:
    failures: list[str]
    growth: list[Growth]
    expected_errors: list[ClientError]
    unexpected_errors: list[ClientError]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def error_is_expected(error: ClientError, operations: Sequence[Operation], grace_s: float) -> bool:
    """True when `error` happened while its backend restarted (plus the grace) and is of a
    kind that restart explains."""
    backend = BACKEND_OF_TRAFFIC.get(error.traffic)
    for op in operations:
        if not op.start <= error.t <= op.end + grace_s:
            continue
        if (
            op.kind == "restart"
            and op.target == backend
            and error.kind in ALLOWED_DURING_RESTART.get(backend, frozenset())
        ):
            return True
    return False


def _segments(samples: Sequence[ResourceSample]) -> list[list[ResourceSample]]:
    """The samples split by process (in order: an upgrade starts a new segment)."""
    segments: list[list[ResourceSample]] = []
    for sample in samples:
        if not segments or segments[-1][-1].pid != sample.pid:
            segments.append([])
        segments[-1].append(sample)
    return segments


def resource_growth(
    samples: Sequence[ResourceSample], bounds: Bounds
) -> tuple[list[Growth], list[str]]:
    """Growth of each metric for each process with a steady state of at least 2 windows;
    notes for the processes too short-lived to judge."""
    growth: list[Growth] = []
    notes: list[str] = []
    limits = {"rss_bytes": bounds.rss_bytes, "fds": bounds.fds, "threads": bounds.threads}
    for index, segment in enumerate(_segments(samples)):
        steady_from = bounds.warmup_s if index == 0 else segment[0].t + bounds.settle_s
        steady = [s for s in segment if s.t >= steady_from]
        pid = segment[0].pid
        if len(steady) < 2 * bounds.window:
            notes.append(
                f"pid {pid}: {len(steady)} samples after warm-up, fewer than "
                f"{2 * bounds.window}: not judged"
            )
            continue
        first, last = steady[: bounds.window], steady[-bounds.window :]
        for metric, limit in limits.items():
            growth.append(
                Growth(
                    metric,
                    pid,
                    statistics.median(getattr(s, metric) for s in first),
                    statistics.median(getattr(s, metric) for s in last),
                    limit,
                )
            )
    return growth, notes


def judge(
    samples: Sequence[ResourceSample],
    errors: Sequence[ClientError],
    operations: Sequence[Operation],
    served: Mapping[str, int],
    bounds: Bounds,
) -> Verdict:
    """The soak's verdict; `served` counts each traffic class's successful requests."""
    failures: list[str] = []
    growth, notes = resource_growth(samples, bounds)
    if not growth:
        failures.append("no process ran long enough after warm-up to judge its resources")
    for g in growth:
        if g.exceeded:
            failures.append(
                f"{g.metric} of pid {g.pid} grew by {g.grew:,.0f} "
                f"({g.baseline:,.0f} -> {g.end:,.0f}), more than {g.limit:,.0f}"
            )
    expected = [e for e in errors if error_is_expected(e, operations, bounds.grace_s)]
    unexpected = [e for e in errors if not error_is_expected(e, operations, bounds.grace_s)]
    if unexpected:
        kinds = sorted({f"{e.traffic}: {e.kind}" for e in unexpected})
        failures.append(f"{len(unexpected)} unexpected client errors ({'; '.join(kinds)})")
    for op in operations:
        if not op.ok:
            failures.append(f"{op.kind} {op.target} at {op.start:.1f}s failed: {op.detail}")
    for traffic in BACKEND_OF_TRAFFIC:
        if served.get(traffic, 0) == 0:
            failures.append(f"{traffic}: nothing was served")
    return Verdict(failures, growth, expected, unexpected, notes)
