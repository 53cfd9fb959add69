"""`fastlb ctl node drain`: leave the fleet without breaking a connection this node serves.

Withdraw the virtual IPs (the routers send new flows to the other nodes), keep accepting
what still arrives while the routers converge, let established connections finish within
`drain_timeout`, then stop. The wait runs in a thread: the API answers at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .speaker import WITHDRAW_SETTLE_SECONDS, BgpSpeaker

if TYPE_CHECKING:
    from ..api.stats_models import StatsSnapshot

__all__ = ["start_node_drain"]

log = logging.getLogger("fastlb.bgp")

POLL_SECONDS = 0.1


def start_node_drain(
    speaker: BgpSpeaker,
    drain_timeout: float,
    stats: Callable[[], StatsSnapshot],
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
                left = stats().open_connections()
                if left == 0:
                    break
                time.sleep(POLL_SECONDS)
            else:
                log.warning(
                    "bgp: drain_timeout (%gs) reached with %d connections open",
                    drain_timeout,
                    stats().open_connections(),
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
