"""What a BGP node tells the process that upgrades it (`fastlb serve --upgrade`), and how
that process waits for the old speaker to be gone before it starts its own.

The routers keep the node's routes across the upgrade with BGP graceful restart (RFC 4724):
the old speaker ends its sessions without a Cease (killed: the routers then hold the routes
as stale), and the new one starts in restart mode with the same routes already in its
first UPDATE, so that its End-of-RIB replaces the stale routes with identical ones.
Two speakers of one node must not overlap: they share the address and the router ID (the
router would see a connection collision) and BIRD's listening port 179.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["BgpHandover", "wait_gone"]

log = logging.getLogger("fastlb.bgp")

GONE_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class BgpHandover:
    """The old process's announcement (None: withdrawn) and its speaker daemon's pid."""

    announced_med: int | None
    speaker_pid: int | None

    def to_inventory(self) -> dict[str, Any]:
        """The upgrade inventory's `bgp` field (plain JSON)."""
        return {
            "announced": self.announced_med is not None,
            "med": self.announced_med,
            "speaker_pid": self.speaker_pid,
        }

    @classmethod
    def from_inventory(cls, value: object) -> BgpHandover | None:
        """The inventory's `bgp` field back; None when absent or malformed (an older
        fastlb): the new process then starts like a fresh one."""
        if not isinstance(value, dict):
            return None
        med, pid = value.get("med"), value.get("speaker_pid")
        announced = value.get("announced") is True and isinstance(med, int)
        return cls(
            announced_med=med if announced else None,
            speaker_pid=pid if isinstance(pid, int) and pid > 0 else None,
        )


def _alive(pid: int) -> bool:
    """Running (a zombie is not: its sockets are closed)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # "pid (comm) state ...": comm may hold spaces and parentheses.
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


async def wait_gone(pid: int, timeout: float) -> bool:
    """Until process `pid` has exited; False after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _alive(pid):
        if loop.time() > deadline:
            log.warning("bgp: the old speaker (pid %d) is still running after %gs", pid, timeout)
            return False
        await asyncio.sleep(GONE_POLL_SECONDS)
    return True
