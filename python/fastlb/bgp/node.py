"""What `LoadBalancer` needs of the BGP package: build the speaker with the node's health
read from the core, and start a node drain. Kept here so that balancer.py stays generic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotRunningError
from .drain import start_node_drain
from .health import node_health_of
from .speaker import BgpSpeaker

if TYPE_CHECKING:
    from .._core import Engine
    from ..balancer import LoadBalancer
    from ..config import Config

__all__ = ["drain_node", "prepare_bgp"]


def prepare_bgp(config: Config, engine: Engine) -> BgpSpeaker:
    """The speaker of `config.bgp`, announcing while some server of the frontends'
    backends is UP in `engine` (BgpError when the daemon is not installed)."""
    assert config.bgp is not None
    backends = [frontend.backend for frontend in config.frontends]
    speaker = BgpSpeaker(config.bgp, lambda: node_health_of(engine, backends))
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
