"""The A/B core both performance runners share (bench/ab.py): run order, medians, verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `bench` is a top-level folder of the repo, not installed
    sys.path.insert(0, str(REPO))

from bench.ab import alternate, median, ratio, verdict  # noqa: E402


def test_sides_alternate_within_each_round() -> None:
    order = list(alternate(3, ["fastlb", "haproxy"]))
    assert order == [
        (1, "fastlb"), (1, "haproxy"),
        (2, "fastlb"), (2, "haproxy"),
        (3, "fastlb"), (3, "haproxy"),
    ]  # fmt: skip


def test_medians_skip_what_was_not_measured() -> None:
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([None, None]) is None


def test_a_ratio_needs_both_sides_and_a_nonzero_baseline() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(3.0, 0.0) is None


def test_verdicts() -> None:
    assert verdict(0.95, 0.90, errors=0) == "pass"
    assert verdict(0.85, 0.90, errors=0) == "miss"
    assert verdict(0.95, 0.90, errors=0, p99_met=False) == "miss (p99)"
    assert verdict(1.50, 0.90, errors=3) == "errors"  # errors win over any ratio
    assert verdict(None, 0.90, errors=3) == "n/a"
