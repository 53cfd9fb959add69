"""The HTTP API served by a real LoadBalancer (uvicorn in its thread), driven over HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fastlb import LoadBalancer
from support import NamedHTTPBackend, free_port, http_get

TOKEN = "test-token-123"


def make_config(backends: list[NamedHTTPBackend], token: str | None = None) -> dict[str, Any]:
    api: dict[str, Any] = {"listen": "127.0.0.1:0"}
    if token:
        api["token"] = token
    return {
        "workers": 1,
        "drain_timeout": "1s",
        "api": api,
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web"}],
        "backends": [
            {
                "name": "web",
                "servers": [
                    {"name": "web-01", "address": backends[0].address, "weight": 2},
                    {"name": "web-02", "address": backends[1].address, "weight": 1},
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def backends() -> Iterator[list[NamedHTTPBackend]]:
    servers = [NamedHTTPBackend("web-01"), NamedHTTPBackend("web-02")]
    yield servers
    for server in servers:
        server.close()


@pytest.fixture
def balancer(backends: list[NamedHTTPBackend]) -> Iterator[LoadBalancer]:
    with LoadBalancer(make_config(backends)) as lb:
        yield lb


@pytest.fixture
def api(balancer: LoadBalancer) -> Iterator[httpx.Client]:
    assert balancer.api_url is not None
    with httpx.Client(base_url=balancer.api_url, timeout=10) as client:
        yield client


def send_traffic(balancer: LoadBalancer, requests: int = 3) -> None:
    for _ in range(requests):
        assert http_get(f"http://{balancer.addresses['web']}/").startswith("hello from web-0")


def test_health(api: httpx.Client) -> None:
    response = api.get("/api/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_stats_shape(balancer: LoadBalancer, api: httpx.Client) -> None:
    send_traffic(balancer, 3)
    stats = api.get("/api/stats").json()
    assert isinstance(stats["uptime_seconds"], float)
    frontend = stats["frontends"]["web"]
    assert frontend["listen"] == balancer.addresses["web"]
    assert frontend["backend"] == "web"
    assert frontend["total_connections"] == 3
    for key in ("current_connections", "bytes_in", "bytes_out", "rejected_connections"):
        assert isinstance(frontend[key], int)
    server = stats["backends"]["web"]["servers"]["web-01"]
    assert (server["weight"], server["state"], server["backup"], server["active"]) == (
        2,
        "ready",
        False,
        True,
    )
    assert server["total_connections"] == 2  # weights 2:1 over 3 new connections
    assert server["bytes_out"] > 0
    histogram = server["connect_time"]
    assert histogram["count"] == 2
    assert histogram["buckets"] and histogram["buckets"][-1][1] <= histogram["count"]


def test_metrics_parse_and_carry_the_series(balancer: LoadBalancer, api: httpx.Client) -> None:
    send_traffic(balancer, 3)
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}

    def value(family: str, sample: str, **labels: str) -> float:
        for s in families[family].samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
        raise AssertionError(f"no {sample}{labels} in {families[family].samples}")

    web = {"proxy": "web"}
    web_01 = {"proxy": "web", "server": "web-01"}
    assert value("fastlb_frontend_sessions", "fastlb_frontend_sessions_total", **web) == 3
    assert value("fastlb_frontend_current_sessions", "fastlb_frontend_current_sessions", **web) >= 0
    assert value("fastlb_frontend_bytes_in", "fastlb_frontend_bytes_in_total", **web) > 0
    assert value("fastlb_frontend_bytes_out", "fastlb_frontend_bytes_out_total", **web) > 0
    assert value("fastlb_server_sessions", "fastlb_server_sessions_total", **web_01) == 2
    assert value("fastlb_server_weight", "fastlb_server_weight", **web_01) == 2
    assert value("fastlb_server_status", "fastlb_server_status", **web_01) == 1
    for counter in ("bytes_in", "bytes_out", "connection_errors", "retries"):
        assert f"fastlb_server_{counter}" in families
        assert value(f"fastlb_server_{counter}", f"fastlb_server_{counter}_total", **web_01) >= 0
    assert "fastlb_server_current_sessions" in families

    histogram = families["fastlb_server_connect_time_seconds"]
    assert histogram.type == "histogram"
    name = "fastlb_server_connect_time_seconds"
    assert value(name, f"{name}_count", **web_01) == 2
    assert value(name, f"{name}_bucket", le="+Inf", **web_01) == 2
    assert value(name, f"{name}_sum", **web_01) >= 0


def test_put_weight_changes_the_weight(api: httpx.Client) -> None:
    response = api.put("/api/backends/web/servers/web-02", json={"weight": 7})
    assert response.status_code == 200, response.text
    assert response.json()["weight"] == 7
    assert api.get("/api/stats").json()["backends"]["web"]["servers"]["web-02"]["weight"] == 7


def test_put_state_drain_and_ready(api: httpx.Client) -> None:
    response = api.put("/api/backends/web/servers/web-01", json={"state": "drain"})
    assert response.status_code == 200, response.text
    server = api.get("/api/stats").json()["backends"]["web"]["servers"]["web-01"]
    assert server["state"] == "drain"
    response = api.put("/api/backends/web/servers/web-01", json={"state": "ready", "weight": 4})
    assert (response.json()["state"], response.json()["weight"]) == ("ready", 4)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/backends/nope/servers/web-01", "unknown backend 'nope'"),
        ("/api/backends/web/servers/nope", "backend 'web' has no server 'nope'"),
    ],
)
def test_put_unknown_names_404(api: httpx.Client, path: str, message: str) -> None:
    response = api.put(path, json={"weight": 1})
    assert response.status_code == 404
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"weight": 300},
        {"weight": -1},
        {"weight": "3"},
        {"weight": True},
        {"state": "off"},
        {},
        {"weight": 1, "colour": "red"},
        [1, 2],
    ],
)
def test_put_bad_body_422(api: httpx.Client, body: Any) -> None:
    response = api.put("/api/backends/web/servers/web-01", json=body)
    assert response.status_code == 422, response.text
    assert api.get("/api/stats").json()["backends"]["web"]["servers"]["web-01"]["weight"] == 2


def test_put_malformed_json_is_4xx(api: httpx.Client) -> None:
    response = api.put(
        "/api/backends/web/servers/web-01",
        content=b"{weight: ",
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500


def test_openapi_describes_the_api(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert {
        "/api/stats",
        "/api/health",
        "/metrics",
        "/api/backends/{backend}/servers/{server}",
    } <= set(paths)


def test_token_guards_writes_only(backends: list[NamedHTTPBackend]) -> None:
    with LoadBalancer(make_config(backends, token=TOKEN)) as lb:
        assert lb.api_url is not None
        with httpx.Client(base_url=lb.api_url, timeout=10) as client:
            path = "/api/backends/web/servers/web-01"
            assert client.put(path, json={"weight": 5}).status_code == 401
            wrong = {"Authorization": "Bearer not-the-token"}
            assert client.put(path, json={"weight": 5}, headers=wrong).status_code == 401
            basic = {"Authorization": f"Basic {TOKEN}"}
            assert client.put(path, json={"weight": 5}, headers=basic).status_code == 401
            assert lb.stats()["backends"]["web"]["servers"]["web-01"]["weight"] == 2

            right = {"Authorization": f"Bearer {TOKEN}"}
            assert client.put(path, json={"weight": 5}, headers=right).status_code == 200
            assert lb.stats()["backends"]["web"]["servers"]["web-01"]["weight"] == 5
            # reads stay open
            assert client.get("/api/stats").status_code == 200
            assert client.get("/metrics").status_code == 200


def test_api_stops_with_the_balancer(backends: list[NamedHTTPBackend]) -> None:
    lb = LoadBalancer(make_config(backends)).start()
    url = lb.api_url
    assert url is not None
    assert httpx.get(f"{url}/api/health").status_code == 200
    lb.stop()
    assert lb.api_url is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/health", timeout=2)


def test_busy_api_port_fails_before_any_frontend_listens(
    backends: list[NamedHTTPBackend],
) -> None:
    config = make_config(backends)
    frontend_port = free_port()
    config["frontends"][0]["listen"] = f"127.0.0.1:{frontend_port}"
    with socket.create_server(("127.0.0.1", 0)) as occupied:
        config["api"]["listen"] = f"127.0.0.1:{occupied.getsockname()[1]}"
        lb = LoadBalancer(config)
        with pytest.raises(OSError, match=r"api: cannot listen on .*: Address already in use"):
            lb.start()
    assert not lb.running
    # the frontend's port was never taken
    with socket.create_server(("127.0.0.1", frontend_port)):
        pass
