"""Prometheus exposition of the core's stats: one typed snapshot
(`LoadBalancer.stats_snapshot()`, `stats_models.StatsSnapshot`) per scrape.

Names follow HAProxy's exporter (`fastlb_server_current_sessions`, ...); labels are `proxy`
(frontend or backend name) and `server`. The `fastlb_http_*` families of `mode: http` are in
metrics_http.py (labels `frontend`, `backend`, `server`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from ..contract import MAX_WEIGHT, SERVER_STATUSES
from ..failover.metrics import failover_metrics
from .metrics_bgp import bgp_metrics
from .metrics_http import http_metrics
from .metrics_mysql import mysql_metrics
from .stats_models import BackendStats, FrontendStats, GlobalStats, ServerStats, StatsSnapshot


def _go_float(value: float) -> str:
    # The exposition format's canonical float text ("0.005", "+Inf"), as prometheus-client
    # writes its own bucket bounds.
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


# Takes a stats snapshot (`LoadBalancer.stats_snapshot`), at each scrape.
StatsSource = Callable[[], StatsSnapshot]

# (metric name, help text, field of the frontend's stats)
_FRONTEND_GAUGES = [
    ("fastlb_frontend_current_sessions", "Client connections open now", "current_connections"),
]
_FRONTEND_COUNTERS = [
    ("fastlb_frontend_sessions_total", "Client connections accepted", "total_connections"),
    ("fastlb_frontend_bytes_in_total", "Bytes received from clients", "bytes_in"),
    ("fastlb_frontend_bytes_out_total", "Bytes sent to clients", "bytes_out"),
    (
        "fastlb_frontend_rejected_connections_total",
        "Client connections refused at max_connections",
        "rejected_connections",
    ),
    (
        "fastlb_frontend_resource_errors_total",
        "Client connections closed for lack of a local resource (fds, memory, ports)",
        "resource_errors",
    ),
    (
        "fastlb_frontend_tls_handshake_failures_total",
        "TLS handshakes that failed (garbage, old protocol versions, resets)",
        "tls_handshake_failures",
    ),
    (
        "fastlb_frontend_tls_handshake_timeouts_total",
        "TLS handshakes not finished within the handshake timeout",
        "tls_handshake_timeouts",
    ),
]
# The `reason` label of fastlb_frontend_refused_connections_total: the firewall's reasons
# (stats key `refused_connections`), the frontend's max_connections, and `proxy`: a PROXY
# protocol header from an untrusted peer, or a bad or slow one (`accept_proxy`).
REFUSAL_REASONS = ("acl", "source_connections", "source_rate", "max_connections", "proxy")
_SERVER_GAUGES = [
    ("fastlb_server_current_sessions", "Connections open to the server now", "current_connections"),
    ("fastlb_server_weight", f"Configured weight of the server (0..{MAX_WEIGHT})", "weight"),
]
_SERVER_COUNTERS = [
    ("fastlb_server_sessions_total", "Connections made to the server", "total_connections"),
    ("fastlb_server_bytes_in_total", "Bytes sent to the server (client to server)", "bytes_in"),
    ("fastlb_server_bytes_out_total", "Bytes received from the server", "bytes_out"),
    ("fastlb_server_connection_errors_total", "Failed connects to the server", "connect_errors"),
    ("fastlb_server_retries_total", "Failed connects retried on another server", "retries"),
    ("fastlb_server_down_transitions_total", "Times the server went DOWN", "down_transitions"),
]
# HAProxy's exporter gives one series per state, 1 for the current one (SERVER_STATUSES).
_HISTOGRAMS = [
    ("fastlb_server_connect_time_seconds", "Time to connect to the server", "connect_time"),
    (
        "fastlb_server_session_time_seconds",
        "Duration of the connections (sessions) through the server",
        "session_time",
    ),
]


class StatsCollector:
    """A prometheus-client collector reading the core's stats snapshot at each scrape."""

    def __init__(self, snapshot: StatsSource) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        # Empty: registering must not take a snapshot (the core may not be running yet).
        return []

    def collect(self) -> Iterator[Metric]:
        stats = self._snapshot()
        yield from _global_metrics(stats.global_)
        yield from _frontend_metrics(stats.frontends)
        yield from _server_metrics(stats.backends)
        yield from mysql_metrics(stats)
        yield from http_metrics(stats)
        yield from failover_metrics(stats.failover)
        yield from bgp_metrics(stats.bgp)


