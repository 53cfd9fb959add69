"""`fastlb ctl node drain`: leave the fleet without breaking a connection this node serves.

Withdraw the virtual IPs (the routers send new flows to the other nodes), keep accepting
what still arrives while the routers converge, let established connections finish within
`drain_timeout`, then stop. The wait runs in a thread: the API answers at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .speaker import WITHDRAW_SETTLE_SECONDS, BgpSpeaker

__all__ = ["open_connections", "start_node_drain"]

log = logging.getLogger("fastlb.bgp")

POLL_SECONDS = 0.1


def open_connections(stats: Mapping[str, Any]) -> int:
    """Client connections open now, all frontends together."""
    frontends = stats.get("frontends", {})
    return sum(int(f.get("current_connections", 0)) for f in frontends.values())


def start_node_drain(
    speaker: BgpSpeaker,
    drain_timeout: float,
    stats: Callable[[], Mapping[str, Any]],
    then_stop: Callable[[], object],
) -> threading.Thread:
    """Start draining in a thread (the speaker withdraws before this returns); `then_stop`
    runs once no connection is left, or after `drain_timeout`."""
    if speaker.machine.draining:
        raise ValueError("the node is already draining")

    def drain() -> None:
        try:
            # Routers still send what they had in flight: keep accepting meanwhile.
            time.sleep(min(WITHDRAW_SETTLE_SECONDS, drain_timeout))
            while time.monotonic() < deadline:
                left = open_connections(stats())
                if left == 0:
                    break
                time.sleep(POLL_SECONDS)
            else:
                log.warning(
                    "bgp: drain_timeout (%gs) reached with %d connections open",
                    drain_timeout,
                    open_connections(stats()),
                )
            log.info("bgp: node drained, stopping")
        except Exception:
            log.exception("bgp: node drain failed; stopping anyway")
        then_stop()

    # Withdrawn before the API answers (stats show `draining` at once); the thread waits.
    deadline = time.monotonic() + drain_timeout
    speaker.drain()
    thread = threading.Thread(target=drain, name="fastlb-node-drain", daemon=True)
    thread.start()
    return thread
