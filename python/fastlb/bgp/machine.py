"""When the virtual IPs are announced, and with which MED: a state machine without I/O.

Inputs are the node's health (`up`, `degraded`, `down`, from the core's stats), whether the
speaker runs, and `drain`; the output is the announcement the speaker must make now
(`Announce(med)` or `Withdraw`), only when it changes, with the reason for the log and the
history. Time is passed in, so every rule is tested without a router.

Rules: announce only while the speaker runs, the node can serve and is not draining;
withdraw at once otherwise. A drain is final (the node stops afterwards). While degraded,
announce `degraded_med` when configured, else the normal MED.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Announce", "AnnounceMachine", "Effect", "NodeHealth", "Withdraw"]

HISTORY_LENGTH = 20


class NodeHealth(StrEnum):
    """How well this node can serve: `up`, `degraded` (announced with the worse MED) or
    `down` (withdrawn). Not the API's `/api/health` answer (`api.models.Health`)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True)
class Announce:
    """Announce every virtual IP with this MED (also: change the MED of an announcement)."""

    med: int
    reason: str


@dataclass(frozen=True)
class Withdraw:
    """Withdraw every virtual IP."""

    reason: str


Effect = Announce | Withdraw


class AnnounceMachine:
    """The announcement of one node; `history` keeps the last changes, newest first."""

    def __init__(self, med: int, degraded_med: int | None) -> None:
        self.med = med
        self.degraded_med = degraded_med
        self.health = NodeHealth.DOWN
        self.health_reason = "not started"
        self.speaker_running = False
        self.draining = False
        # What the speaker was last told: None (nothing yet, i.e. withdrawn) or a MED.
        self.announced_med: int | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_LENGTH)

    @property
    def announced(self) -> bool:
        return self.announced_med is not None

    # ------------------------------------------------------------------ events

    def start(self, now: float, health: NodeHealth, reason: str) -> list[Effect]:
        """The speaker runs (its sessions may still be coming up)."""
        self.speaker_running = True
        self.health, self.health_reason = health, reason
        return self._decide(now, reason)

    def set_health(self, now: float, health: NodeHealth, reason: str) -> list[Effect]:
        """The node's health as read from the core; nothing when it did not change."""
        if (health, reason) == (self.health, self.health_reason):
            return []
        self.health, self.health_reason = health, reason
        return self._decide(now, reason)

    def drain(self, now: float) -> list[Effect]:
        """`fastlb ctl node drain`: withdraw for good so that new flows go elsewhere."""
        self.draining = True
        return self._decide(now, "draining: the node leaves the fleet")

    def stop(self, now: float, reason: str = "stopping") -> list[Effect]:
        """The speaker is about to stop (or died): nothing can stay announced."""
        self.speaker_running = False
        return self._decide(now, reason)

    # ------------------------------------------------------------------ the rule

    def wanted_med(self) -> int | None:
        """The MED to announce now, or None to withdraw."""
        if not self.speaker_running or self.draining or self.health is NodeHealth.DOWN:
            return None
        if self.health is NodeHealth.DEGRADED and self.degraded_med is not None:
            return self.degraded_med
        return self.med

    def _decide(self, now: float, reason: str) -> list[Effect]:
        wanted = self.wanted_med()
        if wanted == self.announced_med:
            return []
        self.announced_med = wanted
        effect: Effect = Withdraw(reason) if wanted is None else Announce(wanted, reason)
        self.history.appendleft(
            {
                "at": now,
                "action": "withdraw" if wanted is None else "announce",
                "med": wanted,
                "reason": reason,
            }
        )
        return [effect]
