"""`VrrpSpeaker`: one VRRPv3 virtual router on an asyncio loop.

It feeds the state machine (machine.py) with advertisements from the raw socket, its own
timers and the load balancer's health, and carries out what the machine decides: send an
advertisement, add the virtual IPs and announce them with gratuitous ARP, remove them, run
the `notify` command. `prepare()` (blocking, any thread) finds every environment problem
before anything listens; `run()` then serves on the caller's loop until `request_stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..notify_command import NotifyCommand
from .addresses import VirtualAddresses
from .config import FailoverConfig
from .garp import GratuitousArp
from .interface import FailoverError, InterfaceInfo, inspect_interface, require_capabilities
from .machine import OWNER_PRIORITY, ChangeState, Effect, SendAdvert, State, VrrpMachine
from .packet import VRRP_MULTICAST_GROUP, VRRP_TTL, Advertisement, MalformedPacket, decode_datagram
from .transport import VrrpSocket

__all__ = ["HealthProbe", "VrrpSpeaker"]

log = logging.getLogger("fastlb.failover")

HealthProbe = Callable[[], str | None]
"""Returns None while the node can serve, else why not (it then gives up mastership)."""

# How often the load balancer's health is read (a stats snapshot of the core).
HEALTH_POLL_SECONDS = 0.2
# keepalived's defaults: 5 gratuitous ARPs per address on becoming master, 5 more 5 s later
# (vrrp_garp_master_repeat, vrrp_garp_master_delay) for switches that missed the first.
GARP_REPEAT = 5
GARP_REFRESH_SECONDS = 5.0
HISTORY_LENGTH = 20


class VrrpSpeaker:
    """Speaks VRRPv3 for `config` on its interface; `health` decides whether it may serve."""

    def __init__(
        self, config: FailoverConfig, health: HealthProbe, resume: str | None = None
    ) -> None:
        self.config = config
        # The state of the process this one upgrades (`fastlb serve --upgrade`), if any.
        self._resume = resume
        # False: stop without a priority-0 advertisement and keep the addresses (a new
        # process took them over).
        self._release = True
        self._health = health
        self._vips = [vip.ip for vip in config.virtual_ips]
        self._info: InterfaceInfo | None = None
        self._socket: VrrpSocket | None = None
        self._garp: GratuitousArp | None = None
        self._machine: VrrpMachine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._done = threading.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._want_addresses = False
        self._addresses_changed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._notifier = NotifyCommand(config.notify, "failover") if config.notify else None
        # Observed from other threads (stats): plain values, replaced whole.
        self.holds_addresses = False
        self.healthy = True
        self.health_reason: str | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_LENGTH)
        self.counters = {
            "adverts_sent": 0,
            "adverts_received": 0,
            "invalid_adverts": 0,
            "send_errors": 0,
            "transitions": 0,
            "became_master": 0,
        }
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ lifecycle

    def prepare(self) -> None:
        """Check the capabilities and the interface, open the sockets (blocking; raises
        FailoverError for the environment, ConfigError naming the field)."""
        require_capabilities()
        info = inspect_interface(self.config)
        try:
            self._socket = VrrpSocket(info, multicast=not self.config.unicast_peers)
            self._garp = GratuitousArp(info.name, info.mac)
        except OSError as exc:
            self.close()
            message = f"failover: cannot open the VRRP sockets on {info.name}: {exc}"
            raise FailoverError(message) from exc
        self._info = info
        self._machine = VrrpMachine(
            self.config.priority, self.config.advert_interval, self.config.preempt, info.primary
        )

    async def run(self) -> None:
        """Serve on the running loop until `request_stop()`; a master leaves with a
        priority-0 advertisement and removes the virtual IPs."""
        from pyroute2 import AsyncIPRoute

        if self._machine is None or self._socket is None or self._info is None:
            raise RuntimeError("prepare() first")
        self._stop = asyncio.Event()
        self._addresses_changed = asyncio.Event()
        loop = self._loop = asyncio.get_running_loop()
        # request_stop() sets its flag before it looks at _loop: one of the two sees the other.
        if self._stop_requested:
            self.close()
            self._done.set()
            return
        try:
            async with AsyncIPRoute() as ipr:
                addresses = VirtualAddresses(ipr, self._info.index, self.config.virtual_ips)
                if self._resume == State.MASTER and self.healthy:
                    # The previous process holds the addresses for us: keep them, never a
                    # moment without the VIP.
                    self.holds_addresses = True
                else:
                    # A virtual IP left behind by a crash must go before anything else.
                    await addresses.remove()
                loop.add_reader(self._socket.fileno(), self._on_readable)
                self._spawn(self._keep_addresses(addresses))
                self._refresh_health()
                log.info(
                    "failover: vrid %d on %s (%s), priority %d, adverts every %gs, %s",
                    self.config.vrid,
                    self._info.name,
                    self._info.primary,
                    self.config.priority,
                    self.config.advert_interval,
                    "peers " + ", ".join(map(str, self.config.unicast_peers))
                    if self.config.unicast_peers
                    else f"multicast {VRRP_MULTICAST_GROUP}",
                )
                if self._resume is not None:
                    self._apply(self._machine.resume(loop.time(), self._resume, self.healthy))
                else:
                    self._apply(self._machine.start(loop.time(), self.healthy))
                self._spawn(self._watch_health())
                try:
                    await self._stop.wait()
                finally:
                    loop.remove_reader(self._socket.fileno())
                    if self._release:
                        self._apply(self._machine.shutdown())
                    for task in list(self._tasks):
                        task.cancel()
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                    if self._notifier is not None:
                        self._notifier.close()
                    if self._release:
                        await addresses.remove()
                        self.holds_addresses = False
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self.close()
            self._done.set()

    @property
    def state(self) -> str:
        """The machine's state now (handed to the process that upgrades this one)."""
        return str(self._machine.state if self._machine is not None else State.INITIALIZE)

    def request_stop(self, release: bool = True) -> None:
        """Ask `run()` to finish (thread-safe). `release=False`: an upgraded process took
        over, so leave silently and keep the addresses on the interface for it."""
        self._release = release
        self._stop_requested = True
        loop, stop = self._loop, self._stop
        if loop is None:  # run() never started (and returns at once if it does now)
            self.close()
            self._done.set()
            return
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)

    def wait_stopped(self, timeout: float) -> bool:
        """Block until `run()` has finished (True) or `timeout` passed (False)."""
        return self._done.wait(timeout)

    def close(self) -> None:
        for closable in (self._socket, self._garp):
            if closable is not None:
                closable.close()

    # ------------------------------------------------------------------ the machine's effects

    def _apply(self, effects: list[Effect]) -> None:
        assert self._machine is not None
        for effect in effects:
            if isinstance(effect, SendAdvert):
                self._send(effect.priority)
            else:
                self._record(effect)
        self._schedule_timer()

    def _schedule_timer(self) -> None:
        assert self._machine is not None and self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._machine.deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        assert self._machine is not None and self._loop is not None
        self._timer = None
        self._apply(self._machine.on_timer(self._loop.time()))

    def _send(self, priority: int) -> None:
        assert self._socket is not None and self._info is not None
        advert = Advertisement(
            self.config.vrid, priority, self.config.advert_centiseconds, tuple(self._vips)
        )
        for destination in self.config.unicast_peers or [VRRP_MULTICAST_GROUP]:
            message = advert.encode(self._info.primary, destination, self.config.checksum)
            try:
                self._socket.send(message, destination)
            except OSError as exc:
                self.counters["send_errors"] += 1
                self._warn_once(f"send:{exc.errno}", f"cannot send to {destination}: {exc}")
            else:
                self.counters["adverts_sent"] += 1

    def _record(self, change: ChangeState) -> None:
        assert self._addresses_changed is not None
        log.info(
            "failover: vrid %d %s -> %s (%s)",
            self.config.vrid,
            change.old,
            change.new,
            change.reason,
        )
        self.counters["transitions"] += 1
        if change.new is State.MASTER:
            self.counters["became_master"] += 1
        self.history.appendleft(
            {
                "at": time.time(),
                "from": str(change.old),
                "to": str(change.new),
                "reason": change.reason,
            }
        )
        self._want_addresses = change.new is State.MASTER
        self._addresses_changed.set()
        if self._notifier is not None and change.new is not State.INITIALIZE:
            self._notify(change.new)

    async def _keep_addresses(self, addresses: VirtualAddresses) -> None:
        """Make the interface follow MASTER, one netlink change at a time, in order."""
        assert self._addresses_changed is not None and self._garp is not None
        while True:
            await self._addresses_changed.wait()
            self._addresses_changed.clear()
            if self._want_addresses and not self.holds_addresses:
                try:
                    await addresses.add()
                except OSError as exc:
                    log.error("failover: cannot add the virtual IPs: %s", exc)
                    continue
                self.holds_addresses = True
                log.info("failover: took %s", ", ".join(map(str, self.config.virtual_ips)))
                self._announce()
                self._spawn(self._announce_again())
            elif not self._want_addresses and self.holds_addresses:
                await addresses.remove()
                self.holds_addresses = False
                log.info("failover: released %s", ", ".join(map(str, self.config.virtual_ips)))

    def _announce(self) -> None:
        assert self._garp is not None
        for _ in range(GARP_REPEAT):
            if self._garp.send(self._vips):
                self._warn_once("garp", "cannot send gratuitous ARP (link down?)")

    async def _announce_again(self) -> None:
        await asyncio.sleep(GARP_REFRESH_SECONDS)
        if self.holds_addresses:
            self._announce()

    def _notify(self, state: State) -> None:
        """keepalived's notify: the command with the new state (MASTER, BACKUP, FAULT) as its
        last argument, and the router in the environment."""
        assert self._notifier is not None
        env = {
            "FASTLB_VRRP_STATE": state.upper(),
            "FASTLB_VRRP_VRID": str(self.config.vrid),
            "FASTLB_VRRP_INTERFACE": self.config.interface,
            "FASTLB_VRRP_PRIORITY": str(self.config.priority),
            "FASTLB_VRRP_VIRTUAL_IPS": " ".join(map(str, self.config.virtual_ips)),
        }
        self._notifier.submit([state.upper()], env)

    # ------------------------------------------------------------------ inputs

    def _on_readable(self) -> None:
        assert self._socket is not None and self._loop is not None and self._machine is not None
        for datagram in self._socket.receive():
            self._receive(datagram)

    def _receive(self, datagram: bytes) -> None:
        assert self._info is not None and self._loop is not None and self._machine is not None
        try:
            received = decode_datagram(datagram)
        except MalformedPacket as exc:
            self.counters["invalid_adverts"] += 1
            self._warn_once(f"malformed:{exc}", f"dropped a VRRP packet: {exc}")
            return
        advert, source = received.advertisement, received.source
        if advert.vrid != self.config.vrid or source == self._info.primary:
            return  # another virtual router on the segment, or our own packet
        if self.config.unicast_peers and source not in self.config.unicast_peers:
            return
        problem = None
        if received.ttl != VRRP_TTL:
            problem = f"TTL {received.ttl} instead of {VRRP_TTL} (sent from beyond a router?)"
        elif set(advert.addresses) != set(self._vips) and advert.priority != OWNER_PRIORITY:
            problem = (
                f"virtual IPs {', '.join(map(str, advert.addresses))} differ from ours "
                "(a misconfiguration: check virtual_ips on both nodes)"
            )
        if problem is not None:
            self.counters["invalid_adverts"] += 1
            message = f"dropped an advertisement from {source}: {problem}"
            self._warn_once(f"{source}:{problem}", message)
            return
        if advert.advert_centiseconds != self.config.advert_centiseconds:
            self._warn_once(
                f"interval:{source}",
                f"{source} advertises every {advert.advert_centiseconds / 100:g}s, this node "
                f"every {self.config.advert_interval:g}s (backups follow the master's)",
            )
        self.counters["adverts_received"] += 1
        self._apply(
            self._machine.on_advert(
                self._loop.time(), advert.priority, advert.advert_centiseconds / 100, source
            )
        )

    def _refresh_health(self) -> bool:
        """Read the health probe; True when it changed."""
        try:
            reason = self._health()
        except Exception as exc:  # a probe that fails says the node cannot serve
            reason = f"health probe failed: {exc}"
        healthy = reason is None
        changed = healthy != self.healthy
        self.healthy, self.health_reason = healthy, reason
        return changed

    async def _watch_health(self) -> None:
        assert self._machine is not None and self._loop is not None
        while True:
            await asyncio.sleep(HEALTH_POLL_SECONDS)
            if self._refresh_health():
                reason = self.health_reason or "the load balancer can serve again"
                self._apply(self._machine.set_healthy(self._loop.time(), self.healthy, reason))

    # ------------------------------------------------------------------ helpers

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _warn_once(self, key: str, message: str) -> None:
        # Per kind of problem: a misconfigured peer every 100 ms must not flood the log.
        if key not in self._warned and len(self._warned) < 100:
            self._warned.add(key)
            log.warning("failover: %s", message)

    def snapshot(self) -> dict[str, Any]:
        """The state for /api/stats: settings, state, who is master, transitions."""
        machine = self._machine
        state = machine.state if machine is not None else State.INITIALIZE
        last = self.history[0] if self.history else None
        return {
            **self.config.summary(),
            "state": str(state),
            "effective_priority": 0 if state is State.FAULT else self.config.priority,
            "primary_address": str(self._info.primary) if self._info is not None else None,
            "master": str(machine.master) if machine is not None and machine.master else None,
            "holds_virtual_ips": self.holds_addresses,
            "healthy": self.healthy,
            "health_reason": self.health_reason,
            "last_transition": last["at"] if last else None,
            "history": list(self.history),
            **self.counters,
        }
