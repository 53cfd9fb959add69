"""The VRRPv3 state machine of RFC 5798 section 6.4, without I/O: events in, effects out.

Time is passed in (seconds on a monotonic clock), so every rule (Master_Down_Interval,
skew, preemption, the equal-priority tie-break, priority 0 on shutdown) is tested without
sockets or sleeping. `speaker.py` feeds it packets and timer expiries and carries out what
it returns.

A FAULT state (as keepalived has) covers a node that cannot serve: it holds no address,
sends nothing, and a master entering it sends a priority-0 advertisement first so that
the backup takes over at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address

__all__ = ["OWNER_PRIORITY", "ChangeState", "Effect", "SendAdvert", "State", "VrrpMachine"]

OWNER_PRIORITY = 255


class State(StrEnum):
    INITIALIZE = "initialize"
    BACKUP = "backup"
    MASTER = "master"
    FAULT = "fault"


@dataclass(frozen=True)
class SendAdvert:
    """Send one advertisement now, with this priority (0: "I am leaving, take over")."""

    priority: int


@dataclass(frozen=True)
class ChangeState:
    """The machine moved from `old` to `new`; the addresses follow MASTER."""

    old: State
    new: State
    reason: str


Effect = SendAdvert | ChangeState


def skew_time(priority: int, advert_interval: float) -> float:
    """RFC 5798: ((256 - Priority) * Master_Adver_Interval) / 256, so that the backup with
    the highest priority times out first."""
    return (256 - priority) * advert_interval / 256


def master_down_interval(priority: int, advert_interval: float) -> float:
    """RFC 5798: (3 * Master_Adver_Interval) + Skew_Time."""
    return 3 * advert_interval + skew_time(priority, advert_interval)


class VrrpMachine:
    """One virtual router's state. Intervals are in seconds; `address` is the primary IPv4
    address this node sends from (the tie-break between equal priorities)."""

    def __init__(
        self, priority: int, advert_interval: float, preempt: bool, address: IPv4Address
    ) -> None:
        if not 1 <= priority <= OWNER_PRIORITY:
            raise ValueError(f"priority must be 1..255 (got {priority})")
        self.priority = priority
        self.advert_interval = advert_interval
        self.preempt = preempt
        self.address = address
        self.state = State.INITIALIZE
        # The master's interval, learnt from its advertisements (RFC 5798 6.1).
        self.master_adver_interval = advert_interval
        # Who is master as far as we know (ourselves while MASTER); None when unknown.
        self.master: IPv4Address | None = None
        # The master said priority 0: the takeover that follows is not a timeout.
        self._master_left = False
        # When on_timer() is due: the advertisement timer (MASTER) or the master-down
        # timer (BACKUP); None when no timer runs.
        self.deadline: float | None = None

    # ------------------------------------------------------------------ events

    def start(self, now: float, healthy: bool = True) -> list[Effect]:
        """The Startup event: the owner becomes master at once, others start as backup."""
        if not healthy:
            return self._move(State.FAULT, "not healthy at start")
        if self.priority == OWNER_PRIORITY:
            return self._become_master(now, "priority 255: this node owns the addresses")
        return self._become_backup(now, self.advert_interval, "startup")

    def resume(self, now: float, state: str, healthy: bool = True) -> list[Effect]:
        """Startup after an upgrade (`fastlb serve --upgrade`): the process this one replaces
        was in `state`. A master stays master (advertising at once, so the peers never see a
        silence and nobody else takes over); anything else starts as `start` does."""
        if healthy and state == State.MASTER:
            return self._become_master(now, "took over from the previous process (upgrade)")
        return self.start(now, healthy)

    def on_timer(self, now: float) -> list[Effect]:
        """The deadline passed: advertise (MASTER) or take over (BACKUP)."""
        if self.deadline is None or now < self.deadline:
            return []
        if self.state is State.MASTER:
            self.deadline = now + self.advert_interval
            return [SendAdvert(self.priority)]
        if self.state is State.BACKUP:
            reason = (
                "the master left (priority 0)"
                if self._master_left
                else "master down: no advertisement within Master_Down_Interval"
            )
            return self._become_master(now, reason)
        self.deadline = None
        return []

    def on_advert(
        self, now: float, priority: int, advert_interval: float, source: IPv4Address
    ) -> list[Effect]:
        """A valid advertisement for our virtual router from `source`."""
        if self.state is State.BACKUP:
            self._master_left = priority == 0
            if priority == 0:
                # The master is leaving: take over after the skew only.
                self.master = None
                self.deadline = now + skew_time(self.priority, self.master_adver_interval)
            elif not self.preempt or priority >= self.priority:
                self.master = source
                self.master_adver_interval = advert_interval
                self.deadline = now + master_down_interval(self.priority, advert_interval)
            # else: a lower-priority master and we preempt: let the timer run out.
            return []
        if self.state is State.MASTER:
            if priority == 0:
                # Another master left: advertise at once so that its backups see us.
                self.deadline = now + self.advert_interval
                return [SendAdvert(self.priority)]
            if priority > self.priority or (priority == self.priority and source > self.address):
                self.master = source
                reason = (
                    f"{source} advertises priority {priority} > {self.priority}"
                    if priority > self.priority
                    else f"{source} has the same priority and a higher address"
                )
                return self._become_backup(now, advert_interval, reason)
            return []
        if self.state is State.FAULT and priority != 0:
            self.master = source
        return []

    def set_healthy(self, now: float, healthy: bool, reason: str = "") -> list[Effect]:
        """Health changed: an unhealthy node gives the addresses up (priority 0 if it was
        master) and stays out until healthy again, then rejoins as backup."""
        if not healthy and self.state in (State.MASTER, State.BACKUP):
            effects: list[Effect] = []
            if self.state is State.MASTER:
                effects.append(SendAdvert(0))
                self.master = None
            return effects + self._move(State.FAULT, reason or "not healthy")
        if healthy and self.state is State.FAULT:
            return self._become_backup(now, self.advert_interval, reason or "healthy again")
        return []

    def shutdown(self) -> list[Effect]:
        """The Shutdown event: a master says priority 0 so that a backup takes over now."""
        effects: list[Effect] = [SendAdvert(0)] if self.state is State.MASTER else []
        self.master = None
        return effects + self._move(State.INITIALIZE, "shutdown")

    # ------------------------------------------------------------------ transitions

    def _become_master(self, now: float, reason: str) -> list[Effect]:
        self.master = self.address
        self.deadline = now + self.advert_interval
        # Advertise first, then take the addresses (the speaker adds them and sends ARP).
        return [SendAdvert(self.priority), *self._move(State.MASTER, reason)]

    def _become_backup(self, now: float, master_interval: float, reason: str) -> list[Effect]:
        self.master_adver_interval = master_interval
        self.deadline = now + master_down_interval(self.priority, master_interval)
        return self._move(State.BACKUP, reason)

    def _move(self, new: State, reason: str) -> list[Effect]:
        old, self.state = self.state, new
        if new in (State.FAULT, State.INITIALIZE):
            self.deadline = None
        return [ChangeState(old, new, reason)] if old is not new else []
