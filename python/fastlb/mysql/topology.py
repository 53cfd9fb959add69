"""What the MySQL topology is, and the pure policy that decides it from observations.

The monitor (`monitor.py`) observes each server every `interval` (`ServerObservation`); the
pure function `decide()` turns one round of observations into a `TopologyDecision`: which
server is the primary, which servers may serve reads, and why the others may not. No I/O
here, so every rule is unit-tested on its own (tests/test_mysql_topology.py).

The rules:

- The primary is the reachable server with `read_only=0`. A configured replica that became
  writable (promoted by a failover tool) becomes the primary; the old primary coming back
  read-only is a replica. Two writable servers is a conflict: the current primary (else the
  configured one, else the first in the configuration) stays primary and `conflict` says so.
  No reachable writable server: no primary (reads continue, writes get a clear error).
- A replica is in the read pool when it is reachable and its replication is healthy: both
  threads running and the lag at most `max_replication_lag` (lag 0 when its GTID position
  already covers the primary's). With no reachable primary there is nothing newer to wait
  for: reachable replicas keep serving reads whatever their replication threads say.
- The primary is never in the read pool: when the pool is empty, reads go to the primary (the
  proxy and the Router do that; it is not the policy's business).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from . import gtid

__all__ = [
    "Role",
    "ServerDecision",
    "ServerObservation",
    "ServerSpec",
    "TopologyDecision",
    "decide",
]

Role = Literal["primary", "replica"]


@dataclass(frozen=True)
class ServerSpec:
    """One configured server: `address` is `host:port`."""

    name: str
    host: str
    port: int
    role: Role = "replica"
    weight: int = 1

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ServerObservation:
    """What one check of one server saw. Fields are None when they could not be read."""

    name: str
    reachable: bool
    #: Why the server is unreachable, or why part of the check failed.
    error: str | None = None
    read_only: bool | None = None
    server_id: int | None = None
    #: "mariadb" or "mysql" (from VERSION()).
    flavor: str | None = None
    #: Everything this server has applied or written: `@@gtid_current_pos` (MariaDB) or
    #: `@@gtid_executed` (MySQL).
    gtid_position: str | None = None
    #: The last GTID replicated from a primary (`@@gtid_slave_pos`, MariaDB).
    gtid_slave_pos: str | None = None
    #: Whether SHOW SLAVE/REPLICA STATUS returned a row (replication is configured).
    replication_configured: bool | None = None
    io_running: bool | None = None
    sql_running: bool | None = None
    #: Seconds_Behind_Master / Seconds_Behind_Source; None when the server reports NULL.
    seconds_behind: float | None = None
    #: Last_IO_Error / Last_SQL_Error / a failed SHOW ... STATUS.
    replication_error: str | None = None
    #: When the observation was taken (time.monotonic()).
    checked_at: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class ServerDecision:
    """The policy's verdict on one server."""

    name: str
    address: str
    configured_role: Role
    role: Role
    reachable: bool
    #: May serve autocommit reads (always False for the primary).
    in_read_pool: bool
    #: Replication lag in seconds (0.0 when caught up by GTID; None when unknown).
    lag_seconds: float | None
    read_only: bool | None
    weight: int
    #: Why the server is out of the read pool / not the primary ("" when all is well).
    reason: str = ""


