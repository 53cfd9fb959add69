"""The HTTP API served by a real LoadBalancer (uvicorn in its thread), driven over HTTP."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fastlb import LoadBalancer
from fastlb.harness.waiting import wait_for
from support import NamedHTTPBackend, free_port, http_get

TOKEN = "test-token-123"


def make_config(
    backends: list[NamedHTTPBackend],
    token: str | None = None,
    health_check: dict[str, Any] | None = None,
) -> dict[str, Any]:
    api: dict[str, Any] = {"listen": "127.0.0.1:0"}
    if token:
        api["token"] = token
    config: dict[str, Any] = {
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
    if health_check is not None:
        config["backends"][0]["health_check"] = health_check
    return config


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    wait_for(condition, timeout, condition.__doc__ or "", interval=0.05)


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
    assert (server["status"], server["health"], server["initial_weight"]) == ("UP", "up", 2)
    assert (server["down_transitions"], server["check"]) == (0, None)  # no health check
    assert 0 < server["last_change"] <= time.time()
    histogram = server["connect_time"]
    assert histogram["count"] == 2
    assert histogram["buckets"] and histogram["buckets"][-1][1] <= histogram["count"]


def test_metrics_parse_and_carry_the_series(backends: list[NamedHTTPBackend]) -> None:
    fast_check = {"type": "tcp", "interval": "100ms", "rise": 1}
    with (
        LoadBalancer(make_config(backends, health_check=fast_check)) as balancer,
        httpx.Client(base_url=str(balancer.api_url), timeout=10) as api,
    ):
        wait_until(lambda: _server(balancer, "web-01")["check"]["status"] == "ok")
        send_traffic(balancer, 3)
        # A session is timed when both sides have closed: the server's close may come last.
        wait_until(lambda: _server(balancer, "web-01")["session_time"]["count"] == 2)
        check_metrics(api.get("/metrics"))


def _server(balancer: LoadBalancer, name: str) -> dict[str, Any]:
    server: dict[str, Any] = balancer.stats()["backends"]["web"]["servers"][name]
    return server


def check_metrics(response: httpx.Response) -> None:
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
    for state in ("UP", "DOWN", "DRAIN", "MAINT"):
        expected = 1 if state == "UP" else 0
        assert value("fastlb_server_status", "fastlb_server_status", state=state, **web_01) == (
            expected
        )
    assert value("fastlb_server_check_status", "fastlb_server_check_status", **web_01) == 1
    name = "fastlb_server_down_transitions"
    assert value(name, f"{name}_total", **web_01) == 0
    name = "fastlb_server_last_change_seconds"
    assert 0 <= value(name, name, **web_01) < 60
    for counter in ("rejected_connections", "resource_errors"):
        name = f"fastlb_frontend_{counter}"
        assert value(name, f"{name}_total", **web) == 0
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
    name = "fastlb_server_session_time_seconds"
    assert families[name].type == "histogram"
    assert value(name, f"{name}_count", **web_01) == 2
    assert value(name, f"{name}_bucket", le="+Inf", **web_01) == 2
    assert value(name, f"{name}_sum", **web_01) > 0


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
    ("percent", "expected"),
    [("50%", 1), ("200%", 4), ("0%", 0), ("20000%", 256), ("10000%", 200), ("49%", 0)],
)
def test_put_percent_weight_is_relative_to_the_configured_weight(
    api: httpx.Client, percent: str, expected: int
) -> None:
    # web-01's configured weight is 2; HAProxy rounds down and caps at 256.
    response = api.put("/api/backends/web/servers/web-01", json={"weight": percent})
    assert response.status_code == 200, response.text
    assert (response.json()["weight"], response.json()["initial_weight"]) == (expected, 2)
    # Relative to the configured weight, not to the current one: the same again, same result.
    response = api.put("/api/backends/web/servers/web-01", json={"weight": percent})
    assert response.json()["weight"] == expected


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
        {"weight": "50"},
        {"weight": "-5%"},
        {"weight": "half%"},
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


# ----------------------------------------------------------------------- add / remove servers


def test_post_server_adds_one_that_takes_traffic(balancer: LoadBalancer, api: httpx.Client) -> None:
    with NamedHTTPBackend("web-03") as web_03:
        body = {"name": "web-03", "address": web_03.address, "weight": 5}
        response = api.post("/api/backends/web/servers", json=body)
        assert response.status_code == 201, response.text
        assert response.json() == {
            "backend": "web",
            "server": "web-03",
            "address": web_03.address,
            "weight": 5,
            "initial_weight": 5,
            "state": "ready",
            "status": "UP",
            "backup": False,
            "active": True,
        }
        for name in ("web-01", "web-02"):
            api.put(f"/api/backends/web/servers/{name}", json={"state": "maint"})
        assert http_get(f"http://{balancer.addresses['web']}/") == "hello from web-03\n"
        assert balancer.config.backends[0].servers[-1].name == "web-03"


def test_post_server_with_a_host_name_resolves_it(api: httpx.Client) -> None:
    body = {"name": "web-04", "address": "localhost:9", "backup": True}
    response = api.post("/api/backends/web/servers", json=body)
    assert response.status_code == 201, response.text
    assert (response.json()["address"], response.json()["backup"]) == ("127.0.0.1:9", True)


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/backends/nope/servers", {"name": "x", "address": "127.0.0.1:1"}, 404, "nope"),
        (
            "/api/backends/web/servers",
            {"name": "web-01", "address": "127.0.0.1:1"},
            409,
            "backend 'web' already has a server 'web-01'",
        ),
        (
            "/api/backends/web/servers",
            {"name": "x", "address": "localhost"},
            422,
            "invalid address 'localhost': expected host:port",
        ),
        (
            "/api/backends/web/servers",
            {"name": "x", "address": "no-such-host.invalid:80"},
            422,
            "cannot resolve 'no-such-host.invalid:80'",
        ),
        ("/api/backends/web/servers", {"name": "bad name", "address": "127.0.0.1:1"}, 422, "name"),
        (
            "/api/backends/web/servers",
            {"name": "x", "address": "127.0.0.1:1", "weight": 257},
            422,
            "",
        ),
        ("/api/backends/web/servers", {"address": "127.0.0.1:1"}, 422, "name"),
    ],
)
def test_post_server_errors(
    balancer: LoadBalancer,
    api: httpx.Client,
    path: str,
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    response = api.post(path, json=body)
    assert response.status_code == status, response.text
    assert message in str(response.json()["detail"])
    assert set(balancer.stats()["backends"]["web"]["servers"]) == {"web-01", "web-02"}


def test_delete_server(balancer: LoadBalancer, api: httpx.Client) -> None:
    response = api.delete("/api/backends/web/servers/web-02")
    assert (response.status_code, response.content) == (204, b"")
    assert set(balancer.stats()["backends"]["web"]["servers"]) == {"web-01"}
    answers = {http_get(f"http://{balancer.addresses['web']}/") for _ in range(4)}
    assert answers == {"hello from web-01\n"}
    assert [s.name for s in balancer.config.backends[0].servers] == ["web-01"]

    response = api.delete("/api/backends/web/servers/web-02")
    assert response.status_code == 404
    assert "backend 'web' has no server 'web-02'" in response.json()["detail"]
    assert api.delete("/api/backends/nope/servers/web-01").status_code == 404


# ----------------------------------------------------------------------- reload


@pytest.fixture
def file_balancer(
    backends: list[NamedHTTPBackend], tmp_path: Path
) -> Iterator[tuple[LoadBalancer, Path]]:
    path = tmp_path / "fastlb.yaml"
    path.write_text(yaml.safe_dump(make_config(backends)))
    with LoadBalancer.from_file(path) as lb:
        yield lb, path


def test_reload_applies_the_changed_file(
    file_balancer: tuple[LoadBalancer, Path], backends: list[NamedHTTPBackend]
) -> None:
    balancer, path = file_balancer
    with (
        NamedHTTPBackend("web-03") as web_03,
        httpx.Client(base_url=str(balancer.api_url), timeout=10) as api,
    ):
        config = make_config(backends)
        config["api"] = balancer.config.model_dump()["api"]  # the same api section
        config["frontends"][0]["listen"] = balancer.addresses["web"]
        servers = config["backends"][0]["servers"]
        servers[0]["weight"] = 1
        servers[1] = {"name": "web-03", "address": web_03.address, "weight": 1}
        path.write_text(yaml.safe_dump(config))

        response = api.post("/api/reload")
        assert response.status_code == 200, response.text
        assert set(response.json()["changes"]) == {
            f"frontend web: listen 127.0.0.1:0 -> {balancer.addresses['web']}",
            f"backend web: server web-03 added ({web_03.address}, weight 1)",
            "backend web: server web-01 weight 2 -> 1",
            "backend web: server web-02 removed",
        }
        servers_now = balancer.stats()["backends"]["web"]["servers"]
        assert set(servers_now) == {"web-01", "web-03"}
        assert servers_now["web-01"]["weight"] == 1
        answers = {http_get(f"http://{balancer.addresses['web']}/") for _ in range(4)}
        assert answers == {"hello from web-01\n", "hello from web-03\n"}
        assert balancer.config.backends[0].servers[1].name == "web-03"

        # Nothing changed since: nothing to report.
        assert api.post("/api/reload").json() == {"changes": []}


def test_reload_with_a_bad_file_is_422_and_changes_nothing(
    file_balancer: tuple[LoadBalancer, Path],
) -> None:
    balancer, path = file_balancer
    before = balancer.config
    data = yaml.safe_load(path.read_text())
    data["backends"][0]["servers"][1]["weight"] = 999
    data["backends"][0]["servers"].append({"name": "web-09", "address": "127.0.0.1:9"})
    path.write_text(yaml.safe_dump(data))
    with httpx.Client(base_url=str(balancer.api_url), timeout=10) as api:
        response = api.post("/api/reload")
    assert response.status_code == 422, response.text
    field = "backends[0] (web).servers[1] (web-02).weight"
    assert response.json()["problems"] == [
        {"field": field, "message": "must be between 0 and 256 (got 999)"}
    ]
    assert f"{path}: {field}: must be between 0 and 256" in response.json()["detail"]
    assert balancer.config is before
    assert set(balancer.stats()["backends"]["web"]["servers"]) == {"web-01", "web-02"}
    send_traffic(balancer, 2)


def test_reload_refuses_changes_that_need_a_restart(
    file_balancer: tuple[LoadBalancer, Path],
) -> None:
    balancer, path = file_balancer
    data = yaml.safe_load(path.read_text())
    data["workers"] = 2
    path.write_text(yaml.safe_dump(data))
    with httpx.Client(base_url=str(balancer.api_url), timeout=10) as api:
        response = api.post("/api/reload")
    assert response.status_code == 422
    assert "changing workers (1 -> 2) needs a restart" in response.json()["detail"]
    assert balancer.config.workers == 1


def test_reload_without_a_file_is_409(api: httpx.Client) -> None:
    response = api.post("/api/reload")
    assert response.status_code == 409
    assert "not loaded from a file" in response.json()["detail"]


# ----------------------------------------------------------------------- token

WRITES = [
    ("PUT", "/api/backends/web/servers/web-01", {"weight": 5}),
    ("PUT", "/api/backends/web/servers/web-01", {"state": "maint"}),
    ("POST", "/api/backends/web/servers", {"name": "web-09", "address": "127.0.0.1:9"}),
    ("DELETE", "/api/backends/web/servers/web-02", None),
    ("POST", "/api/reload", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_every_write_needs_the_token(
    backends: list[NamedHTTPBackend],
    tmp_path: Path,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    config_file = tmp_path / "fastlb.yaml"
    config_file.write_text(yaml.safe_dump(make_config(backends, token=TOKEN)))
    with (
        LoadBalancer.from_file(config_file) as lb,
        httpx.Client(base_url=str(lb.api_url), timeout=10) as client,
    ):
        before = lb.stats()["backends"]["web"]["servers"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, response.text
            assert "Bearer" in response.json()["detail"]
        after = lb.stats()["backends"]["web"]["servers"]
        assert {n: (s["weight"], s["state"]) for n, s in after.items()} == {
            n: (s["weight"], s["state"]) for n, s in before.items()
        }
        right = {"Authorization": f"Bearer {TOKEN}"}
        response = client.request(method, path, json=body, headers=right)
        assert response.status_code in (200, 201, 204), response.text
