"""Prometheus metrics of `mode: http` (docs/http.md, "Stats"): requests, responses by status
class, the server connection pool and the request/response time histograms.

One metric name serves three scopes, told apart by their labels (docs/http.md):
`{frontend="web"}`, `{backend="web"}` and `{backend="web", server="web-01"}`. The `proxy`
label of the other metrics could not do it: a frontend and a backend are often both called
`web`, and their series would collide. Nothing is exported while no frontend speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from .stats_models import (
    BackendHttpStats,
    FrontendHttpStats,
    Histogram,
    ServerHttpStats,
    StatsSnapshot,
)

__all__ = ["RESPONSE_CLASSES", "http_metrics"]

# The `code` label of fastlb_http_responses_total (HAProxy's exporter uses the same values).
RESPONSE_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")

Labels = dict[str, str]

# (metric name, help text, field of the frontend's `FrontendHttpStats`)
_FRONTEND_COUNTERS = [
    (
        "fastlb_http_bad_requests",
        "Requests refused as malformed or too large (400, 431, ...)",
        "bad_requests",
    ),
    (
        "fastlb_http_request_timeouts",
        "Clients that did not send a whole request head within request_timeout (408)",
        "request_timeouts",
    ),
    ("fastlb_http_redirects", "Requests answered by a redirect route", "redirects"),
    ("fastlb_http_h2_connections", "Client connections that spoke HTTP/2", "h2_connections"),
    (
        "fastlb_http_websocket_upgrades",
        "Connections upgraded to a tunnel (WebSocket, 101)",
        "websocket_upgrades",
    ),
    (
        "fastlb_http_access_log_dropped",
        "Access log lines dropped because the writer fell behind",
        "access_log_dropped",
    ),
]


def _go_float(value: float) -> str:
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _scopes(
    stats: StatsSnapshot,
) -> tuple[
    list[tuple[Labels, FrontendHttpStats]],
    list[tuple[Labels, BackendHttpStats]],
    list[tuple[Labels, ServerHttpStats]],
]:
    """The `http` sections of frontends, backends and servers, with their labels (those
    whose `http` is null, i.e. never served an http request, are left out)."""
    frontends = [
        ({"frontend": name}, counters.http)
        for name, counters in stats.frontends.items()
        if counters.http is not None
    ]
    backends: list[tuple[Labels, BackendHttpStats]] = []
    servers: list[tuple[Labels, ServerHttpStats]] = []
    for name, backend in stats.backends.items():
        if backend.http is not None:
            backends.append(({"backend": name}, backend.http))
        for server, counters in backend.servers.items():
            if counters.http is not None:
                servers.append(({"backend": name, "server": server}, counters.http))
    return frontends, backends, servers


def _counter(name: str, help_text: str, samples: Iterable[tuple[Labels, float]]) -> Metric:
    family = Metric(name, help_text, "counter")
    for labels, value in samples:
        family.add_sample(f"{name}_total", labels, value)
    return family


def _histogram(name: str, help_text: str, samples: Iterable[tuple[Labels, Histogram]]) -> Metric:
    """A histogram family from the core's HDR snapshots (cumulative buckets in seconds)."""
    family = Metric(name, help_text, "histogram")
    for labels, histogram in samples:
        for bound, count in histogram.buckets:
            family.add_sample(f"{name}_bucket", {**labels, "le": _go_float(bound)}, count)
        family.add_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, histogram.count)
        family.add_sample(f"{name}_count", labels, histogram.count)
        family.add_sample(f"{name}_sum", labels, histogram.sum_seconds)
    return family


def http_metrics(stats: StatsSnapshot) -> Iterator[Metric]:
    """Every HTTP metric family of `stats` (none at all without http frontends)."""
    frontends, backends, servers = _scopes(stats)
    everyone: list[tuple[Labels, FrontendHttpStats | BackendHttpStats | ServerHttpStats]] = [
        *frontends,
        *backends,
        *servers,
    ]
    if not everyone:
        return
    yield _counter(
        "fastlb_http_requests",
        "HTTP requests received (frontend) or forwarded (backend, server)",
        ((labels, http.requests) for labels, http in everyone),
    )
    yield _counter(
        "fastlb_http_responses",
        "HTTP responses sent to clients (frontend) or received from servers, by status class",
        (
            ({**labels, "code": code}, by_class.get(code, 0))
            for labels, http in everyone
            for by_class in [http.responses.model_dump(by_alias=True)]
            for code in RESPONSE_CLASSES
        ),
    )
    for name, help_text, key in _FRONTEND_COUNTERS:
        yield _counter(
            name, help_text, ((labels, getattr(http, key)) for labels, http in frontends)
        )
    yield _counter(
        "fastlb_http_pool_hits",
        "Requests sent over an idle pooled server connection",
        ((labels, http.pool_hits) for labels, http in backends),
    )
    yield _counter(
        "fastlb_http_pool_misses",
        "Requests that needed a new server connection",
        ((labels, http.pool_misses) for labels, http in backends),
    )
    yield _counter(
        "fastlb_http_retried_requests",
        "Requests sent again to another server after a failed connection",
        ((labels, http.retried_requests) for labels, http in backends),
    )
    idle = Metric(
        "fastlb_http_idle_server_connections",
        "Idle keep-alive connections to the server in the pool now",
        "gauge",
    )
    for labels, http in servers:
        idle.add_sample("fastlb_http_idle_server_connections", labels, http.idle_connections)
    yield idle
    active = Metric(
        "fastlb_http_active_requests",
        "Requests on their way to or from the server now (what balance leastconn weighs)",
        "gauge",
    )
    for labels, http in servers:
        active.add_sample("fastlb_http_active_requests", labels, http.active_requests)
    yield active
    yield _counter(
        "fastlb_http_cookies_set",
        "Responses that set the sticky-session cookie naming the server",
        ((labels, http.cookies_set) for labels, http in servers),
    )
    yield _histogram(
        "fastlb_http_request_duration_seconds",
        "Request time at the frontend, from its first byte to the response's last (HAProxy Ta)",
        ((labels, http.request_time) for labels, http in frontends),
    )
    yield _histogram(
        "fastlb_http_response_duration_seconds",
        "Time for the server's response head, request sent to head received (HAProxy Tr)",
        (
            *((labels, http.response_time) for labels, http in backends),
            *((labels, http.response_time) for labels, http in servers),
        ),
    )
