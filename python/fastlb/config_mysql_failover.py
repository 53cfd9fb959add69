"""The `mysql.failover:` section of a `mode: mysql` backend: who may promote a replica, and how.

```yaml
    mysql:
      monitor: {user: monitor, password: "...", interval: 500ms, failcount: 3}
      failover:
        mode: auto                  # off | manual (switchover only) | auto (+ failover)
        failcount: 3                # monitor rounds the primary must be dead first
        replication_user: repl      # what CHANGE MASTER TO logs in as
        replication_password: ${REPL_PASSWORD}
        auto_rejoin: true           # a returning old primary becomes a replica if it can
        enforce_read_only_replicas: true
        promotion_order: [db-2, db-3]   # tie-break between equally advanced replicas
        max_lag_to_promote: 10s     # a replica further behind is never promoted
        switchover_timeout: 5s      # how long writes are held; then ERROR 1290
        notify: /usr/local/bin/db-failover   # run with EVENT BACKEND SERVER GTID (see below)
```
`notify` runs (never through a shell, never waited for by the failover) once per event, in
order: `$1` the event (failover_started, promoted, switchover_started, switchover_failed,
failover_failed, fenced, rejoined, diverged), `$2` the backend, `$3` the server it is about,
`$4` the GTID position it is about; `$3`/`$4` are empty strings when there is none. The same
values and the message are in `FASTLB_MYSQL_{EVENT,BACKEND,SERVER,GTID,MESSAGE,TIME}`.
The monitor user needs RELOAD and SUPER (or READ_ONLY ADMIN + CONNECTION ADMIN + REPLICATION SLAVE
ADMIN on MariaDB 10.5+) on every server to set read_only, kill connections and re-point
replication; the README's "Database failover" section lists the grants.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    model_validator,
)

from .config_types import ConfigModel, PositiveDuration, field_error
from .notify_command import check_notify_command

__all__ = ["MysqlFailoverConfig"]

_Name = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class MysqlFailoverConfig(ConfigModel):
    #: off: only follow promotions made elsewhere; manual: switchover on request only;
    #: auto: switchover on request, and failover when the primary dies.
    mode: Literal["off", "manual", "auto"] = "off"
    #: Monitor rounds in a row the primary must be unreachable before a failover (on top of
    #: the monitor's own failcount), and only if the replicas lost it too.
    failcount: Annotated[int, Field(ge=1, le=100)] = 3
    replication_user: _Name | None = None
    replication_password: str = Field(default="", repr=False)
    auto_rejoin: bool = True
    #: Set read_only=1 on any replica found writable (a second writer is a split brain).
    enforce_read_only_replicas: bool = True
    #: Server names, most preferred first: breaks ties between equally advanced replicas.
    promotion_order: list[_Name] = Field(default_factory=list)
    #: A replica further behind than this is never promoted.
    max_lag_to_promote: PositiveDuration = 10.0
    #: How long a switchover may hold writes; held writes then get ERROR 1290.
    switchover_timeout: PositiveDuration = 5.0
    #: A command run with each event (keepalived's `notify`; argument order above).
    notify: Annotated[str, AfterValidator(check_notify_command)] | None = None

    @model_validator(mode="after")
    def _needs_replication_login(self) -> MysqlFailoverConfig:
        if self.mode != "off" and self.replication_user is None:
            raise field_error(
                f"mode {self.mode!r} needs replication_user (and replication_password): "
                "the login replicas use in CHANGE MASTER TO"
            )
        if len(set(self.promotion_order)) != len(self.promotion_order):
            raise field_error("promotion_order names a server twice")
        return self