def _global_metrics(limits: GlobalStats) -> Iterator[Metric]:
    current = GaugeMetricFamily(
        "fastlb_current_connections", "Client connections open now, all frontends together"
    )
    current.add_metric([], limits.current_connections)
    yield current
    if limits.max_connections is not None:
        maximum = GaugeMetricFamily(
            "fastlb_max_connections", "The global max_connections (accepting pauses there)"
        )
        maximum.add_metric([], limits.max_connections)
        yield maximum
    pauses = CounterMetricFamily(
        "fastlb_accept_pauses", "Times accepting paused because max_connections was reached"
    )
    pauses.add_metric([], limits.accept_pauses)
    yield pauses


def _frontend_metrics(frontends: Mapping[str, FrontendStats]) -> Iterator[Metric]:
    for name, help_text, key in _FRONTEND_GAUGES:
        gauge = GaugeMetricFamily(name, help_text, labels=["proxy"])
        for proxy, counters in frontends.items():
            gauge.add_metric([proxy], getattr(counters, key))
        yield gauge
    for name, help_text, key in _FRONTEND_COUNTERS:
        counter = CounterMetricFamily(name, help_text, labels=["proxy"])
        for proxy, counters in frontends.items():
            counter.add_metric([proxy], getattr(counters, key))
        yield counter
    refused = CounterMetricFamily(
        "fastlb_frontend_refused_connections",
        "Client connections closed at accept, by reason",
        labels=["proxy", "reason"],
    )
    for proxy, counters in frontends.items():
        by_reason: dict[str, int] = counters.refused_connections.model_dump()
        by_reason["max_connections"] = counters.rejected_connections
        by_reason["proxy"] = counters.proxy_refused
        for reason in REFUSAL_REASONS:
            refused.add_metric([proxy, reason], by_reason.get(reason, 0))
    yield refused


def _servers(backends: Mapping[str, BackendStats]) -> Iterator[tuple[list[str], ServerStats]]:
    for proxy, backend in backends.items():
        for server, counters in backend.servers.items():
            yield [proxy, server], counters


def _server_metrics(backends: Mapping[str, BackendStats]) -> Iterator[Metric]:
    labels = ["proxy", "server"]
    for name, help_text, key in _SERVER_GAUGES:
        gauge = GaugeMetricFamily(name, help_text, labels=labels)
        for label_values, counters in _servers(backends):
            gauge.add_metric(label_values, getattr(counters, key))
        yield gauge
    for name, help_text, key in _SERVER_COUNTERS:
        counter = CounterMetricFamily(name, help_text, labels=labels)
        for label_values, counters in _servers(backends):
            counter.add_metric(label_values, getattr(counters, key))
        yield counter

    status = GaugeMetricFamily(
        "fastlb_server_status",
        "Current status of the server: 1 for the state label that applies",
        labels=[*labels, "state"],
    )
    for label_values, counters in _servers(backends):
        for state in SERVER_STATUSES:
            status.add_metric([*label_values, state], 1.0 if counters.status == state else 0.0)
    yield status

    check_status = GaugeMetricFamily(
        "fastlb_server_check_status",
        "Result of the last health check: 1 ok, 0 failed (absent: no check, or none done yet)",
        labels=labels,
    )
    for label_values, counters in _servers(backends):
        check = counters.check
        if check is not None and check.status in ("ok", "failed"):
            check_status.add_metric(label_values, 1.0 if check.status == "ok" else 0.0)
    yield check_status

    now = time.time()
    last_change = GaugeMetricFamily(
        "fastlb_server_last_change_seconds",
        "Seconds since the server's last status change",
        labels=labels,
    )
    for label_values, counters in _servers(backends):
        last_change.add_metric(label_values, max(0.0, now - counters.last_change))
    yield last_change

    for name, help_text, key in _HISTOGRAMS:
        family = HistogramMetricFamily(name, help_text, labels=labels)
        for label_values, counters in _servers(backends):
            histogram = getattr(counters, key)
            buckets = [(_go_float(le), float(count)) for le, count in histogram.buckets]
            buckets.append(("+Inf", float(histogram.count)))
            family.add_metric(label_values, buckets, sum_value=histogram.sum_seconds)
        yield family
