"""Stats snapshots with the `http` sections of docs/http.md ("Stats"), for the tests of
everything that shows them (API models, Prometheus, dashboard, `fastlb stats`): a real
snapshot of a running core, with the counters of `requests` requests written in."""

from __future__ import annotations

import copy
from typing import Any

# Fractions of the requests: per status class at the frontend, and how the backend's
# requests split over its two servers.
RESPONSE_SHARE = {"1xx": 0.0, "2xx": 0.8, "3xx": 0.1, "4xx": 0.06, "5xx": 0.04, "other": 0.0}
BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.5)


def histogram(count: int, p50: float, p99: float) -> dict[str, Any]:
    """An HDR snapshot of `count` samples: half up to p50, the rest up to p99."""

    def below(bound: float) -> int:
        return count if bound >= p99 else count // 2 if bound >= p50 else 0

    return {
        "count": count,
        "sum_seconds": count * p50,
        "p50": p50 if count else 0.0,
        "p90": p99 if count else 0.0,
        "p99": p99 if count else 0.0,
        "p999": p99 if count else 0.0,
        "buckets": [[bound, below(bound)] for bound in BUCKETS],
    }


def responses(requests: int) -> dict[str, int]:
    return {code: round(requests * share) for code, share in RESPONSE_SHARE.items()}


def with_http(
    stats: dict[str, Any], requests: int, *, uptime: float | None = None
) -> dict[str, Any]:
    """`stats` (a snapshot) with `requests` requests counted on every mode-http frontend,
    the backends they use and those backends' servers (the first server takes 3/4)."""
    stats = copy.deepcopy(stats)
    if uptime is not None:
        stats["uptime_seconds"] = uptime
    used = set()
    for frontend in stats["frontends"].values():
        if frontend.get("mode") != "http":
            continue
        used.add(frontend["backend"])
        frontend["http"] = {
            "requests": requests,
            "responses": responses(requests),
            "bad_requests": 2,
            "request_timeouts": 1,
            "redirects": responses(requests)["3xx"],
            "h2_connections": 0,
            "websocket_upgrades": 0,
            "access_log_dropped": 0,
            "request_time": histogram(requests, 0.004, 0.09),
        }
    for name in used:
        backend = stats["backends"][name]
        forwarded = requests - responses(requests)["3xx"]
        backend["http"] = {
            "requests": forwarded,
            "responses": responses(forwarded),
            "pool_hits": forwarded * 9 // 10,
            "pool_misses": forwarded - forwarded * 9 // 10,
            "retried_requests": 0,
            "response_time": histogram(forwarded, 0.003, 0.08),
            "active_requests": 3,
            "cookies_set": 5,
        }
        for index, server in enumerate(backend["servers"].values()):
            share = forwarded * 3 // 4 if index == 0 else forwarded - forwarded * 3 // 4
            server["http"] = {
                "requests": share,
                "responses": responses(share),
                "idle_connections": 2 + index,
                "response_time": histogram(share, 0.003, 0.08),
                "active_requests": 1 + index,
                "cookies_set": 2 + 3 * index,
            }
    return stats
