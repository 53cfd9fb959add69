"""One MySQL backend's failover orchestration, driven by its topology monitor.

- `on_round(decision)`: called with every monitor round before the decision reaches the core.
  Fences (read_only=1) a returning old primary and any other writable non-primary at once,
  rejoins a fenced old primary when its GTID history allows (else a `diverged` event, and
  it stays out of the pool), and runs the failover when `detection` declares the primary
  dead. While a switchover or failover is under way the monitor's decisions are not applied
  (the controller routes itself).
- `switchover(to)`: the planned change, with writes held in the core's write gate.

Only a node that may act (no VRRP pair, or the VRRP MASTER) changes servers; a BACKUP node
only follows the topology the monitor sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...config_mysql_failover import MysqlFailoverConfig
from ...notify_command import NotifyCommand
from ..topology import ServerSpec, TopologyDecision
from . import admin
from .detection import PrimaryLossDetector, lost_transactions, pick_candidate
from .events import Event, EventLog

if TYPE_CHECKING:
    import aiomysql

    from ..._core import Engine
    from ..monitor import TopologyMonitor

__all__ = ["FailoverController", "SwitchoverError"]

log = logging.getLogger("fastlb.mysql.failover")

# How long a failover lets each replica apply the relay log it already received.
DRAIN_TIMEOUT = 5.0
# How long a switchover lets writes already past the gate reach the old primary.
IN_FLIGHT_GRACE = 0.05
# How long a stopping fastlb lets queued notify commands finish.
NOTIFY_GRACE = 2.0


class SwitchoverError(RuntimeError):
    """A switchover was refused or failed (the message says why; writes were released)."""


class FailoverController:
    def __init__(
        self,
        backend: str,
        config: MysqlFailoverConfig,
        monitor: TopologyMonitor,
        engine: Engine,
        admin_login: admin.Admin,
        may_act: Callable[[], bool] = lambda: True,
    ) -> None:
        self.backend = backend
        self.config = config
        self.monitor = monitor
        self.engine = engine
        self.admin = admin_login
        self.may_act = may_act
        self.notifier = NotifyCommand(config.notify, f"mysql {backend}") if config.notify else None
        self.events = EventLog(backend, self._notify if self.notifier else None)
        self.detector = PrimaryLossDetector(config.failcount)
        self.login = admin.ReplicationLogin(
            config.replication_user or "", config.replication_password
        )
        self._lock = asyncio.Lock()
        #: The primary as last known (kept while it is dead: the one failed over from);
        #: the configured one until the monitor saw one.
        self.primary: str | None = next(
            (spec.name for spec in monitor.servers if spec.role == "primary"), None
        )
        self._primary_seen_at: float | None = None
        #: Former primaries not yet rejoined: fenced on sight, never routed to.
        self.pending_rejoin: set[str] = set()
        #: Former primaries with transactions the new primary never had: kept out.
        self.diverged: set[str] = set()
        #: The promoted server's position at promotion (what a returning old primary may
        #: hold without having diverged).
        self.promoted_at: str | None = None
        self._lags: dict[str, float | None] = {}
        #: When this controller last pointed the core at a new primary (monotonic).
        self._routed_at = 0.0

    def _notify(self, event: Event) -> None:
        """The `notify` command with EVENT BACKEND SERVER GTID (config_mysql_failover.py)."""
        assert self.notifier is not None
        args = [event.kind, self.backend, event.server or "", event.gtid or ""]
        env = {
            "FASTLB_MYSQL_EVENT": event.kind,
            "FASTLB_MYSQL_BACKEND": self.backend,
            "FASTLB_MYSQL_SERVER": event.server or "",
            "FASTLB_MYSQL_GTID": event.gtid or "",
            "FASTLB_MYSQL_MESSAGE": event.message,
            "FASTLB_MYSQL_TIME": f"{event.at:.3f}",
        }
        try:
            self.notifier.submit(args, env)
        except RuntimeError:
            # Recorded off an event loop (no caller does today): nothing can run it.
            log.error("mysql %s: notify for %s skipped: no event loop", self.backend, event.kind)

    @property
    def specs(self) -> dict[str, ServerSpec]:
        return {spec.name: spec for spec in self.monitor.servers}

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def kept_out(self) -> set[str]:
        return self.pending_rejoin | self.diverged

    # --- every monitor round ---------------------------------------------------------------

    async def on_round(self, decision: TopologyDecision) -> TopologyDecision | None:
        """The decision to apply (servers kept out removed from the pool), or None while a
        switchover/failover routes by itself."""
        if self.busy:
            return None
        if decision.primary is not None and decision.primary in self.kept_out():
            # A former primary, writable again before it was fenced, elected as the only
            # writable server: never routed to (it is fenced below).
            log.warning(
                "mysql %s: %s is writable but kept out: not the primary",
                self.backend,
                decision.primary,
            )
            decision = dataclasses.replace(decision, primary=None)
        now = time.monotonic()
        if decision.primary is not None:
            self.primary = decision.primary
            self._primary_seen_at = now
            self._lags = {s.name: s.lag_seconds for s in decision.servers}
        acting = self.config.mode != "off" and self.may_act()
        if acting:
            await self._fence_and_rejoin(decision)
            if (
                self.config.mode == "auto"
                and self.primary is not None
                and decision.primary is None
                and self.detector.observe(self.primary, self.monitor.observations, now)
            ):
                await self._failover(self.primary)
                return None
        if decision.primary is not None:
            self.detector.reset()
        return self._without_kept_out(decision)

    def as_routed(self, decision: TopologyDecision) -> TopologyDecision:
        """`decision` as this controller has the core apply it (for /api/stats)."""
        return self._without_kept_out(decision)

    def _without_kept_out(self, decision: TopologyDecision) -> TopologyDecision:
        out = self.kept_out()
        if not out:
            return decision
        servers = tuple(
            dataclasses.replace(s, in_read_pool=False, reason=self._why_out(s.name))
            if s.name in out and s.name != decision.primary
            else s
            for s in decision.servers
        )
        return dataclasses.replace(
            decision,
            servers=servers,
            read_pool=tuple(s.name for s in servers if s.in_read_pool),
        )

    def _why_out(self, name: str) -> str:
        if name in self.diverged:
            return "diverged: has transactions the new primary never had (kept out)"
        return "former primary, fenced read-only, waiting to rejoin"

    async def _fence_and_rejoin(self, decision: TopologyDecision) -> None:
        observations = self.monitor.observations
        for name, seen in observations.items():
            if not seen.reachable or name == decision.primary:
                continue
            kept_out = name in self.kept_out()
            writable = seen.read_only is False
            if writable and (kept_out or self.config.enforce_read_only_replicas):
                await self._fence(name)
            if name in self.pending_rejoin and decision.primary is not None:
                await self._try_rejoin(name, decision.primary)

    async def _fence(self, name: str) -> None:
        try:
            connection = await self.admin.connect(self.specs[name])
            try:
                await admin.set_read_only(connection, True)
            finally:
                connection.close()
        except Exception as exc:
            log.warning("mysql %s: fencing %s failed: %s", self.backend, name, exc)
            return
        self.events.record("fenced", name, f"{name} was writable: set read_only=1")

    async def _try_rejoin(self, name: str, primary: str) -> None:
        specs = self.specs
        try:
            connection = await self.admin.connect(specs[name])
        except Exception as exc:
            log.info("mysql %s: %s not reachable for rejoin: %s", self.backend, name, exc)
            return
        try:
            position = await admin.binlog_position(connection)
            lost = lost_transactions(position, self.promoted_at or "")
            if lost:
                self.pending_rejoin.discard(name)
                self.diverged.add(name)
                self.events.record(
                    "diverged",
                    name,
                    f"{name} returned with {lost} transaction(s) {primary} never received "
                    f"(its position {position}, promoted at {self.promoted_at}): lost by the "
                    "failover; kept out of the pool (rebuild it from the primary)",
                    position,
                )
                return
            if not self.config.auto_rejoin:
                return
            await admin.repoint(connection, specs[primary], self.login, former_primary=True)
            self.pending_rejoin.discard(name)
            self.events.record("rejoined", name, f"{name} replicates from {primary}", position)
        except Exception as exc:
            log.warning("mysql %s: rejoining %s failed: %s", self.backend, name, exc)
        finally:
            connection.close()

    # --- failover --------------------------------------------------------------------------

    async def _failover(self, old: str) -> None:
        async with self._lock:
            started = self._primary_seen_at or time.monotonic()
            self.events.record(
                "failover_started",
                old,
                f"{old} unreachable for {self.detector.rounds} round(s) and lost by every replica",
            )
            specs = self.specs
            candidates = [
                name
                for name, seen in self.monitor.observations.items()
                if seen.reachable and name != old and name not in self.kept_out()
            ]
            connections: dict[str, aiomysql.Connection] = {}
            try:
                for name in candidates:
                    with contextlib.suppress(Exception):
                        connections[name] = await self.admin.connect(specs[name])
                # Before anything changes on a server: another node failing over now (both
                # halves of a partitioned pair are MASTER) holds the replicas' locks.
                if not await self._lock_replicas(connections):
                    return
                if await self._promoted_elsewhere(connections, old):
                    return
                drained = await asyncio.gather(
                    *(admin.stop_io_and_drain(c, DRAIN_TIMEOUT) for c in connections.values()),
                    return_exceptions=True,
                )
                positions = {
                    name: position
                    for name, position in zip(connections, drained, strict=True)
                    if isinstance(position, str)
                }
                chosen = pick_candidate(
                    [spec.name for spec in self.monitor.servers],
                    positions,
                    promotion_order=self.config.promotion_order,
                    lags=self._lags,
                    max_lag=self.config.max_lag_to_promote,
                )
                if chosen is None:
                    self.events.record(
                        "failover_failed", old, "no replica may be promoted (see the topology)"
                    )
                    for connection in connections.values():
                        with contextlib.suppress(Exception):
                            await admin.restart_replication(connection)
                    return
                if await self._promoted_elsewhere(connections, old):
                    return
                self.promoted_at = await admin.promote(connections[chosen])
                self._route(chosen, old)
                self.pending_rejoin.add(old)
                self.primary = chosen
                self.detector.reset()
                outage = time.monotonic() - started
                self.events.add_outage(outage, failover=True)
                self.events.record(
                    "promoted",
                    chosen,
                    f"{chosen} promoted after {old} failed (writes unavailable {outage:.2f}s)",
                    self.promoted_at,
                )
                await self._repoint_others(connections, chosen, skip={chosen})
            except Exception as exc:
                self.events.record("failover_failed", old, f"failover failed: {exc}")
                log.exception("mysql %s: failover failed", self.backend)
                # Back to replicating (the old primary may return); retried only after
                # another `failcount` rounds.
                self.detector.reset()
                for name, connection in connections.items():
                    if name != self.primary:
                        with contextlib.suppress(Exception):
                            await admin.restart_replication(connection)
            finally:
                for connection in connections.values():
                    connection.close()

    async def _lock_replicas(self, connections: dict[str, aiomysql.Connection]) -> bool:
        """Takes the backend's failover lock on every reachable replica, in name order and
        without waiting, held until the connections close (after the re-pointing). Two nodes
        that both think they are VRRP MASTER (a partition between them) then cannot both
        promote: the one that misses a lock changes nothing and follows; when it gets them
        after the other finished, `_promoted_elsewhere` sees the promoted server."""
        held_elsewhere = await self._take_failover_lock(connections)
        if held_elsewhere is None:
            return True
        log.warning(
            "mysql %s: another node holds the failover lock on %s (failing over itself): following",
            self.backend,
            held_elsewhere,
        )
        self.detector.reset()
        return False

    async def _take_failover_lock(self, connections: dict[str, aiomysql.Connection]) -> str | None:
        """Takes the backend's failover lock on each server of `connections` (name order, no
        wait; held until the connection closes). None when every lock was taken, else the
        server whose lock another node holds (or that could not be asked)."""
        name = f"fastlb_failover_{self.backend}"[:64]  # MariaDB's limit for lock names
        for server in sorted(connections):
            try:
                locked = await admin.try_lock(connections[server], name)
            except Exception as exc:
                log.warning("mysql %s: failover lock on %s: %s", self.backend, server, exc)
                locked = False
            if not locked:
                return server
        return None

    async def _promoted_elsewhere(
        self, connections: dict[str, aiomysql.Connection], old: str
    ) -> bool:
        """Whether a replica is writable already: another node (the other half of a
        partitioned pair) promoted it. Then this node only follows: two promotions would
        be two primaries."""
        for name, connection in connections.items():
            with contextlib.suppress(Exception):
                if not await admin.is_read_only(connection):
                    log.warning(
                        "mysql %s: %s is writable already (promoted elsewhere): following",
                        self.backend,
                        name,
                    )
                    self.detector.reset()
                    return True
        return False

    def _route(self, primary: str, old: str) -> None:
        """Points the core at the new primary; everything else is out of the read pool until
        the monitor's next round judges it (reads meanwhile go to the primary)."""
        for spec in self.monitor.servers:
            role = "primary" if spec.name == primary else "replica"
            with contextlib.suppress(KeyError, ValueError):
                self.engine.set_topology(self.backend, spec.name, role, False, 0.0)
        self._routed_at = time.monotonic()
        decision = self.monitor.decision
        if decision is not None:
            # The monitor prefers its last primary when two servers are writable: make that
            # the promoted one, or an old primary restarted writable before its first round
            # would be elected again (and the new primary fenced).
            self.monitor.decision = dataclasses.replace(decision, primary=primary)
        log.info("mysql %s: writes now go to %s (was %s)", self.backend, primary, old)

    async def _repoint_others(
        self,
        connections: dict[str, aiomysql.Connection],
        primary: str,
        skip: set[str],
        former: str | None = None,
    ) -> None:
        target = self.specs[primary]
        for name, connection in connections.items():
            if name in skip:
                continue
            try:
                await admin.repoint(connection, target, self.login, former_primary=name == former)
            except Exception as exc:
                log.warning("mysql %s: re-pointing %s failed: %s", self.backend, name, exc)

    # --- switchover ------------------------------------------------------------------------

    async def switchover(self, to: str | None = None) -> dict[str, Any]:
        """Makes `to` (default: the best replica) the primary without losing writes."""
        if self.config.mode == "off":
            raise SwitchoverError(f"backend {self.backend}: mysql.failover.mode is off")
        if not self.may_act():
            raise SwitchoverError("this node is not the VRRP MASTER: switch over on the master")
        if self.busy:
            raise SwitchoverError(f"backend {self.backend}: a switchover or failover is running")
        async with self._lock:
            return await self._switchover(to)

    def _switchover_candidate(self, old: str, to: str | None) -> str:
        decision = self.monitor.decision
        assert decision is not None
        specs = self.specs
        if to is not None:
            if to not in specs:
                raise SwitchoverError(f"backend {self.backend} has no server {to!r}")
            if to == old:
                raise SwitchoverError(f"{to} is already the primary")
            if to in self.kept_out():
                raise SwitchoverError(f"{to} is kept out: {self._why_out(to)}")
            server = decision.server(to)
            if not server.reachable:
                raise SwitchoverError(f"{to} is unreachable: {server.reason}")
            lag = server.lag_seconds
            if lag is None or lag > self.config.max_lag_to_promote:
                raise SwitchoverError(
                    f"{to} lags {lag if lag is not None else 'an unknown time'} s "
                    f"(max_lag_to_promote {self.config.max_lag_to_promote:g}s)"
                )
            return to
        positions = {
            name: self.monitor.observations[name].gtid_position
            for name in decision.read_pool
            if name in self.monitor.observations and name not in self.kept_out()
        }
        chosen = pick_candidate(
            [spec.name for spec in self.monitor.servers],
            positions,
            promotion_order=self.config.promotion_order,
            lags={s.name: s.lag_seconds for s in decision.servers},
            max_lag=self.config.max_lag_to_promote,
        )
        if chosen is None:
            raise SwitchoverError("no replica is healthy enough to become the primary")
        return chosen

    async def _switchover(self, to: str | None) -> dict[str, Any]:
        decision = self.monitor.decision
        if decision is not None and (
            decision.primary != self.primary or decision.checked_at <= self._routed_at
        ):
            # The last switchover or failover came after the monitor's latest round (a
            # second switchover right after the first): judge from a fresh round, never
            # from the topology before the change.
            decision = await self.monitor.check()
        if decision is None or decision.primary is None:
            raise SwitchoverError(f"backend {self.backend} has no primary to switch from")
        old = decision.primary
        new = self._switchover_candidate(old, to)
        specs = self.specs
        old_connection = await self.admin.connect(specs[old])
        new_connection = await self.admin.connect(specs[new])
        # The lock a failover takes, on both servers this changes: a failover or switchover
        # by another node (the other half of a partitioned pair) is refused, not raced.
        held_elsewhere = await self._take_failover_lock({old: old_connection, new: new_connection})
        if held_elsewhere is not None:
            old_connection.close()
            new_connection.close()
            raise SwitchoverError(
                f"another node holds the failover lock on {held_elsewhere} (it is failing "
                "over or switching over): nothing changed"
            )
        self.events.record("switchover_started", new, f"switchover from {old} to {new}")
        timeout = self.config.switchover_timeout
        started = time.monotonic()
        self.engine.hold_writes(self.backend, timeout)
        promoted = False
        try:
            # Statements that passed the gate just before the hold are still on their way
            # to the old primary: let them land before it turns read-only.
            await asyncio.sleep(IN_FLIGHT_GRACE)
            await admin.set_read_only(old_connection, True)
            await admin.kill_client_connections(old_connection, {self.admin.user, self.login.user})
            position = await admin.binlog_position(old_connection)
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0 or not await admin.wait_applied(new_connection, position, remaining):
                raise SwitchoverError(f"{new} did not apply {old}'s position {position} in time")
            self.promoted_at = await admin.promote(new_connection)
            promoted = True
            self._route(new, old)
            self.primary = new
        except Exception as exc:
            if not promoted:
                with contextlib.suppress(Exception):
                    await admin.set_read_only(old_connection, False)
            self.engine.release_writes(self.backend)
            old_connection.close()
            new_connection.close()
            self.events.record("switchover_failed", new, f"switchover to {new} failed: {exc}")
            if isinstance(exc, SwitchoverError):
                raise
            raise SwitchoverError(f"switchover to {new} failed: {exc}") from exc
        self.engine.release_writes(self.backend)
        pause = time.monotonic() - started
        self.events.add_outage(pause, failover=False)
        self.events.record(
            "promoted",
            new,
            f"{new} promoted by switchover (writes held {pause:.3f}s)",
            self.promoted_at,
        )
        connections = {old: old_connection}
        try:
            for name in specs:
                if name not in (old, new) and name not in self.kept_out():
                    with contextlib.suppress(Exception):
                        connections[name] = await self.admin.connect(specs[name])
            await self._repoint_others(connections, new, skip=set(), former=old)
        finally:
            for connection in (*connections.values(), new_connection):
                connection.close()
        return {
            "backend": self.backend,
            "primary": new,
            "previous": old,
            "gtid": self.promoted_at,
            "write_pause_seconds": pause,
        }

    async def close(self) -> None:
        """At stop: notify commands already queued get a moment to run (the last event is
        often the one a person must hear of), then the rest is dropped."""
        if self.notifier is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.notifier.wait_idle(), NOTIFY_GRACE)
            self.notifier.close()

    def _write_hold(self) -> dict[str, Any] | None:
        try:
            return self.engine.write_gate(self.backend)
        except Exception:  # a stopped engine: the stats still render
            return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "mode": self.config.mode,
            "busy": self.busy,
            "kept_out": sorted(self.kept_out()),
            "diverged": sorted(self.diverged),
            "write_hold": self._write_hold(),
            **self.events.snapshot(),
        }
