"""The failover policy, pure (no I/O; unit-tested in tests/test_mysql_failover_policy.py).

- The primary is dead only when fastlb could not reach it for `failcount` rounds in a row
  **and** no reachable replica's IO thread is connected to it: a network split between
  fastlb and a healthy primary (or a monitor user locked out) never promotes.
- The candidate is the replica with the most advanced GTID position; ties go to the first in
  `promotion_order`, then configuration order. A replica known to lag more than
  `max_lag_to_promote`, unreachable, or kept out (fenced, diverged) is never a candidate.
- A returning old primary has diverged when it holds transactions the promoted server did
  not have when it was promoted; their count is what the failover may have lost.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from .. import gtid
from ..topology import ServerObservation

__all__ = ["PrimaryLossDetector", "lost_transactions", "pick_candidate", "position_rank"]


class PrimaryLossDetector:
    """Counts the rounds in which the primary is lost for everyone."""

    def __init__(self, failcount: int) -> None:
        self.failcount = failcount
        self.rounds = 0
        #: When (monotonic) the current loss was first seen: the start of the outage.
        self.since: float | None = None

    def observe(
        self, primary: str, observations: Mapping[str, ServerObservation], now: float
    ) -> bool:
        """One round; True when the primary is to be declared dead."""
        seen = observations.get(primary)
        replicas = [o for name, o in observations.items() if name != primary and o.reachable]
        # A replica whose IO thread still runs still hears from the primary: it lives.
        replicas_lost_it = bool(replicas) and not any(o.io_running for o in replicas)
        if seen is None or seen.reachable or not replicas_lost_it:
            self.reset()
            return False
        if self.since is None:
            self.since = now
        self.rounds += 1
        return self.rounds >= self.failcount

    def reset(self) -> None:
        self.rounds = 0
        self.since = None


def position_rank(position: str | None) -> int:
    """A number that grows with a MariaDB GTID position (sum of its sequences); -1 when
    unknown. Within one replication stream, more applied means a higher rank."""
    if not position:
        return -1
    try:
        return sum(gtid.parse(position).values())
    except ValueError:
        return -1


def pick_candidate(
    order: Sequence[str],
    positions: Mapping[str, str | None],
    *,
    promotion_order: Sequence[str] = (),
    lags: Mapping[str, float | None] | None = None,
    max_lag: float | None = None,
    excluded: Collection[str] = (),
) -> str | None:
    """The server of `positions` (the reachable replicas' GTID positions) to promote, or
    None. `order`: configuration order (the last tie-break)."""
    preference = {name: index for index, name in enumerate(promotion_order)}
    best: tuple[int, int, int] | None = None
    chosen = None
    for index, name in enumerate(order):
        if name not in positions or name in excluded:
            continue
        lag = (lags or {}).get(name)
        if max_lag is not None and lag is not None and lag > max_lag:
            continue
        rank = position_rank(positions[name])
        if rank < 0:
            continue
        key = (rank, -preference.get(name, len(preference)), -index)
        if best is None or key > best:
            best, chosen = key, name
    return chosen


def lost_transactions(returning: str, promoted_at: str) -> int:
    """How many transactions the returning old primary (its position `returning`) has that
    the promoted server's position at promotion (`promoted_at`) lacks: 0 means it may
    rejoin; more means it diverged and those transactions were lost by the failover."""
    have = gtid.parse(promoted_at)
    return sum(
        max(0, sequence - have.get(domain, 0)) for domain, sequence in gtid.parse(returning).items()
    )
