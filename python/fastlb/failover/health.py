"""Whether this node can serve, read from the core's stats: a node that cannot must not
hold the virtual IP (it gives up mastership, and does not take it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._core import Engine

__all__ = ["serving_problem"]


def serving_problem(engine: Engine) -> str | None:
    """None while the core runs and some server can take a connection (UP, backups
    included); otherwise why not, for the log and /api/stats."""
    # Imported here: the API package imports failover's metrics (an import cycle at load).
    from ..api.stats_models import StatsSnapshot

    if not engine.running:
        return "the load balancer core is not running"
    backends = StatsSnapshot.model_validate(engine.stats()).backends
    for backend in backends.values():
        if any(server.status == "UP" for server in backend.servers.values()):
            return None
    return "every backend server is down" if backends else "no backend servers"
