"""Fixtures of the BGP tests: an ECMP fleet in network namespaces (fastlb.harness.bgp_fleet)
with FRR as the router and `fastlb serve` nodes announcing the virtual IP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastlb.harness.bgp_fleet import Fleet, frr_available


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """router (FRR), lb1 and lb2 (not started), client, backends; sticky router."""
    yield from _fleet(tmp_path)


@pytest.fixture
def lone_node_fleet(tmp_path: Path) -> Iterator[Fleet]:
    """The same with lb1 only: when the router drops its route, the VIP is unreachable."""
    yield from _fleet(tmp_path, nodes=1)


@pytest.fixture
def bfd_fleet(tmp_path: Path) -> Iterator[Fleet]:
    """The same with FRR's bfdd on the router, asking each node for a BFD session."""
    yield from _fleet(tmp_path, bfd=True)


@pytest.fixture
def bird_router_fleet(tmp_path: Path) -> Iterator[Fleet]:
    """The same with BIRD 2 as the router instead of FRR (the README's BIRD config)."""
    yield from _fleet(tmp_path, router="bird")


def _fleet(tmp_path: Path, **options: Any) -> Iterator[Fleet]:
    if os.geteuid() != 0:
        pytest.skip("BGP fleet tests build network namespaces: they need root (CI runs as root)")
    missing = frr_available()
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: `make install` installs them (as root)")
    with Fleet(tmp_path, **options) as built:
        yield built
        print(built.logs())
