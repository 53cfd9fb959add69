"""Fixtures of the failover tests: a segment of network namespaces with two load balancer
nodes, a client and a backend (see netns.py), `fastlb serve` and keepalived inside them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastlb.harness.vrrp_pair import Cluster


def require_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip(
            "failover tests build network namespaces and raw VRRP sockets: they need root "
            "(CI runs as root)"
        )
    missing = [tool for tool in ("ip", "keepalived") if not _which(tool)]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: `make install` installs them (as root)")


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """lb1 (10.77.0.11), lb2 (.12), client (.100) and an HTTP backend (.200:8000)."""
    require_root_and_tools()
    with Cluster(tmp_path) as built:
        yield built
        print(built.logs())
