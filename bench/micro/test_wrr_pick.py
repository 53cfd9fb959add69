"""A pick through the binding (`fastlb.WeightedRoundRobin`) against the pure-Python reference,
and against two Cython builds (bench/micro/cython_build.py, built for this only):

- the reference compiled unchanged by Cython (the same textbook loop, as C);
- `cycle_pick.pyx`: the binding's own method (a cursor into a precomputed cycle) as Cython
  extension types, returning the table's str (`CyclePick`) or a new str per pick as the binding
  does (`CyclePickNewStr`), so that the binding and the latter differ only by their boundary
  (PyO3's call and return against Cython's).

All produce the same sequence (checked first); the benchmark shows what the precomputed,
lock-free schedule in Rust buys over the textbook loop, and what crossing into Rust costs
against crossing into Cython, at 2 servers (the load tests' topology, 3:1) and at 16.
"""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any

import pytest

import fastlb
from bench.micro import cython_build
from bench.micro.smooth_wrr import SmoothWeightedRoundRobin

WEIGHT_SETS = {
    "2 servers": {"web-01": 3, "web-02": 1},
    "16 servers": {f"web-{i:02d}": weight for i, weight in enumerate([5, 3, 1, 2] * 4)},
}


@pytest.mark.parametrize("weights", WEIGHT_SETS.values(), ids=WEIGHT_SETS.keys())
def test_the_reference_picks_what_the_binding_picks(weights: dict[str, int]) -> None:
    binding = fastlb.WeightedRoundRobin(weights)
    reference = SmoothWeightedRoundRobin(weights)
    cycle = binding.cycle()
    assert len(cycle) == sum(weights.values())
    assert [reference.pick() for _ in range(2 * len(cycle))] == cycle * 2
    assert [binding.pick() for _ in range(2 * len(cycle))] == cycle * 2


@pytest.fixture(scope="module")
def cython_reference() -> ModuleType:
    return cython_build.load("cy_smooth_wrr")


@pytest.fixture(scope="module")
def cython_cycle() -> ModuleType:
    return cython_build.load("cy_cycle_pick")


def test_the_cython_builds_are_compiled(
    cython_reference: ModuleType, cython_cycle: ModuleType
) -> None:
    # Extension modules, not the .py source imported again.
    for module in (cython_reference, cython_cycle):
        assert str(module.__file__).endswith(".so")


@pytest.mark.parametrize("weights", WEIGHT_SETS.values(), ids=WEIGHT_SETS.keys())
def test_the_cython_builds_pick_what_the_binding_picks(
    weights: dict[str, int], cython_reference: ModuleType, cython_cycle: ModuleType
) -> None:
    cycle = fastlb.WeightedRoundRobin(weights).cycle()
    compiled = cython_reference.SmoothWeightedRoundRobin(weights)
    assert [compiled.pick() for _ in range(2 * len(cycle))] == cycle * 2
    for table in (cython_cycle.CyclePick(cycle), cython_cycle.CyclePickNewStr(cycle)):
        assert [table.pick() for _ in range(2 * len(cycle))] == cycle * 2


@pytest.mark.parametrize("weights", WEIGHT_SETS.values(), ids=WEIGHT_SETS.keys())
def test_pick_binding(benchmark: Any, weights: dict[str, int]) -> None:
    wrr = fastlb.WeightedRoundRobin(weights)
    assert benchmark(wrr.pick) in weights


@pytest.mark.parametrize("weights", WEIGHT_SETS.values(), ids=WEIGHT_SETS.keys())
def test_pick_python_reference(benchmark: Any, weights: dict[str, int]) -> None:
    wrr = SmoothWeightedRoundRobin(weights)
    assert benchmark(wrr.pick) in weights


@pytest.mark.parametrize("weights", WEIGHT_SETS.values(), ids=WEIGHT_SETS.keys())
def test_pick_cython_reference(
    benchmark: Any, weights: dict[str, int], cython_reference: ModuleType
) -> None:
    wrr = cython_reference.SmoothWeightedRoundRobin(weights)
    assert benchmark(wrr.pick) in weights


@pytest.mark.parametrize("weights", WEIGHT_SETS.values(), ids=WEIGHT_SETS.keys())
def test_pick_cython_cycle(
    benchmark: Any, weights: dict[str, int], cython_cycle: ModuleType
) -> None:
    wrr = cython_cycle.CyclePick(fastlb.WeightedRoundRobin(weights).cycle())
    assert benchmark(wrr.pick) in weights


@pytest.mark.parametrize("weights", WEIGHT_SETS.values(), ids=WEIGHT_SETS.keys())
def test_pick_cython_cycle_new_str(
    benchmark: Any, weights: dict[str, int], cython_cycle: ModuleType
) -> None:
    wrr = cython_cycle.CyclePickNewStr(fastlb.WeightedRoundRobin(weights).cycle())
    assert benchmark(wrr.pick) in weights


def test_picks_spread_as_weighted() -> None:
    """1,000 cycles of 3:1 through the binding: exactly 3,000 and 1,000."""
    wrr = fastlb.WeightedRoundRobin(WEIGHT_SETS["2 servers"])
    picks = [wrr.pick() for _ in range(4000)]
    counts = {name: len(list(group)) for name, group in itertools.groupby(sorted(map(str, picks)))}
    assert counts == {"web-01": 3000, "web-02": 1000}
