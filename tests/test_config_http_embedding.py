"""`mode: http` configuration given to an embedded `LoadBalancer(dict)` (the core takes it,
a bad dict is refused naming the field) and described on reload."""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import pytest
from test_config_http import DEFAULT_POOL, ROUTES, base

from fastlb import LoadBalancer
from fastlb.config import Config
from fastlb.config_diff import describe_changes
from fastlb.errors import ConfigError


def test_load_balancer_takes_a_mode_http_dict(tmp_path: Path) -> None:
    data = base(
        accept_proxy=True,
        trusted_proxies=["127.0.0.1"],
        http={
            "request_headers": {"set": {"X-Env": "test"}},
            "routes": [
                {"match": {"path_prefix": "/api/"}, "backend": "api"},
                {"match": {"path_prefix": "/old/"}, "redirect": {"path_prefix": "/new"}},
            ],
            "access_log": {"path": str(tmp_path / "access.log"), "format": "json"},
        },
    )
    data["backends"][0]["send_proxy"] = "v2"
    expected = copy.deepcopy(data)
    with LoadBalancer(data) as lb:
        assert data == expected  # the caller's dict is not changed
        core = lb.config.to_core_dict()
        web = core["frontends"][0]
        assert (web["mode"], web["accept_proxy"], web["trusted_proxies"]) == (
            "http",
            True,
            ["127.0.0.1/32"],
        )
        assert web["http"]["request_headers"]["set"] == [["X-Env", "test"]]
        assert [route["backend"] for route in web["http"]["routes"]] == ["api", None]
        assert core["backends"][0]["send_proxy"] == "v2"
        assert core["backends"][1]["http"] == DEFAULT_POOL
        # The core took the configuration and listens. What it answers is the HTTP session's
        # business (tests of the core); here only that it accepts the connection.
        host, port = lb.addresses["web"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5):
            pass
        assert lb.stats()["frontends"]["web"]["mode"] == "http"


def test_load_balancer_refuses_a_bad_http_dict() -> None:
    with pytest.raises(ConfigError) as caught:
        LoadBalancer(base(http={"routes": [{"backend": "nope"}]}))
    assert caught.value.problems == [
        (f"{ROUTES}[0].backend", "no backend named 'nope' (defined: web, api)")
    ]


def test_reload_describes_http_changes() -> None:
    old = Config.from_mapping(base())
    data = base(http={"request_timeout": "5s"}, trusted_proxies=["10.0.0.0/8"])
    data["backends"][0].update(send_proxy="v1", http={"max_idle": 8})
    data["frontends"].append(
        {"name": "plain", "listen": "127.0.0.1:0", "backend": "web", "mode": "tcp"}
    )
    new = Config.from_mapping(data)
    assert describe_changes(old, new) == [
        "frontend web: trusted_proxies changed",
        "frontend web: http settings changed",
        "frontend plain added (127.0.0.1:0 -> backend web)",
        "backend web: send_proxy None -> v1",
        "backend web: http settings changed",
    ]
    assert describe_changes(new, new) == []
    to_tcp = copy.deepcopy(data)
    to_tcp["frontends"][0].update(mode="tcp", trusted_proxies=[], http=None)
    changes = describe_changes(new, Config.from_mapping(to_tcp))
    assert changes[:2] == [
        "frontend web: mode http -> tcp",
        "frontend web: trusted_proxies changed",
    ]


def test_the_headers_routes_may_not_edit_are_the_cores() -> None:
    """config_http refuses edits of the fields the core frames itself, early and with the
    field's path; the core's own list decides: the two must be the same set."""
    from fastlb import _core
    from fastlb.config_http import CORE_OWNED_HEADERS

    assert set(_core.HTTP_PROXY_OWNED_HEADERS) == CORE_OWNED_HEADERS
