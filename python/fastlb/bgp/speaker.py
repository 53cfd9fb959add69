"""`BgpSpeaker`: the announcement machine (machine.py) on an asyncio loop, fed with the
node's health every 200 ms, carried out by the speaker daemon (bird.py or exabgp.py).

`prepare()` (blocking, any thread) finds the environment problems before anything listens;
`run()` then serves on the caller's loop until `request_stop()`: it puts the virtual IPs on
the interface, starts the daemon (restarting it if it dies), announces while healthy and
withdraws before it stops. `drain()` withdraws for good, from any thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bird import BirdDriver
from .config import BgpConfig, Speaker
from .exabgp import ExabgpDriver
from .machine import Announce, AnnounceMachine, Effect, NodeHealth
from .process import BgpError, find_program
from .vips import NodeAddresses

__all__ = ["BgpSpeaker", "HealthProbe"]

log = logging.getLogger("fastlb.bgp")

HealthProbe = Callable[[], tuple[NodeHealth, str]]
"""The node's health now, with the reason (see health.py)."""

HEALTH_POLL_SECONDS = 0.2
RESTART_DELAY = 1.0
# After a withdrawal, the time the routers take to act on it before this node may stop
# accepting (an UPDATE is one round trip; FRR installs it in the FIB within milliseconds).
WITHDRAW_SETTLE_SECONDS = 1.0

Driver = BirdDriver | ExabgpDriver


