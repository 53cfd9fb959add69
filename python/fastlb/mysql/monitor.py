"""The MySQL topology monitor: every `interval`, observe each server over aiomysql and turn the
round into a `TopologyDecision` (topology.py) handed to `on_decision`.

    monitor = TopologyMonitor(specs, user="monitor", password="...", interval=1.0,
                              max_replication_lag=5.0, on_decision=apply_to_engine)
    async with monitor:          # first round done before the body runs
        ...

One connection per server, kept between rounds and reopened after any failure. Servers are
checked concurrently and every check is bounded by `timeout`: a hung server (SIGSTOPped,
black-holed) is reported unreachable after `timeout` while the others are checked on time.
A failed probe counts only after `failcount` in a row, and not while `activity` (the core's
statement counters) shows sessions still using the server (hysteresis.py).
The monitor only observes and decides; applying a decision (to the Rust core, to a Router) is
the callback's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from ssl import SSLContext
from typing import Any

import aiomysql
import pymysql

from .connections import describe, is_connection_error
from .hysteresis import Hysteresis
from .topology import ServerObservation, ServerSpec, TopologyDecision, decide

__all__ = ["DecisionCallback", "TopologyMonitor"]

log = logging.getLogger("fastlb.mysql")

DecisionCallback = Callable[[TopologyDecision], Awaitable[None] | None]
#: Each server's count of statements served so far (passive evidence it works).
ActivityProbe = Callable[[], Mapping[str, int]]


def _flag(value: object) -> bool | None:
    if value is None:
        return None
    return str(value).strip().lower() in ("1", "on", "yes", "true")


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _column(row: dict[str, Any], *names: str) -> Any:
    """The first of `names` present in a SHOW ... STATUS row (MariaDB says Slave_* and
    Seconds_Behind_Master, MySQL 8.0.22+ Replica_* and Seconds_Behind_Source)."""
    for name in names:
        if name in row:
            return row[name]
    return None


class TopologyMonitor:
    """Observes `servers` every `interval` seconds (see the module docstring)."""

    def __init__(
        self,
        servers: Sequence[ServerSpec],
        *,
        user: str,
        password: str,
        interval: float = 1.0,
        timeout: float | None = None,
        max_replication_lag: float = 5.0,
        on_decision: DecisionCallback | None = None,
        ssl: SSLContext | None = None,
        failcount: int = 3,
        activity: ActivityProbe | None = None,
    ) -> None:
        if not servers:
            raise ValueError("TopologyMonitor needs at least one server")
        if interval <= 0:
            raise ValueError(f"interval must be positive (got {interval})")
        self.servers = tuple(servers)
        self.user = user
        self.password = password
        self.interval = interval
        self.timeout = timeout if timeout is not None else max(0.2, min(interval, 2.0))
        self.max_replication_lag = max_replication_lag
        self.on_decision = on_decision
        self.hysteresis = Hysteresis(failcount)
        self.activity = activity
        #: TLS to the servers (the backend's `tls`), else plaintext.
        self.ssl = ssl
        #: The latest round's decision (None before the first round).
        self.decision: TopologyDecision | None = None
        #: The latest observation of each server, by name.
        self.observations: dict[str, ServerObservation] = {}
        self._connections: dict[str, aiomysql.Connection] = {}
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> TopologyDecision:
        """Runs a first round now, then keeps checking in a background task."""
        decision = await self.check()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fastlb-mysql-monitor")
        return decision

    async def stop(self) -> None:
        """Stops checking and closes every connection. Idempotent."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        connections, self._connections = self._connections, {}
        for connection in connections.values():
            # A polite COM_QUIT (no "Aborted connection" in the server's log), bounded.
            try:
                await asyncio.wait_for(connection.ensure_closed(), self.timeout)
            except (TimeoutError, pymysql.err.MySQLError, OSError):
                connection.close()

    async def __aenter__(self) -> TopologyMonitor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_round = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, next_round - loop.time()))
            # A steady cadence; a round that overran (hung servers) does not cause a burst.
            next_round = max(next_round + self.interval, loop.time())
            try:
                await self.check()
            except Exception:  # a bug in a round must not end the monitoring
                log.exception("mysql monitor: round failed")

    # --- one round -------------------------------------------------------------------------

    async def check(self) -> TopologyDecision:
        """One round now: observe every server (concurrently, each within `timeout`), decide,
        hand the decision to `on_decision`, and return it."""
        observed = await asyncio.gather(*(self._observe(spec) for spec in self.servers))
        activity = None
        if self.activity is not None:
            try:
                activity = self.activity()
            except Exception:  # evidence is optional; the probes still decide
                log.exception("mysql monitor: reading the servers' activity failed")
        smoothed = self.hysteresis.smooth(observed, activity)
        self.observations = {seen.name: seen for seen in smoothed}
        previous = self.decision
        decision = decide(
            self.servers,
            self.observations,
            max_replication_lag=self.max_replication_lag,
            current_primary=previous.primary if previous else None,
            checked_at=time.monotonic(),
        )
        self.decision = decision
        _log_changes(previous, decision)
        if self.on_decision is not None:
            try:
                result = self.on_decision(decision)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("mysql monitor: on_decision callback failed")
        return decision

    async def _observe(self, spec: ServerSpec) -> ServerObservation:
        # A kept connection may have died with a server restarted since the last round: then
        # one more try on a fresh connection, so that a restart is not reported as an outage.
        attempts = 2 if spec.name in self._connections else 1
        error = ""
        for _ in range(attempts):
            try:
                return await asyncio.wait_for(self._query(spec), self.timeout)
            except TimeoutError:
                error = f"no answer within {self.timeout:g}s"
                self._drop(spec.name)
                break  # a hung server: don't wait twice
            except (pymysql.err.MySQLError, OSError) as exc:
                error = describe(exc)
                # The connection may be mid-query or broken: never reuse it.
                self._drop(spec.name)
        return ServerObservation(
            spec.name, reachable=False, error=error, checked_at=time.monotonic()
        )

    async def _connection(self, spec: ServerSpec) -> aiomysql.Connection:
        connection = self._connections.get(spec.name)
        if connection is None or connection.closed:
            connection = await aiomysql.connect(
                host=spec.host,
                port=spec.port,
                user=self.user,
                password=self.password,
                connect_timeout=self.timeout,
                autocommit=True,
                ssl=self.ssl,
            )
            self._connections[spec.name] = connection
        return connection

    async def _query(self, spec: ServerSpec) -> ServerObservation:
        connection = await self._connection(spec)
        mariadb = "mariadb" in connection.get_server_info().lower()
        async with connection.cursor() as cursor:
            if mariadb:
                await cursor.execute(
                    "SELECT @@read_only, @@server_id, @@gtid_current_pos, @@gtid_slave_pos"
                )
                read_only, server_id, position, slave_pos = await cursor.fetchone()
            else:
                await cursor.execute("SELECT @@read_only, @@server_id, @@gtid_executed")
                read_only, server_id, position = await cursor.fetchone()
                slave_pos = None
        replication = await self._replication_status(connection, mariadb)
        return ServerObservation(
            spec.name,
            reachable=True,
            read_only=_flag(read_only),
            server_id=int(server_id) if server_id is not None else None,
            flavor="mariadb" if mariadb else "mysql",
            gtid_position=_text(position),
            gtid_slave_pos=_text(slave_pos),
            checked_at=time.monotonic(),
            **replication,
        )

    async def _replication_status(
        self, connection: aiomysql.Connection, mariadb: bool
    ) -> dict[str, Any]:
        """The replication fields of an observation, from SHOW SLAVE / REPLICA STATUS."""
        statement = "SHOW SLAVE STATUS" if mariadb else "SHOW REPLICA STATUS"
        try:
            async with connection.cursor(aiomysql.DictCursor) as cursor:
                await cursor.execute(statement)
                row = await cursor.fetchone()
        except (pymysql.err.OperationalError, pymysql.err.ProgrammingError) as exc:
            if is_connection_error(exc):  # the connection itself broke
                raise
            # Typically "Access denied; you need SLAVE MONITOR": the server is up.
            return {"replication_error": f"{statement}: {describe(exc)}"}
        if row is None:
            return {"replication_configured": False}
        seconds = _column(row, "Seconds_Behind_Master", "Seconds_Behind_Source")
        errors = [_text(_column(row, key)) or "" for key in ("Last_IO_Error", "Last_SQL_Error")]
        return {
            "replication_configured": True,
            "io_running": _text(_column(row, "Slave_IO_Running", "Replica_IO_Running")) == "Yes",
            "sql_running": _text(_column(row, "Slave_SQL_Running", "Replica_SQL_Running")) == "Yes",
            "seconds_behind": float(seconds) if seconds is not None else None,
            "replication_error": "; ".join(error for error in errors if error) or None,
        }

    def _drop(self, name: str) -> None:
        connection = self._connections.pop(name, None)
        if connection is not None:
            connection.close()


def _log_changes(previous: TopologyDecision | None, decision: TopologyDecision) -> None:
    """One log line per change a person would want to know about."""
    if previous is None or previous.primary != decision.primary:
        if decision.primary is None:
            log.warning("mysql: no primary available (writes will fail)")
        else:
            log.info("mysql: primary is %s", decision.primary)
    if decision.conflict and (previous is None or previous.conflict != decision.conflict):
        log.warning("mysql: %s", decision.conflict)
    before = {s.name: s for s in previous.servers} if previous else {}
    for server in decision.servers:
        old = before.get(server.name)
        if server.role == "replica" and (old is None or old.in_read_pool != server.in_read_pool):
            if server.in_read_pool:
                log.info("mysql: %s serves reads", server.name)
            else:
                log.warning("mysql: %s out of the read pool: %s", server.name, server.reason)
