"""Prometheus metrics of read/write splitting: per-route statement counters of `mode: mysql`
frontends, and each MySQL server's role, read-pool membership and replication lag."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from .stats_models import BackendStats, MysqlTopology, StatsSnapshot

# (metric name, help text, field of a mysql frontend's `MysqlFrontendStats`)
_COUNTERS = [
    (
        "fastlb_mysql_reads_on_primary_total",
        "Reads a replica could have served that the primary served (no replica usable or "
        "caught up)",
        "reads_on_primary",
    ),
    (
        "fastlb_mysql_causal_waits_total",
        "Reads that waited for a replica to apply the session's last write",
        "causal_waits",
    ),
    (
        "fastlb_mysql_causal_timeouts_total",
        "Causal waits that timed out (the read went to the primary)",
        "causal_timeouts",
    ),
    (
        "fastlb_mysql_no_primary_errors_total",
        "Writes refused or sessions closed because no primary was available",
        "no_primary_errors",
    ),
    ("fastlb_mysql_sessions_total", "Client sessions that logged in", "sessions"),
    (
        "fastlb_mysql_tls_sessions_total",
        "Client sessions that logged in over TLS (SSLRequest)",
        "tls_sessions",
    ),
    ("fastlb_mysql_auth_failures_total", "Client logins refused", "auth_failures"),
    (
        "fastlb_mysql_protocol_errors_total",
        "Client connections closed for malformed or oversized packets",
        "protocol_errors",
    ),
    (
        "fastlb_mysql_server_errors_total",
        "Server connections lost in the middle of a session",
        "server_errors",
    ),
    (
        "fastlb_mysql_pool_reused_total",
        "Server connections taken idle from the pool (no server login)",
        "pool_reused",
    ),
    ("fastlb_mysql_pool_opened_total", "Pooled server connections opened", "pool_opened"),
    (
        "fastlb_mysql_pool_resets_total",
        "Pooled connections reset before reuse (their session changed state)",
        "pool_resets",
    ),
    (
        "fastlb_mysql_pool_waits_total",
        "Sessions that waited for a pooled connection (max_per_server reached)",
        "pool_waits",
    ),
    (
        "fastlb_mysql_pool_full_errors_total",
        "Sessions refused with 1040 after waiting the connect timeout for a pooled connection",
        "pool_full_errors",
    ),
    (
        "fastlb_mysql_pool_borrows_total",
        "Server connections sessions took from the pool (per statement with multiplexing)",
        "pool_borrows",
    ),
    (
        "fastlb_mysql_pool_returns_total",
        "Server connections sessions gave back to the pool idle",
        "pool_returns",
    ),
]

# (metric name, help text, field): gauges of the pool, over the frontend backend's servers.
_POOL_GAUGES = [
    ("fastlb_mysql_pool_idle_connections", "Idle pooled server connections", "pool_idle"),
    (
        "fastlb_mysql_pool_open_connections",
        "Pooled server connections open (idle and in use)",
        "pool_open",
    ),
]


def mysql_metrics(stats: StatsSnapshot) -> Iterator[Metric]:
    """The metric families of every `mode: mysql` frontend and MySQL server in `stats`."""
    frontends = {
        name: counters.mysql
        for name, counters in stats.frontends.items()
        if counters.mysql is not None
    }
    queries = CounterMetricFamily(
        "fastlb_mysql_queries_total",
        "Statements routed, by destination role",
        labels=["proxy", "route"],
    )
    for proxy, mysql in frontends.items():
        queries.add_metric([proxy, "primary"], mysql.queries_primary)
        queries.add_metric([proxy, "replica"], mysql.queries_replica)
    yield queries
    pinned = GaugeMetricFamily(
        "fastlb_mysql_pinned_sessions",
        "Sessions pinned to the primary (temporary tables, locks, user variables)",
        labels=["proxy"],
    )
    for proxy, mysql in frontends.items():
        pinned.add_metric([proxy], mysql.pinned_sessions)
    yield pinned
    for name, help_text, key in _COUNTERS:
        counter = CounterMetricFamily(name, help_text, labels=["proxy"])
        for proxy, mysql in frontends.items():
            counter.add_metric([proxy], getattr(mysql, key))
        yield counter
    pins = CounterMetricFamily(
        "fastlb_mysql_pins",
        "Sessions pinned to their server connection, by reason (state fastlb can't replay)",
        labels=["proxy", "reason"],
    )
    for proxy, mysql in frontends.items():
        for reason, count in sorted(mysql.pins_by_reason.items()):
            pins.add_metric([proxy, reason], count)
    yield pins
    for name, help_text, key in _POOL_GAUGES:
        gauge = GaugeMetricFamily(name, help_text, labels=["proxy"])
        for proxy, mysql in frontends.items():
            gauge.add_metric([proxy], getattr(mysql, key))
        yield gauge
    by_server = GaugeMetricFamily(
        "fastlb_mysql_pool_server_connections",
        "Pooled server connections of each server, idle or open (idle and in use)",
        labels=["proxy", "server", "state"],
    )
    for proxy, mysql in frontends.items():
        for server, figures in sorted(mysql.pool_by_server.items()):
            by_server.add_metric([proxy, server, "idle"], figures.idle)
            by_server.add_metric([proxy, server, "open"], figures.open)
    yield by_server
    yield from _server_metrics(stats.backends)
    yield from _failover_metrics(stats.mysql_topology or {})


def _failover_metrics(topology: Mapping[str, MysqlTopology | None]) -> Iterator[Metric]:
    """The failover controllers' counters (backends with `mysql.failover`)."""
    failovers = CounterMetricFamily(
        "fastlb_mysql_failovers_total",
        "Primary changes fastlb made, by kind (failover: unplanned; switchover: planned)",
        labels=["proxy", "kind"],
    )
    unavailable = CounterMetricFamily(
        "fastlb_mysql_write_unavailable_seconds",
        "Seconds writes could not be served: failover outages (primary last seen to "
        "promotion) plus switchover holds",
        labels=["proxy"],
    )
    for proxy, decision in topology.items():
        failover = decision.failover if decision is not None else None
        if failover is None:
            continue
        failovers.add_metric([proxy, "failover"], failover.failovers_total)
        failovers.add_metric([proxy, "switchover"], failover.switchovers_total)
        unavailable.add_metric([proxy], failover.write_unavailable_seconds)
    yield from (failovers, unavailable)


