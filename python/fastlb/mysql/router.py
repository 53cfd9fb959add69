"""`fastlb.mysql.Router`: read/write splitting inside an asyncio service, over aiomysql pools.

    async with Router(primary="127.0.0.1:3307", replicas=["127.0.0.1:3308"],
                      user="app", password="...", db="shop") as router:
        await router.execute("INSERT INTO orders (item) VALUES (%s)", ("book",))
        rows = await router.fetchall("SELECT * FROM orders")     # a replica, sees the insert
        async with router.transaction() as tx:                    # one primary connection
            await tx.execute("UPDATE stock SET n = n - 1 WHERE item = %s", ("book",))

Each statement is routed by the proxy's own policy (`fastlb._core.RoutingPolicy`: the same
classifier and the same compiled user rules, first); replica reads are spread by weighted
round-robin over the replicas the topology monitor (`monitor.py`) keeps in the read pool.
With `causal_reads="session"`, a read that follows a write of the same asyncio context (task)
waits on the replica for that write's GTID (MASTER_GTID_WAIT, `causal_wait_timeout`), else
reads from the primary. Reads fall back to
the primary when no replica is usable (none, lagging, down, or failing right now); writes
raise `fastlb.errors.NoPrimaryError` (a ConnectionError) when there is no primary.

Every statement runs in autocommit on a pooled connection, so statements whose effect lives
on one connection are refused with a clear error (ValueError) and belong in a block:
`transaction()` (BEGIN ... COMMIT, or ROLLBACK on an exception) or `session()` (one primary
connection, for SET, temporary tables, GET_LOCK, user variables).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, Literal

import aiomysql

from .._core import MAX_WEIGHT, RoutingPolicy, StatementClass, WeightedRoundRobin
from ..config_mysql import MysqlConfig, MysqlRule, MysqlUser
from ..config_types import split_host_port
from ..errors import BackendUnavailableError, NoPrimaryError, NotRunningError
from . import gtid
from .connections import (
    CausalPosition,
    ExecuteResult,
    Fetch,
    describe,
    is_connection_error,
    last_gtid,
    run_statement,
    wait_for_gtid,
)
from .monitor import TopologyMonitor
from .session import BLOCK_KINDS, Held, Session, statement_summary
from .topology import ServerObservation, ServerSpec, TopologyDecision, decide

if TYPE_CHECKING:
    from ..config import BackendConfig

__all__ = ["ExecuteResult", "Router", "Session"]

log = logging.getLogger("fastlb.mysql")

RouteName = Literal["primary", "replica"]
CausalReads = Literal["session", "off"]
PrimaryFailure = Literal["error_on_write", "fail_on_write", "fail_instantly"]


def _spec(
    item: str | tuple[str, int] | ServerSpec, role: Literal["primary", "replica"]
) -> ServerSpec:
    """A ServerSpec from `host:port`, `(host:port, weight)` or a ServerSpec (its role set)."""
    if isinstance(item, ServerSpec):
        return replace(item, role=role)
    address, weight = (item, 1) if isinstance(item, str) else item
    host, port = split_host_port(address)
    if not 0 <= weight <= MAX_WEIGHT:
        raise ValueError(
            f"replica {address}: weight must be between 0 and {MAX_WEIGHT} (got {weight})"
        )
    return ServerSpec(address, host, port, role=role, weight=weight)


class Router:
    """Routes statements between a primary and replicas; see the module docstring."""

    def __init__(
        self,
        primary: str | ServerSpec,
        replicas: Sequence[str | tuple[str, int] | ServerSpec] = (),
        *,
        user: str,
        password: str,
        db: str | None = None,
        causal_reads: CausalReads = "session",
        max_replication_lag: float = 5.0,
        rules: Sequence[tuple[str, RouteName]] = (),
        monitor_interval: float | None = 1.0,
        monitor_user: str | None = None,
        monitor_password: str | None = None,
        monitor_timeout: float | None = None,
        monitor_failcount: int = 3,
        primary_failure: PrimaryFailure = "error_on_write",
        pool_size: int = 10,
        connect_timeout: float = 2.0,
        causal_wait_timeout: float = 1.0,
        charset: str = "utf8mb4",
        ssl: SSLContext | None = None,
    ) -> None:
        if causal_reads not in ("session", "off"):
            raise ValueError(f"causal_reads must be 'session' or 'off' (got {causal_reads!r})")
        if primary_failure not in ("error_on_write", "fail_on_write", "fail_instantly"):
            raise ValueError(
                "primary_failure must be error_on_write, fail_on_write or fail_instantly "
                f"(got {primary_failure!r})"
            )
        if monitor_interval is not None and monitor_interval <= 0:
            raise ValueError(f"monitor_interval must be positive or None (got {monitor_interval})")
        self.specs = (_spec(primary, "primary"), *(_spec(r, "replica") for r in replicas))
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"server names must be unique (got {names})")
        self.user, self.password, self.db = user, password, db
        self.causal_reads: CausalReads = causal_reads
        self.max_replication_lag = max_replication_lag
        # The rules go to the core as they go to the proxy: validated by the same model,
        # compiled by the same code (ValueError naming a rule that doesn't compile).
        section = MysqlConfig(
            users=[MysqlUser(user=user, password=password)],
            causal_reads=causal_reads,
            primary_failure=primary_failure,
            rules=[MysqlRule(match=match, route=route) for match, route in rules],
        )
        self.rules: tuple[tuple[str, RouteName], ...] = tuple(
            (rule.match, rule.route) for rule in section.rules
        )
        self._policy = RoutingPolicy(json.dumps(section.to_core_dict()))
        self.monitor_interval = monitor_interval
        self.monitor_timeout, self.monitor_failcount = monitor_timeout, monitor_failcount
        self.monitor_user = monitor_user or user
        self.monitor_password = (monitor_password or "") if monitor_user else password
        self.primary_failure: PrimaryFailure = primary_failure
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.causal_wait_timeout = causal_wait_timeout
        self.charset = charset
        #: TLS to the servers (pools and monitor); None: plaintext.
        self.ssl = ssl

        self._pools: dict[str, aiomysql.Pool] = {}
        self._monitor: TopologyMonitor | None = None
        self._decision: TopologyDecision | None = None
        self._rotation = WeightedRoundRobin({spec.name: 0 for spec in self.specs})
        self._position = CausalPosition()
        self._queries: Counter[str] = Counter()
        self._servers: Counter[str] = Counter()
        self._events: Counter[str] = Counter()

    @classmethod
    def from_config(
        cls,
        backend: BackendConfig | Mapping[str, Any],
        *,
        user: str | None = None,
        **overrides: Any,
    ) -> Router:
        """A Router for one `mode: mysql` backend of the proxy's configuration (the validated
        `BackendConfig`, or a mapping validated into one); see `router_config.py`."""
        from .router_config import router_arguments

        return cls(**{**router_arguments(backend, user=user), **overrides})

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Router:
        """Opens the pools (lazily connecting) and runs the monitor's first round."""
        if self._pools:
            return self
        try:
            for spec in self.specs:
                self._pools[spec.name] = await aiomysql.create_pool(
                    minsize=0,
                    maxsize=self.pool_size,
                    host=spec.host,
                    port=spec.port,
                    user=self.user,
                    password=self.password,
                    db=self.db,
                    autocommit=True,
                    connect_timeout=self.connect_timeout,
                    charset=self.charset,
                    ssl=self.ssl,
                )
            if self.monitor_interval is None:
                self._apply(self._static_decision())
            else:
                self._monitor = TopologyMonitor(
                    self.specs,
                    user=self.monitor_user,
                    password=self.monitor_password,
                    interval=self.monitor_interval,
                    timeout=self.monitor_timeout,
                    failcount=self.monitor_failcount,
                    max_replication_lag=self.max_replication_lag,
                    on_decision=self._apply,
                    ssl=self.ssl,
                )
                await self._monitor.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Stops the monitor and closes every pooled connection. Idempotent."""
        if self._monitor is not None:
            await self._monitor.stop()
            self._monitor = None
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
            await pool.wait_closed()

    async def __aenter__(self) -> Router:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _static_decision(self) -> TopologyDecision:
        """Without a monitor: the configured roles, every replica serving."""
        observations = {
            spec.name: ServerObservation(
                spec.name,
                reachable=True,
                read_only=spec.role != "primary",
                replication_configured=spec.role != "primary",
                io_running=True,
                sql_running=True,
                seconds_behind=0.0,
            )
            for spec in self.specs
        }
        return decide(self.specs, observations, max_replication_lag=self.max_replication_lag)

    def _apply(self, decision: TopologyDecision) -> None:
        """The monitor's callback: the primary and the read pool's weights."""
        self._decision = decision
        for spec in self.specs:
            weight = spec.weight if spec.name in decision.read_pool else 0
            self._rotation.set_weight(spec.name, weight)

    # --- statements ------------------------------------------------------------------------

    async def execute(self, sql: str, args: Any = None) -> ExecuteResult:
        """Runs one statement; its rowcount and lastrowid (as a cursor has them)."""
        result = await self._statement(sql, args, "none")
        assert isinstance(result, ExecuteResult)
        return result

    async def fetchall(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Runs one query; all its rows."""
        return list(await self._statement(sql, args, "all"))

    async def fetchone(self, sql: str, args: Any = None) -> tuple[Any, ...] | None:
        """Runs one query; its first row, or None."""
        row = await self._statement(sql, args, "one")
        return None if row is None else tuple(row)

    async def _statement(self, sql: str, args: Any, fetch: Fetch) -> Any:
        self._require_started()
        # Every statement here runs in autocommit on a pooled connection: a free session.
        routing = self._policy.decide(sql)
        statement = routing.statement
        self._refuse_connection_state(sql, statement)
        if routing.rule is not None:
            self._events["rules_matched"] += 1
        route = routing.target
        if self._decision_primary() is None and self.primary_failure == "fail_instantly":
            raise self._no_primary("any statement (primary_failure: fail_instantly)")
        if route == "replica":
            held = await self._replica_connection()
            if held is not None:
                done, result = await self._run_on_replica(held, sql, args, fetch)
                if done:
                    return result
            return await self._on_primary(sql, args, fetch, statement, reading=True)
        return await self._on_primary(sql, args, fetch, statement, reading=False)

    def _refuse_connection_state(self, sql: str, statement: StatementClass) -> None:
        summary = statement_summary(sql)
        if statement.kind in BLOCK_KINDS:
            raise ValueError(
                f"{summary!r}: every statement through the Router runs in autocommit on a "
                "pooled connection; use `async with router.transaction()` for a transaction"
            )
        if statement.kind == "session_state" or statement.pins_primary:
            raise ValueError(
                f"{summary!r} leaves state on one connection, which a pool does not keep; "
                "run it inside `async with router.session()` (or `transaction()`)"
            )

    async def _run_on_replica(
        self, held: Held, sql: str, args: Any, fetch: Fetch
    ) -> tuple[bool, Any]:
        """(True, result), or (False, None) when the replica failed as a connection."""
        try:
            result = await run_statement(held.connection, sql, args, fetch)
        except Exception as exc:
            if not is_connection_error(exc):
                await self._release(held)
                raise
            await self._release(held, discard=True)
            self._replica_failed(held.name, exc)
            return False, None
        await self._release(held)
        self._count(held.name)
        return True, result

    async def _on_primary(
        self, sql: str, args: Any, fetch: Fetch, statement: StatementClass, *, reading: bool
    ) -> Any:
        held = await self._primary_connection("reads" if reading else "writes", sql)
        try:
            result = await run_statement(held.connection, sql, args, fetch)
            if statement.kind != "read":
                await self._track_gtid(held.connection)
        except Exception as exc:
            await self._release(held, discard=is_connection_error(exc))
            if is_connection_error(exc):
                self._events["no_primary"] += 1
                raise NoPrimaryError(
                    f"the connection to the MySQL primary {held.name} failed during "
                    f"{statement_summary(sql)!r} (it may or may not have been applied): "
                    f"{describe(exc)}"
                ) from exc
            raise
        await self._release(held)
        self._count(held.name)
        return result

    # --- blocks ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[Session]:
        """A transaction on one connection: the primary, or with `read_only=True` a replica
        (START TRANSACTION READ ONLY; the primary when no replica is usable). Commits when the
        block ends, rolls back when it raises."""
        self._require_started()
        held = await self._replica_connection() if read_only else None
        if held is None:
            held = await self._primary_connection("transactions", "BEGIN")
        session = Session(held, transaction=True, count=self._count, track_gtid=self._track_gtid)
        self._events["transactions"] += 1
        try:
            await run_statement(
                held.connection,
                "START TRANSACTION READ ONLY" if read_only else "START TRANSACTION",
                None,
                "none",
            )
            yield session
        except BaseException:
            with contextlib.suppress(Exception):
                await held.connection.rollback()
            await self._release(held, discard=True)
            raise
        try:
            await held.connection.commit()
            if session.wrote:
                await self._track_gtid(held.connection)
        except BaseException:
            await self._release(held, discard=True)
            raise
        await self._release(held, discard=session.dirty)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """One primary connection in autocommit for the block: for SET, USE, temporary
        tables, GET_LOCK, user variables, LOCK TABLES. The connection is closed afterwards
        (its state must not leak into the pool)."""
        self._require_started()
        held = await self._primary_connection("sessions", "session()")
        try:
            yield Session(held, transaction=False, count=self._count, track_gtid=self._track_gtid)
        finally:
            await self._release(held, discard=True)

    # --- connections -----------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self._pools:
            raise NotRunningError("the Router is not started: use `async with Router(...)`")

    def _decision_primary(self) -> str | None:
        return self._decision.primary if self._decision else None

    async def _replica_connection(self) -> Held | None:
        """A replica connection, causally caught up when needed; None to use the primary."""
        wanted = self._position.get() if self.causal_reads == "session" else ""
        for _ in range(len(self.specs)):
            name = self._rotation.pick()
            if name is None:
                self._events["fallback_no_replica"] += 1
                return None
            try:
                held = Held(name, await self._pools[name].acquire())
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                self._replica_failed(name, exc)
                continue
            if not wanted or self._replica_has(name, wanted):
                return held
            self._events["causal_waits"] += 1
            try:
                caught_up = await wait_for_gtid(held.connection, wanted, self.causal_wait_timeout)
            except Exception as exc:
                await self._release(held, discard=True)
                if not is_connection_error(exc):
                    raise
                self._replica_failed(name, exc)
                continue
            if caught_up:
                return held
            await self._release(held)
            self._events["fallback_causal_timeout"] += 1
            return None
        return None

    def _replica_has(self, name: str, wanted: str) -> bool:
        """The monitor saw `name` at a position that covers `wanted` (no wait needed)."""
        seen = self._monitor.observations.get(name) if self._monitor else None
        if seen is None or not seen.gtid_position or seen.flavor != "mariadb":
            return False
        try:
            return gtid.covers(seen.gtid_position, wanted)
        except ValueError:
            return False

    def _replica_failed(self, name: str, exc: BaseException) -> None:
        """A replica failed as a connection: out of the rotation until the next decision."""
        self._events["fallback_replica_error"] += 1
        self._rotation.set_weight(name, 0)
        log.warning("mysql router: replica %s failed (%s); reading elsewhere", name, describe(exc))

    async def _primary_connection(self, what: str, sql: str) -> Held:
        name = self._decision_primary()
        if name is None:
            raise self._no_primary(what)
        try:
            return Held(name, await self._pools[name].acquire())
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            self._events["no_primary"] += 1
            raise NoPrimaryError(
                f"no MySQL primary is available for {statement_summary(sql)!r}: "
                f"{name} does not answer ({describe(exc)})"
            ) from exc

    def _no_primary(self, what: str) -> BackendUnavailableError:
        self._events["no_primary"] += 1
        reasons = "; ".join(
            f"{server.name}: {server.reason or 'read-only'}"
            for server in (self._decision.servers if self._decision else ())
        )
        if what == "reads":
            return BackendUnavailableError(
                f"no MySQL server can serve this read: no replica is usable and there is no "
                f"primary ({reasons})"
            )
        return NoPrimaryError(
            f"no MySQL primary is available for {what} ({reasons}); reads still go to replicas"
        )

    async def _release(self, held: Held, *, discard: bool = False) -> None:
        if discard:
            held.connection.close()
        pool = self._pools.get(held.name)
        if pool is not None:
            await pool.release(held.connection)

    async def _track_gtid(self, connection: aiomysql.Connection) -> None:
        """After a write: remember its GTID for this context's next reads."""
        if self.causal_reads == "session":
            self._position.advance(await last_gtid(connection))

    # --- introspection ---------------------------------------------------------------------

    def _count(self, name: str) -> None:
        route = "primary" if name == self._decision_primary() else "replica"
        self._queries[route] += 1
        self._servers[name] += 1

    @property
    def topology(self) -> TopologyDecision | None:
        """The monitor's latest decision (None before `start()`)."""
        return self._decision

    def stats(self) -> dict[str, Any]:
        """Counters since start: statements per route and per server, fallbacks to the
        primary and why, causal waits, rule hits, transactions, no-primary errors; and the
        current topology."""
        events = self._events
        return {
            "queries": {"primary": self._queries["primary"], "replica": self._queries["replica"]},
            "servers": dict(self._servers),
            "fallbacks": {
                "no_replica": events["fallback_no_replica"],
                "replica_error": events["fallback_replica_error"],
                "causal_timeout": events["fallback_causal_timeout"],
            },
            "causal_waits": events["causal_waits"],
            "rules_matched": events["rules_matched"],
            "transactions": events["transactions"],
            "no_primary_errors": events["no_primary"],
            "topology": self._decision.to_dict() if self._decision else None,
        }
