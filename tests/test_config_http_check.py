"""`fastlb check` on a bad value of each `mode: http` / PROXY protocol field that
tests/test_config_http.py does not already cover: exit status 2, nothing on stdout, and one
line on stderr that names the field by its path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_config_http import WEB, base, run_check

from support import set_at

API = "backends[1] (api)"
ROUTE0 = f"{WEB}.http.routes[0]"

# case: (mutation of `base(http={})`, the field path the one error line must name)
BAD_VALUES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "accept_proxy": (set_at("frontends.0.accept_proxy", "sometimes"), f"{WEB}.accept_proxy"),
    "keepalive_timeout": (
        set_at("frontends.0.http", {"keepalive_timeout": "forever"}),
        f"{WEB}.http.keepalive_timeout",
    ),
    "tunnel_timeout": (
        set_at("frontends.0.http", {"tunnel_timeout": "0s"}),
        f"{WEB}.http.tunnel_timeout",
    ),
    "h2c": (set_at("frontends.0.http", {"h2c": "maybe"}), f"{WEB}.http.h2c"),
    "forwarded.x_forwarded_for": (
        set_at("frontends.0.http", {"forwarded": {"x_forwarded_for": "yes please"}}),
        f"{WEB}.http.forwarded.x_forwarded_for",
    ),
    "forwarded.x_forwarded_proto": (
        set_at("frontends.0.http", {"forwarded": {"x_forwarded_proto": [1]}}),
        f"{WEB}.http.forwarded.x_forwarded_proto",
    ),
    "forwarded.x_forwarded_host": (
        set_at("frontends.0.http", {"forwarded": {"x_forwarded_host": "no way"}}),
        f"{WEB}.http.forwarded.x_forwarded_host",
    ),
    "forwarded.forwarded": (
        set_at("frontends.0.http", {"forwarded": {"forwarded": {"a": 1}}}),
        f"{WEB}.http.forwarded.forwarded",
    ),
    "forwarded unknown key": (
        set_at("frontends.0.http", {"forwarded": {"x_forwarded_port": True}}),
        f"{WEB}.http.forwarded.x_forwarded_port",
    ),
    "response_headers.remove": (
        set_at("frontends.0.http", {"response_headers": {"remove": ["Bad Name"]}}),
        f"{WEB}.http.response_headers.remove[0]",
    ),
    "route response_headers": (
        set_at(
            "frontends.0.http",
            {"routes": [{"backend": "api", "response_headers": {"set": {"Connection": "x"}}}]},
        ),
        f"{ROUTE0}.response_headers.set[0][0]",
    ),
    "match path_prefix": (
        set_at(
            "frontends.0.http", {"routes": [{"match": {"path_prefix": "v1"}, "backend": "api"}]}
        ),
        f"{ROUTE0}.match.path_prefix",
    ),
    "match header value": (
        set_at(
            "frontends.0.http",
            {"routes": [{"match": {"header": {"X-A": "a\nb"}}, "backend": "api"}]},
        ),
        f"{ROUTE0}.match.header.X-A",
    ),
    "redirect path_prefix": (
        set_at("frontends.0.http", {"routes": [{"redirect": {"path_prefix": "new"}}]}),
        f"{ROUTE0}.redirect.path_prefix",
    ),
    "access_log without path": (
        set_at("frontends.0.http", {"access_log": {"format": "json"}}),
        f"{WEB}.http.access_log.path",
    ),
    "backend server_reuse": (
        set_at("backends.1.http", {"server_reuse": "often"}),
        f"{API}.http.server_reuse",
    ),
    "backend idle_timeout": (
        set_at("backends.1.http", {"idle_timeout": "-1s"}),
        f"{API}.http.idle_timeout",
    ),
    "check_send_proxy": (
        set_at("backends.1.check_send_proxy", "v2"),
        f"{API}.check_send_proxy",
    ),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_fastlb_check_names_the_bad_field(case: str, write_config: Callable[..., Path]) -> None:
    mutate, field = BAD_VALUES[case]
    data = base(http={})
    mutate(data)
    path = write_config(yaml.safe_dump(data, sort_keys=False))
    result = run_check(path)
    assert (result.returncode, result.stdout) == (2, ""), result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: {field}: "), lines