class BgpSpeaker:
    """Announces `config.virtual_ips` through the configured daemon while `health` says up."""

    def __init__(self, config: BgpConfig, health: HealthProbe) -> None:
        self.config = config
        self._health = health
        self.machine = AnnounceMachine(config.med, config.degraded_med)
        self._driver: Driver | None = None
        self._workdir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._done = threading.Event()
        self._changed: asyncio.Event | None = None
        # Effects decided outside _run_daemon's loop (health, drain), applied by it in order.
        self._pending: list[Effect] = []
        # Observed from other threads (stats): plain values, replaced whole.
        self.speaker_pid: int | None = None
        self.restarts = 0
        self.announcements = 0
        self.withdrawals = 0
        self.last_withdraw_at: float | None = None

    # ------------------------------------------------------------------ lifecycle

    def prepare(self) -> None:
        """Check that the daemon is installed; make its working directory (BgpError)."""
        if self.config.speaker is Speaker.BIRD:
            find_program("bird", "bird2")
        else:
            find_program("exabgp", "exabgp")
        self._workdir = Path(tempfile.mkdtemp(prefix="fastlb-bgp-"))

    async def run(self) -> None:
        """Serve on the running loop until `request_stop()`."""
        from pyroute2 import AsyncIPRoute

        if self._workdir is None:
            raise RuntimeError("prepare() first")
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self._stop_requested:  # request_stop() came before run(): see request_stop()
            self.close()
            return
        try:
            async with AsyncIPRoute() as ipr:
                addresses = NodeAddresses(ipr, self.config)
                await addresses.add()
                try:
                    await self._serve()
                finally:
                    await addresses.remove()
        finally:
            self.close()

    async def _serve(self) -> None:
        assert self._stop is not None and self._changed is not None and self._loop is not None
        log.info(
            "bgp: %s for %s as AS %d from %s to %s",
            self.config.speaker,
            ", ".join(str(vip.network) for vip in self.config.virtual_ips),
            self.config.local_as,
            self.config.local_address,
            ", ".join(f"{p.address} (AS {p.as_})" for p in self.config.peers),
        )
        health = self._loop.create_task(self._watch_health())
        try:
            while not self._stop.is_set():
                await self._run_daemon()
                if not self._stop.is_set():
                    self.restarts += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), RESTART_DELAY)
        finally:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health

    async def _run_daemon(self) -> None:
        """One life of the daemon: start it, follow the machine until stop or its death."""
        assert self._stop is not None and self._changed is not None and self._loop is not None
        assert self._workdir is not None
        driver: Driver = (
            BirdDriver(self.config, self._workdir)
            if self.config.speaker is Speaker.BIRD
            else ExabgpDriver(self.config, self._workdir)
        )
        try:
            await driver.start()
        except (OSError, BgpError) as exc:
            log.error("bgp: %s", exc)
            await driver.stop()
            return
        self._driver, self.speaker_pid = driver, driver.pid
        exited = self._loop.create_task(driver.wait())
        self.machine.announced_med = None  # a fresh daemon announces nothing yet
        health, reason = self._read_health()
        await self._apply(driver, self.machine.start(time.time(), health, reason))
        stop = self._loop.create_task(self._stop.wait())
        try:
            while not exited.done() and not self._stop.is_set():
                changed = self._loop.create_task(self._changed.wait())
                await asyncio.wait({exited, stop, changed}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                self._changed.clear()
                await self._apply(driver, self._pending)
                self._pending = []
        finally:
            stop.cancel()
            reason = "stopping" if self._stop.is_set() else f"{driver.name} exited"
            effects = self.machine.stop(time.time(), reason)
            if not exited.done():
                # Withdraw first, then stop: BIRD/ExaBGP send a Cease anyway, but an
                # explicit withdrawal reaches routers that keep stale routes (graceful
                # restart) too.
                await self._apply(driver, effects)
                await driver.stop()
            else:
                self._record(effects)
                log.error("bgp: %s exited with status %s; restarting", driver.name, exited.result())
                await driver.stop()
            self._driver, self.speaker_pid = None, None

    def request_stop(self) -> None:
        """Ask `run()` to withdraw and finish (thread-safe)."""
        self._stop_requested = True
        loop, stop = self._loop, self._stop
        if loop is None:
            self.close()
            return
        if stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def wait_stopped(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def close(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._done.set()

    def drain(self, timeout: float = 10.0) -> None:
        """Withdraw for good (thread-safe); returns once the machine decided it (the
        daemon is told right after, on the loop)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise BgpError("bgp: the speaker is not running")

        def start_drain() -> None:
            self._pending.extend(self.machine.drain(time.time()))
            if self._changed is not None:
                self._changed.set()

        future: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(
            self._call(start_drain), loop
        )
        future.result(timeout)

    @staticmethod
    async def _call(function: Callable[[], None]) -> None:
        function()

    # ------------------------------------------------------------------ health and effects

    def _read_health(self) -> tuple[NodeHealth, str]:
        try:
            return self._health()
        except Exception as exc:  # a probe that fails says the node cannot serve
            return NodeHealth.DOWN, f"health probe failed: {exc}"

    async def _watch_health(self) -> None:
        assert self._changed is not None
        while True:
            health, reason = self._read_health()
            if self._driver is not None:
                effects = self.machine.set_health(time.time(), health, reason)
                if effects:
                    self._pending.extend(effects)
                    self._changed.set()
            await asyncio.sleep(HEALTH_POLL_SECONDS)

    async def _apply(self, driver: Driver, effects: list[Effect]) -> None:
        for effect in effects:
            med = effect.med if isinstance(effect, Announce) else None
            try:
                await driver.apply(med)
            except (OSError, BgpError) as exc:
                log.error("bgp: %s could not apply %s: %s", driver.name, effect, exc)
        self._record(effects)

    def _record(self, effects: list[Effect]) -> None:
        prefixes = ", ".join(str(vip.network) for vip in self.config.virtual_ips)
        for effect in effects:
            if isinstance(effect, Announce):
                self.announcements += 1
                log.info("bgp: announce %s med %d (%s)", prefixes, effect.med, effect.reason)
            else:
                self.withdrawals += 1
                self.last_withdraw_at = time.time()
                log.warning("bgp: withdraw %s (%s)", prefixes, effect.reason)

    # ------------------------------------------------------------------ observation

    def snapshot(self) -> dict[str, Any]:
        """The state for /api/stats: settings, sessions, what is announced, history."""
        machine = self.machine
        driver = self._driver
        sessions = driver.sessions if driver is not None else {}
        bfd = driver.bfd_sessions if driver is not None else {}
        prefixes = [str(vip.network) for vip in self.config.virtual_ips]
        return {
            **self.config.summary(),
            "state": "draining"
            if machine.draining
            else ("announced" if machine.announced else "withdrawn"),
            "announced": prefixes if machine.announced else [],
            "withdrawn": [] if machine.announced else prefixes,
            "announced_med": machine.announced_med,
            "health": str(machine.health),
            "health_reason": machine.health_reason,
            "draining": machine.draining,
            "speaker_pid": self.speaker_pid,
            "speaker_restarts": self.restarts,
            "peers": [
                {
                    "address": str(peer.address),
                    "as": peer.as_,
                    "state": sessions.get(str(peer.address), "idle"),
                    "bfd": bfd.get(str(peer.address), "down") if self.config.bfd else None,
                }
                for peer in self.config.peers
            ],
            "announcements": self.announcements,
            "withdrawals": self.withdrawals,
            "history": list(machine.history),
        }