@dataclass(frozen=True)
class TopologyDecision:
    """One round's topology. This is the argument of the monitor's `on_decision` callback.

    `servers` is in configuration order; `primary` names the elected primary or is None;
    `read_pool` names the servers that may serve reads, in configuration order.
    """

    primary: str | None
    servers: tuple[ServerDecision, ...]
    read_pool: tuple[str, ...]
    #: Set when two servers are writable (the message says which one stays primary).
    conflict: str | None = None
    #: A primary other than the configured one was elected (promotion).
    failed_over: bool = False
    checked_at: float = field(default=0.0, compare=False)

    def server(self, name: str) -> ServerDecision:
        """The decision about `name`; KeyError for an unknown name."""
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for /api/stats)."""
        return asdict(self)


def _elect(
    specs: Sequence[ServerSpec],
    observations: Mapping[str, ServerObservation],
    current_primary: str | None,
) -> tuple[str | None, str | None]:
    """(primary, conflict message)."""
    writable = [
        spec.name
        for spec in specs
        if (seen := observations.get(spec.name)) is not None
        and seen.reachable
        and seen.read_only is False
    ]
    if len(writable) <= 1:
        return (writable[0] if writable else None), None
    configured = [spec.name for spec in specs if spec.role == "primary"]
    preferred = [name for name in (current_primary, *configured) if name in writable]
    primary = preferred[0] if preferred else writable[0]
    return primary, (
        f"{len(writable)} writable servers ({', '.join(writable)}): {primary} stays primary; "
        "set read_only=1 on the others"
    )


def _lag(seen: ServerObservation, primary_position: str | None) -> float | None:
    """Seconds behind, or 0.0 when the replica's GTID position covers the primary's."""
    if primary_position and seen.gtid_position and seen.flavor != "mysql":
        try:
            if gtid.covers(seen.gtid_position, primary_position):
                return 0.0
        except ValueError:
            pass  # not MariaDB GTIDs: rely on Seconds_Behind_Master
    return seen.seconds_behind


def _replica_verdict(
    seen: ServerObservation,
    lag: float | None,
    primary_reachable: bool,
    max_replication_lag: float,
) -> str:
    """Why a reachable replica is out of the read pool ("" when it is in)."""
    if not primary_reachable:
        return ""  # nothing newer exists anywhere: stale is the best there is
    if seen.replication_error and seen.replication_configured is None:
        return f"cannot read replication status: {seen.replication_error}"
    if not seen.replication_configured:
        return "not replicating (no SLAVE STATUS)"
    if not (seen.io_running and seen.sql_running):
        threads = f"IO thread {'on' if seen.io_running else 'off'}, SQL thread " + (
            "on" if seen.sql_running else "off"
        )
        detail = f": {seen.replication_error}" if seen.replication_error else ""
        return f"replication stopped ({threads}){detail}"
    if lag is None:
        return "replication lag unknown (Seconds_Behind_Master is NULL)"
    if lag > max_replication_lag:
        return f"lag {lag:g}s > max_replication_lag {max_replication_lag:g}s"
    return ""


def decide(
    specs: Sequence[ServerSpec],
    observations: Mapping[str, ServerObservation],
    *,
    max_replication_lag: float,
    current_primary: str | None = None,
    checked_at: float = 0.0,
) -> TopologyDecision:
    """The topology that one round of `observations` (by server name) shows. Pure."""
    primary, conflict = _elect(specs, observations, current_primary)
    primary_seen = observations.get(primary) if primary else None
    primary_position = primary_seen.gtid_position if primary_seen else None
    servers: list[ServerDecision] = []
    for spec in specs:
        seen = observations.get(spec.name) or ServerObservation(
            spec.name, reachable=False, error="not checked yet"
        )
        role: Role = "primary" if spec.name == primary else "replica"
        lag = None if role == "primary" else _lag(seen, primary_position)
        if not seen.reachable:
            reason = f"unreachable: {seen.error or 'no answer'}"
        elif role == "primary":
            reason = ""
        else:
            # A configured primary that came back read-only is judged like any replica.
            reason = _replica_verdict(seen, lag, primary is not None, max_replication_lag)
        servers.append(
            ServerDecision(
                name=spec.name,
                address=spec.address,
                configured_role=spec.role,
                role=role,
                reachable=seen.reachable,
                in_read_pool=role == "replica" and seen.reachable and not reason,
                lag_seconds=lag,
                read_only=seen.read_only,
                weight=spec.weight,
                reason=reason,
            )
        )
    configured_primaries = {spec.name for spec in specs if spec.role == "primary"}
    return TopologyDecision(
        primary=primary,
        servers=tuple(servers),
        read_pool=tuple(server.name for server in servers if server.in_read_pool),
        conflict=conflict,
        failed_over=primary is not None and primary not in configured_primaries,
        checked_at=checked_at,
    )
