"""Keeps the core in step with the MySQL topology: runs the topology monitor (`monitor.py`)
of every MySQL backend that has a `monitor:` section, and pushes each decision into the
core: roles (a promoted replica becomes the primary), read-pool membership (lagging or
broken replicas leave it) and lag.

The monitors run on their own asyncio loop in one daemon thread, so that they work the same
under `fastlb serve` and in an embedding program; the core never waits for them (a decision
is a few atomic stores).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..config import split_host_port
from ..errors import UnknownServerError
from .failover import FailoverController, SwitchoverError
from .failover.admin import Admin
from .monitor import TopologyMonitor
from .topology import ServerSpec, TopologyDecision

if TYPE_CHECKING:
    from .._core import Engine
    from ..config import BackendConfig, Config

__all__ = ["TopologyMonitors"]

log = logging.getLogger("fastlb.mysql")

# How long stop() waits for the monitors' connections to close.
STOP_TIMEOUT = 5.0


def _specs(backend: BackendConfig) -> list[ServerSpec]:
    specs = []
    for server in backend.servers:
        host, port = split_host_port(server.address)
        specs.append(ServerSpec(server.name, host, port, server.role or "replica", server.weight))
    return specs


def apply_decision(engine: Engine, backend: str, decision: TopologyDecision) -> None:
    """Tells the core what the monitor decided about each server of `backend`.

    Only the core's UnknownServerError is expected (a reload removed the server, or its
    backend, while this round ran) and skipped; any other refusal (an UnknownRoleError) is
    a bug in the monitor and raises."""
    for server in decision.servers:
        try:
            engine.set_topology(
                backend, server.name, server.role, server.in_read_pool, server.lag_seconds
            )
        except UnknownServerError as exc:
            log.debug("mysql monitor: %s/%s not applied: %s", backend, server.name, exc)


class TopologyMonitors:
    """The monitors of one running configuration (see the module docstring)."""

    def __init__(
        self, config: Config, engine: Engine, may_act: Callable[[], bool] = lambda: True
    ) -> None:
        self._engine = engine
        self._monitors: dict[str, TopologyMonitor] = {}
        #: Failover controllers of backends with a `mysql.failover` section (mode not off).
        self.controllers: dict[str, FailoverController] = {}
        for backend in config.backends:
            mysql = backend.mysql
            if mysql is None or mysql.monitor is None:
                continue
            self._monitors[backend.name] = TopologyMonitor(
                _specs(backend),
                user=mysql.monitor.user,
                password=mysql.monitor.password,
                interval=mysql.monitor.interval,
                timeout=mysql.monitor.timeout,
                max_replication_lag=mysql.max_replication_lag,
                on_decision=self._applier(backend.name),
                ssl=backend.tls.ssl_context() if backend.tls is not None else None,
                failcount=mysql.monitor.failcount,
                activity=self._activity(backend.name),
            )
            failover = mysql.failover
            if failover is not None and failover.mode != "off":
                monitor = self._monitors[backend.name]
                self.controllers[backend.name] = FailoverController(
                    backend.name,
                    failover,
                    monitor,
                    engine,
                    Admin(mysql.monitor.user, mysql.monitor.password, monitor.timeout, monitor.ssl),
                    may_act,
                )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def _applier(self, backend: str) -> Callable[[TopologyDecision], Awaitable[None]]:
        async def apply(decision: TopologyDecision) -> None:
            controller = self.controllers.get(backend)
            if controller is not None:
                # Fencing and failover come before routing; None: the controller routes.
                adjusted = await controller.on_round(decision)
                if adjusted is None:
                    return
                decision = adjusted
            apply_decision(self._engine, backend, decision)

        return apply

    def _activity(self, backend: str) -> Callable[[], dict[str, int]]:
        """The statements each server of `backend` ran so far (passive evidence)."""

        def counts() -> dict[str, int]:
            # Imported here: fastlb.api imports FastAPI (and the speakers' metrics).
            from ..api.stats_models import StatsSnapshot

            servers = StatsSnapshot.model_validate(self._engine.stats()).backends[backend].servers
            return {
                name: server.mysql.queries
                for name, server in servers.items()
                if server.mysql is not None
            }

        return counts

    def start(self) -> None:
        """Starts the thread; returns once every monitor ran its first round (so that the
        core knows the topology before the caller goes on)."""
        if not self._monitors or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="fastlb-mysql-monitor", daemon=True)
        self._thread.start()
        self._started.wait(STOP_TIMEOUT + max(m.timeout for m in self._monitors.values()))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start_all())
        finally:
            self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._stop_all())
            loop.close()

    async def _start_all(self) -> None:
        for name, monitor in self._monitors.items():
            try:
                await monitor.start()
            except Exception:  # a monitor that can't start must not stop the others
                log.exception("mysql monitor of backend %s did not start", name)

    async def _stop_all(self) -> None:
        for monitor in self._monitors.values():
            await monitor.stop()
        for controller in self.controllers.values():
            await controller.close()

    def stop(self) -> None:
        """Stops every monitor and the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(STOP_TIMEOUT)

    def snapshot(self) -> dict[str, Any]:
        """The latest decision of each backend's monitor, and its failover controller's
        events and counters (for /api/stats)."""
        out: dict[str, Any] = {}
        for name, monitor in self._monitors.items():
            controller = self.controllers.get(name)
            decision = monitor.decision
            if decision is not None and controller is not None:
                # As the core was told: servers kept out say why (fenced, diverged).
                decision = controller.as_routed(decision)
            entry = decision.to_dict() if decision is not None else None
            if entry is not None and controller is not None:
                failover = controller.snapshot()
                entry["events"] = failover.pop("events")
                entry["failover"] = failover
            out[name] = entry
        return out

    def switchover(self, backend: str, to: str | None = None) -> dict[str, Any]:
        """Runs a switchover on the monitors' loop and waits for it (any thread).
        KeyError: no failover on `backend`; SwitchoverError: refused or failed."""
        controller = self.controllers.get(backend)
        loop = self._loop
        if controller is None:
            raise KeyError(f"backend {backend!r} has no mysql.failover (mode manual or auto)")
        if loop is None:
            raise SwitchoverError("the MySQL monitors are not running")
        future = asyncio.run_coroutine_threadsafe(controller.switchover(to), loop)
        # The hold is bounded by switchover_timeout; connecting and re-pointing add a little.
        return future.result(controller.config.switchover_timeout + 30.0)
