"""What `LoadBalancer` needs of the BGP package: build the speaker with the node's health
read from the core, start a node drain, hand over to an upgrade. Kept here so that
balancer.py stays generic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotRunningError
from .drain import start_node_drain
from .handover import BgpHandover
from .health import node_health_of
from .speaker import BgpSpeaker

if TYPE_CHECKING:
    from .._core import Engine
    from ..balancer import LoadBalancer
    from ..config import Config

__all__ = ["drain_node", "handover_inventory", "prepare_bgp"]


def prepare_bgp(config: Config, engine: Engine, inherited: object = None) -> BgpSpeaker:
    """The speaker of `config.bgp`, announcing while some server of the frontends'
    backends is UP in `engine` (BgpError when the daemon is not installed); `inherited`:
    the upgrade inventory's `bgp` field, when this process takes over from another."""
    assert config.bgp is not None
    backends = [frontend.backend for frontend in config.frontends]
    speaker = BgpSpeaker(
        config.bgp,
        lambda: node_health_of(engine, backends),
        resume=BgpHandover.from_inventory(inherited),
    )
    speaker.prepare()
    return speaker


def drain_node(balancer: LoadBalancer, speaker: Any) -> float:
    """`LoadBalancer.drain_node()`: NotRunningError without a running BGP speaker."""
    if not isinstance(speaker, BgpSpeaker):
        raise NotRunningError("node drain needs a running 'bgp' section (this node has none)")
    timeout = balancer.config.drain_timeout
    start_node_drain(
        speaker,
        timeout,
        balancer.stats_snapshot,
        balancer.on_drained or (lambda: balancer.stop(0.0)),
    )
    return timeout


def handover_inventory(speaker: Any) -> dict[str, Any] | None:
    """The upgrade inventory's `bgp` field: None without a BGP speaker."""
    return speaker.handover().to_inventory() if isinstance(speaker, BgpSpeaker) else None
