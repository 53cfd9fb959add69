"""`balance: leastconn` and sticky sessions by cookie in the configuration: what reaches the
core, and every mistake refused with a message naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fastlb.config import Config
from fastlb.config_diff import describe_changes
from fastlb.errors import ConfigError


def config(backend: dict[str, Any] | None = None, **servers: dict[str, Any]) -> dict[str, Any]:
    """A mode-http frontend on backend `web` with servers a and b (`servers` adds keys)."""
    return {
        "workers": 1,
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "mode": "http", "backend": "web"}],
        "backends": [
            {
                "name": "web",
                **(backend or {}),
                "servers": [
                    {"name": name, "address": f"127.0.0.1:{9001 + i}", **servers.get(name, {})}
                    for i, name in enumerate(("a", "b"))
                ],
            }
        ],
    }


def core_backend(data: dict[str, Any]) -> dict[str, Any]:
    backend: dict[str, Any] = Config.from_mapping(data).to_core_dict()["backends"][0]
    return backend


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(data)
    return caught.value.problems


def test_leastconn_reaches_the_core() -> None:
    assert core_backend(config({"balance": "leastconn"}))["balance"] == "leastconn"


def test_cookie_reaches_the_core_inside_the_http_section() -> None:
    data = config(
        {"cookie": {"name": "SRV", "httponly": True, "secure": True, "max_age": "1h"}},
        b={"cookie": "bee"},
    )
    backend = core_backend(data)
    assert backend["http"]["cookie"] == {
        "name": "SRV",
        "insert": True,
        "httponly": True,
        "secure": True,
        "nocache": False,
        "max_age_s": 3600,
    }
    # a has no value of its own: the core names it by its name.
    assert [s.get("cookie") for s in backend["servers"]] == [None, "bee"]
    assert "cookie" not in core_backend(config())["http"]


def test_duplicate_cookie_values_are_refused_naming_the_server() -> None:
    # b's default value is its name, "b": a claiming it too is a clash.
    found = problems(config({"cookie": {}}, a={"cookie": "b"}))
    assert found == [
        ("backends[0] (web).servers[1] (b).cookie", "cookie value 'b' is already server 'a''s")
    ]


def test_server_cookie_without_a_backend_cookie_is_refused() -> None:
    assert problems(config(b={"cookie": "bee"})) == [
        (
            "backends[0] (web).servers[1] (b).cookie",
            "only used by backends with a 'cookie:' section",
        )
    ]


@pytest.mark.parametrize(
    ("backend", "servers", "field"),
    [
        ({"cookie": {"name": "S RV"}}, {}, "backends[0] (web).cookie.name"),
        ({"cookie": {"name": ""}}, {}, "backends[0] (web).cookie.name"),
        (
            {"cookie": {}},
            {"a": {"cookie": "has;semicolon"}},
            "backends[0] (web).servers[0] (a).cookie",
        ),
        ({"cookie": {"max_age": "0s"}}, {}, "backends[0] (web).cookie.max_age"),
        ({"cookie": {"insrt": True}}, {}, "backends[0] (web).cookie.insrt"),
        ({"balance": "leastconnections"}, {}, "backends[0] (web).balance"),
    ],
)
def test_bad_cookie_and_balance_fields_are_named(
    backend: dict[str, Any], servers: dict[str, Any], field: str
) -> None:
    found = problems(config(copy.deepcopy(backend), **servers))
    assert [path for path, _ in found] == [field], found


def test_a_reload_says_what_changed() -> None:
    old = Config.from_mapping(config())
    new = Config.from_mapping(config({"balance": "leastconn", "cookie": {}}, b={"cookie": "bee"}))
    assert describe_changes(old, new) == [
        "backend web: balance roundrobin -> leastconn",
        "backend web: sticky-session cookie settings changed",
        "backend web: server b cookie None -> bee",
    ]
