"""The `mysql:` section of a backend: read/write splitting for `mode: mysql` frontends.

```yaml
backends:
  - name: db
    servers:
      - {name: db-primary, address: 127.0.0.1:3307, role: primary}
      - {name: db-replica, address: 127.0.0.1:3308, role: replica, weight: 1}
    mysql:
      users: [{user: app, password: "${DB_PASSWORD}"}]
      monitor: {user: monitor, password: "...", interval: 1s, timeout: 1s, failcount: 3}
      max_replication_lag: 5s
      causal_reads: session           # off | session | global
      primary_failure: error_on_write # error_on_write | fail_on_write | fail_instantly
      rules:
        - {match: "^SELECT .* FROM reports", route: primary}
      kill_admins: [dba]              # may KILL any session (others: their own user's)
      failover: {mode: auto, replication_user: repl, ...}   # config_mysql_failover.py
      digests: {enabled: true, top_k: 50}  # the heaviest statements by total time
      pool:                           # server connections outlive client sessions
        enabled: true
        max_per_server: 64            # idle + in use, per server
        min_idle: 0                   # kept past idle_timeout
        idle_timeout: 60s
        max_lifetime: 1h
        multiplexing: false           # give connections back between statements (opt-in)
```
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    model_validator,
)

from .config_mysql_failover import MysqlFailoverConfig
from .config_types import ConfigModel, PositiveDuration, field_error
from .contract import MYSQL_DIGESTS_MAX_TOP_K

__all__ = [
    "MonitorConfig",
    "MysqlConfig",
    "MysqlDigests",
    "MysqlFailoverConfig",
    "MysqlPool",
    "MysqlRule",
    "MysqlUser",
]

_UserName = Annotated[str, StringConstraints(min_length=1, max_length=80)]
# Large enough for any statement a client should send, small enough that a hostile client
# can't make fastlb buffer gigabytes.
_DEFAULT_MAX_PACKET = 64 * 1024 * 1024


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise field_error(f"not a valid regular expression: {exc}") from None
    return value


def _check_version(value: str) -> str:
    if not value or not value.isprintable() or len(value) > 60:
        raise field_error("must be a short printable version string, e.g. '10.11.6-MariaDB'")
    return value


class MysqlUser(ConfigModel):
    """A user clients log in as; fastlb logs in to the servers with the same credentials."""

    user: _UserName
    password: str = Field(default="", repr=False)


class MonitorConfig(ConfigModel):
    """The topology monitor's login and pace (it reads read_only, GTIDs and lag)."""

    user: _UserName
    password: str = Field(default="", repr=False)
    interval: PositiveDuration = 1.0
    #: How long one probe may take (separate from the interval).
    timeout: PositiveDuration = 1.0
    #: Probes that must fail in a row before a server's state changes (one slow probe under
    #: load changes nothing; a server sessions still use successfully is kept past it).
    failcount: Annotated[int, Field(ge=1, le=100)] = 3


class MysqlRule(ConfigModel):
    """A routing rule: the first whose regex matches the statement decides (ProxySQL's
    query rules). Transactions and pinned sessions still stay on the primary."""

    match: Annotated[str, StringConstraints(min_length=1), AfterValidator(_check_regex)]
    route: Literal["primary", "replica"]


class MysqlDigests(ConfigModel):
    """Query digests: per normalised statement, calls, errors, rows and latency, for the
    `top_k` heaviest by total time (fixed memory: the core's Space-Saving sketch)."""

    enabled: bool = True
    #: The core's limit (`contract.MYSQL_DIGESTS_MAX_TOP_K`) also bounds the metric labels.
    top_k: Annotated[int, Field(ge=1, le=MYSQL_DIGESTS_MAX_TOP_K)] = 50


class MysqlPool(ConfigModel):
    """`mysql.pool`: logged-in server connections shared between client sessions (the core
    decides what can be reused; see the README's MySQL section)."""

    enabled: bool = False
    max_per_server: Annotated[int, Field(ge=1, le=100_000)] = 64
    min_idle: Annotated[int, Field(ge=0, le=100_000)] = 0
    idle_timeout: PositiveDuration = 60.0
    max_lifetime: PositiveDuration = 3600.0
    #: Sessions give their server connections back between statements (outside transactions
    #: and pins). Off by default until it has soaked in production: state fastlb can't replay
    #: pins a session, and a wrong "replayable" would leak one client's state to another.
    multiplexing: bool = False

    @model_validator(mode="after")
    def _min_idle_fits(self) -> MysqlPool:
        if self.min_idle > self.max_per_server:
            raise field_error("min_idle must not exceed max_per_server")
        return self

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_per_server": self.max_per_server,
            "min_idle": self.min_idle,
            "idle_timeout_ms": max(1, round(self.idle_timeout * 1000)),
            "max_lifetime_ms": max(1, round(self.max_lifetime * 1000)),
            "multiplexing": self.multiplexing,
        }


class MysqlConfig(ConfigModel):
    users: Annotated[list[MysqlUser], Field(min_length=1)]
    monitor: MonitorConfig | None = None
    max_replication_lag: PositiveDuration = 10.0
    causal_reads: Literal["off", "session", "global"] = "off"
    causal_timeout: PositiveDuration = 0.5
    primary_failure: Literal["error_on_write", "fail_on_write", "fail_instantly"] = "error_on_write"
    rules: list[MysqlRule] = Field(default_factory=list)
    server_version: Annotated[str, AfterValidator(_check_version)] | None = None
    max_packet_size: Annotated[int, Field(ge=1024, le=1 << 30)] = _DEFAULT_MAX_PACKET
    # Users whose KILL may end any session of this backend (others: their own user's only).
    kill_admins: list[_UserName] = Field(default_factory=list)
    #: Switchover / failover / rejoin (config_mysql_failover.py); off when absent.
    failover: MysqlFailoverConfig | None = None
    digests: MysqlDigests = MysqlDigests()
    pool: MysqlPool = MysqlPool()

    @model_validator(mode="after")
    def _admins_are_users(self) -> MysqlConfig:
        names = {u.user for u in self.users}
        unknown = [name for name in self.kill_admins if name not in names]
        if unknown:
            raise field_error(f"kill_admins names users not in mysql.users: {', '.join(unknown)}")
        if self.failover is not None and self.failover.mode != "off" and self.monitor is None:
            raise field_error(
                f"failover mode {self.failover.mode!r} needs a monitor: section (the topology "
                "monitor detects the primary's death and performs the promotion)"
            )
        return self

    def to_core_dict(self) -> dict[str, Any]:
        """What the core needs; the monitor and the lag limit stay in Python."""
        return {
            "users": [{"user": u.user, "password": u.password} for u in self.users],
            "causal_reads": self.causal_reads,
            "causal_timeout_ms": max(1, round(self.causal_timeout * 1000)),
            "primary_failure": self.primary_failure,
            "rules": [{"match": r.match, "route": r.route} for r in self.rules],
            "server_version": self.server_version,
            "max_packet_bytes": self.max_packet_size,
            "kill_admins": list(self.kill_admins),
            "digests": {"enabled": self.digests.enabled, "top_k": self.digests.top_k},
            "pool": self.pool.to_core_dict(),
        }
