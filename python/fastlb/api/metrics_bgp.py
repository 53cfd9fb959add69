"""Prometheus families for the `bgp` section of a stats snapshot (`fastlb_bgp_*`)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from .stats_models import BgpStats

__all__ = ["bgp_metrics"]

# RFC 4271 8.2.2's states, as BIRD and ExaBGP report them (lower case).
SESSION_STATES = ("idle", "connect", "active", "opensent", "openconfirm", "established")
HEALTH_STATES = ("up", "degraded", "down")


def bgp_metrics(bgp: BgpStats | None) -> Iterator[Metric]:
    """Nothing without a bgp section; else sessions, announcements, health and counters."""
    if bgp is None:
        return
    session = GaugeMetricFamily(
        "fastlb_bgp_session_state",
        "BGP session with each peer: 1 for the state label that applies",
        labels=["peer", "state"],
    )
    established = GaugeMetricFamily(
        "fastlb_bgp_session_established", "1 while the session with the peer is up", labels=["peer"]
    )
    for peer in bgp.peers:
        for state in SESSION_STATES:
            session.add_metric([peer.address, state], 1.0 if peer.state == state else 0.0)
        established.add_metric([peer.address], 1.0 if peer.state == "established" else 0.0)
    yield session
    yield established
    if any(peer.bfd is not None for peer in bgp.peers):
        bfd = GaugeMetricFamily(
            "fastlb_bgp_bfd_up", "1 while the BFD session with the peer is up", labels=["peer"]
        )
        for peer in bgp.peers:
            bfd.add_metric([peer.address], 1.0 if peer.bfd == "up" else 0.0)
        yield bfd
    announced = GaugeMetricFamily(
        "fastlb_bgp_prefix_announced",
        "1 while this node announces the prefix, 0 while it is withdrawn",
        labels=["prefix"],
    )
    for prefix in bgp.announced:
        announced.add_metric([prefix], 1.0)
    for prefix in bgp.withdrawn:
        announced.add_metric([prefix], 0.0)
    yield announced
    health = GaugeMetricFamily(
        "fastlb_bgp_health",
        "The node's health as announced: 1 for the state label that applies",
        labels=["state"],
    )
    for state in HEALTH_STATES:
        health.add_metric([state], 1.0 if bgp.health == state else 0.0)
    yield health
    for name, help_text, value in (
        ("fastlb_bgp_med", "MED announced now (absent while withdrawn)", bgp.announced_med),
        ("fastlb_bgp_draining", "1 while the node drains (`ctl node drain`)", bgp.draining),
    ):
        if value is not None:
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], float(value))
            yield gauge
    for name, help_text, key in (
        ("fastlb_bgp_announcements_total", "Announcements (and MED changes) made", "announcements"),
        ("fastlb_bgp_withdrawals_total", "Withdrawals of the virtual IPs", "withdrawals"),
        (
            "fastlb_bgp_speaker_restarts_total",
            "Times the speaker daemon was restarted",
            "speaker_restarts",
        ),
    ):
        counter = CounterMetricFamily(name, help_text)
        counter.add_metric([], float(getattr(bgp, key)))
        yield counter
