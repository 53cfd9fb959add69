"""What the API and /metrics make of a real core's HTTP-mode stats: the typed model reads
them back unchanged, the Prometheus families carry each scope, and a tcp-only snapshot has no
`fastlb_http_*` family."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from http_stats import with_http
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_api import make_config

from fastlb import LoadBalancer
from fastlb.api.metrics import StatsCollector
from fastlb.api.stats_models import StatsSnapshot
from support import NamedHTTPBackend


@pytest.fixture
def http_snapshot(named_backends: Callable[..., list[NamedHTTPBackend]]) -> dict[str, Any]:
    """A real core's snapshot with a mode-http frontend `web` and a tcp frontend `raw`."""
    config = make_config(named_backends("web-01", "web-02"))
    config["frontends"] = [
        {"name": "web", "listen": "127.0.0.1:0", "backend": "web", "mode": "http"},
        {"name": "raw", "listen": "127.0.0.1:0", "backend": "web"},
    ]
    with LoadBalancer(config) as balancer:
        assert balancer.api_url is not None
        stats: dict[str, Any] = httpx.get(balancer.api_url + "/api/stats", timeout=10).json()
    # Before any request: http is null on the backend and servers, and on the tcp frontend.
    assert stats["frontends"]["web"]["mode"] == "http"
    assert stats["frontends"]["raw"].get("http") is None
    assert stats["backends"]["web"].get("http") is None
    return stats


def scrape(stats: dict[str, Any]) -> dict[str, Any]:
    """The Prometheus families that /metrics shows for this snapshot."""
    registry = CollectorRegistry()
    registry.register(StatsCollector(lambda: StatsSnapshot.model_validate(stats)))
    text = generate_latest(registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family: Any, sample: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == sample}


def test_http_stats_fit_the_models(http_snapshot: dict[str, Any]) -> None:
    stats = with_http(http_snapshot, 200)
    model = StatsSnapshot.model_validate(stats)
    web = model.frontends["web"].http
    assert web is not None
    assert (web.requests, web.responses.success, web.responses.redirection) == (200, 160, 20)
    assert web.request_time.count == 200
    backend = model.backends["web"].http
    assert backend is not None and (backend.pool_hits, backend.pool_misses) == (162, 18)
    server = model.backends["web"].servers["web-02"].http
    assert server is not None and server.idle_connections == 3
    assert model.frontends["raw"].http is None
    # What /api/stats sends back (by alias): the same document.
    assert model.model_dump(mode="json", by_alias=True) == stats


def test_http_metrics(http_snapshot: dict[str, Any]) -> None:
    families = scrape(with_http(http_snapshot, 200))
    requests = samples(families["fastlb_http_requests"], "fastlb_http_requests_total")
    assert requests == {
        (("frontend", "web"),): 200,
        (("backend", "web"),): 180,
        (("backend", "web"), ("server", "web-01")): 135,
        (("backend", "web"), ("server", "web-02")): 45,
    }
    responses = samples(families["fastlb_http_responses"], "fastlb_http_responses_total")
    assert responses[(("code", "2xx"), ("frontend", "web"))] == 160
    assert responses[(("code", "5xx"), ("frontend", "web"))] == 8
    assert responses[(("backend", "web"), ("code", "other"))] == 0
    assert len(responses) == 4 * 6  # every scope, every class
    assert samples(families["fastlb_http_pool_hits"], "fastlb_http_pool_hits_total") == {
        (("backend", "web"),): 162
    }
    assert samples(families["fastlb_http_pool_misses"], "fastlb_http_pool_misses_total") == {
        (("backend", "web"),): 18
    }
    bad = samples(families["fastlb_http_bad_requests"], "fastlb_http_bad_requests_total")
    assert bad == {(("frontend", "web"),): 2}
    idle = families["fastlb_http_idle_server_connections"]
    assert samples(idle, idle.name)[(("backend", "web"), ("server", "web-01"))] == 2
    active = families["fastlb_http_active_requests"]
    assert samples(active, active.name) == {
        (("backend", "web"), ("server", "web-01")): 1,
        (("backend", "web"), ("server", "web-02")): 2,
    }
    cookies = samples(families["fastlb_http_cookies_set"], "fastlb_http_cookies_set_total")
    assert cookies == {
        (("backend", "web"), ("server", "web-01")): 2,
        (("backend", "web"), ("server", "web-02")): 5,
    }

    name = "fastlb_http_request_duration_seconds"
    assert families[name].type == "histogram"
    buckets = samples(families[name], f"{name}_bucket")
    assert buckets[(("frontend", "web"), ("le", "0.001"))] == 0
    assert buckets[(("frontend", "web"), ("le", "0.005"))] == 100
    assert buckets[(("frontend", "web"), ("le", "+Inf"))] == 200
    assert samples(families[name], f"{name}_count") == {(("frontend", "web"),): 200}
    name = "fastlb_http_response_duration_seconds"
    counts = samples(families[name], f"{name}_count")
    assert counts == {
        (("backend", "web"),): 180,
        (("backend", "web"), ("server", "web-01")): 135,
        (("backend", "web"), ("server", "web-02")): 45,
    }
    assert samples(families[name], f"{name}_sum")[(("backend", "web"),)] == pytest.approx(0.54)


def test_no_http_metrics_without_http_frontends(http_snapshot: dict[str, Any]) -> None:
    tcp_only = {**http_snapshot, "frontends": {"raw": http_snapshot["frontends"]["raw"]}}
    families = scrape(tcp_only)
    assert not [name for name in families if name.startswith("fastlb_http_")]
    # The other families are all there, as before.
    assert "fastlb_frontend_sessions" in families and "fastlb_server_status" in families
