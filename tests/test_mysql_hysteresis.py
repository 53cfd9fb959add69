"""The monitor's hysteresis: a failed probe counts after `failcount` in a row, and not while
the core's statement counters show sessions still using the server."""

from __future__ import annotations

import pytest

from fastlb.mysql.hysteresis import Hysteresis
from fastlb.mysql.topology import ServerObservation

UP = ServerObservation("primary", reachable=True, read_only=False, server_id=1)
DOWN = ServerObservation("primary", reachable=False, error="no answer within 1s")


def test_a_failure_counts_only_after_failcount_in_a_row() -> None:
    smoothing = Hysteresis(failcount=3)
    assert smoothing.smooth([UP]) == [UP]
    for n in (1, 2):
        (kept,) = smoothing.smooth([DOWN])
        assert kept.reachable and kept.read_only is False
        assert kept.error is not None and f"{n}/3" in kept.error
    assert smoothing.smooth([DOWN]) == [DOWN]
    # Back at once, and the count starts over.
    assert smoothing.smooth([UP]) == [UP]
    assert smoothing.smooth([DOWN])[0].reachable


def test_a_server_sessions_still_use_is_kept() -> None:
    smoothing = Hysteresis(failcount=1)
    smoothing.smooth([UP], {"primary": 10})
    assert smoothing.smooth([DOWN], {"primary": 25})[0].reachable
    # The counter stopped moving: the failures count.
    assert smoothing.smooth([DOWN], {"primary": 25}) == [DOWN]


def test_never_seen_up_is_reported_as_is() -> None:
    assert Hysteresis(failcount=5).smooth([DOWN]) == [DOWN]


def test_failcount_must_be_positive() -> None:
    with pytest.raises(ValueError, match="failcount"):
        Hysteresis(failcount=0)
