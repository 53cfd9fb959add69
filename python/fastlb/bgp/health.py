"""Whether this node should receive traffic, read from the core's stats: the same signal as
VRRP's FAULT state (failover/health.py), plus `degraded` for a worse MED."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .machine import NodeHealth

if TYPE_CHECKING:
    from .._core import Engine
    from ..api.stats_models import StatsSnapshot

__all__ = ["node_health", "node_health_of"]

# Below this fraction of UP servers (over the frontends' backends) the node is degraded.
DEGRADED_BELOW = 0.5


def node_health_of(engine: Engine, backends: Iterable[str]) -> tuple[NodeHealth, str]:
    """`node_health` of a running (or stopped) core, read from its stats snapshot."""
    # Imported here: the API package imports the speakers' metrics (an import cycle at load).
    from ..api.stats_models import StatsSnapshot

    return node_health(engine.running, StatsSnapshot.model_validate(engine.stats()), backends)


def node_health(
    running: bool, stats: StatsSnapshot, backends: Iterable[str]
) -> tuple[NodeHealth, str]:
    """`down` unless the core runs and some server of the frontends' `backends` is UP
    (backups included); `degraded` when a frontend's backend has none, or fewer than half
    of the servers are UP; else `up`. With the reason, for the log and /api/stats."""
    if not running:
        return NodeHealth.DOWN, "the load balancer core is not running"
    up_by_backend: dict[str, tuple[int, int]] = {}
    for name in dict.fromkeys(backends):
        backend = stats.backends.get(name)
        servers = backend.servers.values() if backend is not None else []
        up = sum(1 for server in servers if server.status == "UP")
        up_by_backend[name] = (up, len(servers))
    up = sum(u for u, _ in up_by_backend.values())
    total = sum(t for _, t in up_by_backend.values())
    if up == 0:
        return NodeHealth.DOWN, "every backend server is down" if total else "no backend servers"
    empty = [name for name, (u, _) in up_by_backend.items() if u == 0]
    if empty:
        return NodeHealth.DEGRADED, f"no server UP in backend {', '.join(empty)}"
    if up < total * DEGRADED_BELOW:
        return NodeHealth.DEGRADED, f"{up} of {total} servers UP"
    return NodeHealth.UP, f"{up} of {total} servers UP"
