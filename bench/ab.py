"""The A/B core every comparison in bench/ shares: the order of runs, medians, ratios, verdicts.

A candidate (fastlb) and a baseline (HAProxy) run in alternation, A B A B over the rounds, so
that a slow drift of the shared machine's load touches both sides alike; the figures are
medians over the rounds and the comparison is the ratio of the candidate's median to the
baseline's. The wrk/h2load benchmark (bench/runner.py) and the Locust load test
(bench/locust/runner.py) both schedule and judge their runs with these functions.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

Side = TypeVar("Side")


def alternate(rounds: int, sides: Sequence[Side]) -> Iterator[tuple[int, Side]]:
    """(round number from 1, side) in run order: every side once per round, in the order
    given (A B A B ... for two sides, A1 B1 A2 B2 ... for one pair per thread count)."""
    for round_no in range(1, rounds + 1):
        for side in sides:
            yield round_no, side


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that were measured (None: not measured), or None if none was."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(candidate: float | None, baseline: float | None) -> float | None:
    """candidate / baseline, or None when either is missing or the baseline is zero."""
    if candidate is None or baseline is None or baseline == 0:
        return None
    return candidate / baseline


def verdict(
    throughput_ratio: float | None, target: float, errors: int, p99_met: bool | None = None
) -> str:
    """`pass`, `miss` (the ratio is under the target), `miss (p99)` (the ratio is met but the
    candidate's p99 is worse), `errors` (a client saw failures: no ratio counts then) or `n/a`
    (a side measured nothing)."""
    if throughput_ratio is None:
        return "n/a"
    if errors:
        return "errors"
    if throughput_ratio < target:
        return "miss"
    return "miss (p99)" if p99_met is False else "pass"