def _server_metrics(backends: Mapping[str, BackendStats]) -> Iterator[Metric]:
    labels = ["proxy", "server"]
    servers = [
        ([proxy, name], counters.mysql)
        for proxy, backend in backends.items()
        for name, counters in backend.servers.items()
        if counters.mysql is not None
    ]
    role = GaugeMetricFamily(
        "fastlb_mysql_server_role",
        "The server's current role: 1 for the role label that applies",
        labels=[*labels, "role"],
    )
    read_pool = GaugeMetricFamily(
        "fastlb_mysql_server_in_read_pool",
        "1 when the replica takes reads (replicating, not lagging)",
        labels=labels,
    )
    lag = GaugeMetricFamily(
        "fastlb_mysql_replication_lag_seconds",
        "Replication lag as the topology monitor last measured it (absent: unknown)",
        labels=labels,
    )
    statements = CounterMetricFamily(
        "fastlb_mysql_server_queries_total",
        "Statements the server ran for mode mysql sessions",
        labels=labels,
    )
    for label_values, mysql in servers:
        for name in ("primary", "replica"):
            role.add_metric([*label_values, name], 1.0 if mysql.role == name else 0.0)
        read_pool.add_metric(label_values, 1.0 if mysql.in_read_pool else 0.0)
        if mysql.replication_lag_seconds is not None:
            lag.add_metric(label_values, mysql.replication_lag_seconds)
        statements.add_metric(label_values, mysql.queries)
    yield from (role, read_pool, lag, statements)
