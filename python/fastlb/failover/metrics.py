"""Prometheus families for the failover section of a stats snapshot (`fastlb_vrrp_*`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from ..api.stats_models import FailoverStats

__all__ = ["failover_metrics"]

STATES = ("initialize", "backup", "master", "fault")
_LABELS = ["vrid", "interface"]


def failover_metrics(failover: FailoverStats | None) -> Iterator[Metric]:
    """Nothing without a failover section; else its state, priorities and counters."""
    if failover is None:
        return
    labels = [str(failover.vrid), str(failover.interface)]
    state = GaugeMetricFamily(
        "fastlb_vrrp_state",
        "VRRP state of this node: 1 for the state label that applies",
        labels=[*_LABELS, "state"],
    )
    for name in STATES:
        state.add_metric([*labels, name], 1.0 if failover.state == name else 0.0)
    yield state
    gauges = [
        ("fastlb_vrrp_priority", "Configured VRRP priority (1..255)", failover.priority),
        (
            "fastlb_vrrp_effective_priority",
            "Priority advertised now (0 while the node cannot serve)",
            failover.effective_priority,
        ),
        (
            "fastlb_vrrp_virtual_ips_held",
            "1 while the virtual IPs are on this node's interface",
            1.0 if failover.holds_virtual_ips else 0.0,
        ),
    ]
    last = failover.last_transition
    if last is not None:
        gauges.append(
            (
                "fastlb_vrrp_last_transition_seconds",
                "Seconds since the last VRRP state change",
                max(0.0, time.time() - last),
            )
        )
    for name, help_text, value in gauges:
        gauge = GaugeMetricFamily(name, help_text, labels=_LABELS)
        gauge.add_metric(labels, float(value))
        yield gauge
    for name, help_text, key in (
        ("fastlb_vrrp_transitions_total", "VRRP state changes", "transitions"),
        ("fastlb_vrrp_master_transitions_total", "Times this node became master", "became_master"),
        ("fastlb_vrrp_adverts_sent_total", "VRRP advertisements sent", "adverts_sent"),
        ("fastlb_vrrp_adverts_received_total", "Valid advertisements received", "adverts_received"),
        (
            "fastlb_vrrp_invalid_adverts_total",
            "VRRP packets dropped (bad checksum, TTL, addresses...)",
            "invalid_adverts",
        ),
        ("fastlb_vrrp_send_errors_total", "Advertisements the kernel refused", "send_errors"),
    ):
        counter = CounterMetricFamily(name, help_text, labels=_LABELS)
        counter.add_metric(labels, float(getattr(failover, key)))
        yield counter
