"""A stats snapshot (`LoadBalancer.stats()`): every counter and histogram of a running core,
read lock-free and turned into Python dicts, at 2 and at 16 servers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import fastlb


def config(servers: int) -> dict[str, Any]:
    # The servers are never connected to: no traffic and no health check, only the snapshot.
    return {
        "workers": 2,
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web"}],
        "backends": [
            {
                "name": "web",
                "servers": [
                    {"name": f"web-{i:02d}", "address": f"127.0.0.1:{20000 + i}", "weight": 1}
                    for i in range(servers)
                ],
            }
        ],
    }


@pytest.fixture(params=[2, 16], ids=["2 servers", "16 servers"])
def running(request: pytest.FixtureRequest) -> Iterator[tuple[fastlb.LoadBalancer, int]]:
    with fastlb.LoadBalancer(config(request.param)) as lb:
        yield lb, request.param


def test_stats_snapshot(benchmark: Any, running: tuple[fastlb.LoadBalancer, int]) -> None:
    lb, servers = running
    snapshot = benchmark(lb.stats)
    assert len(snapshot["backends"]["web"]["servers"]) == servers
    assert snapshot["frontends"]["web"]["total_connections"] == 0
