"""`fastlb check` on `mode: http` configurations: the documented example passes; a bad value
of each `mode: http` / PROXY protocol field exits 2, with nothing on stdout and one line on
stderr that names the field by its path."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_config_http import WEB, base, docs_example

from support import fastlb_command, set_at

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


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*fastlb_command(), "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_fastlb_check_accepts_the_example_and_names_each_mistake(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    good = write_config(docs_example(tmp_path))
    result = run_check(good)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{good}: OK\n", "")

    data = yaml.safe_load(docs_example(tmp_path))
    data["frontends"][0]["accept_proxy"] = True
    data["frontends"][0]["trusted_proxies"] = []
    data["frontends"][0]["http"]["routes"][0]["backend"] = "apo"
    data["frontends"][1]["mode"] = "tcp"
    data["backends"][1]["check_send_proxy"] = True
    bad = write_config(yaml.safe_dump(data, sort_keys=False))
    result = run_check(bad)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{bad}: backends[1] (api).check_send_proxy: needs send_proxy (v1 or v2): checks send "
        "the same header as the traffic",
        f"{bad}: {WEB}.trusted_proxies: accept_proxy needs the addresses of the load balancers "
        "in front (e.g. [10.0.0.0/8], or [127.0.0.1] on this host): a PROXY header is "
        "believed only from them",
        f"{bad}: {WEB}.http.routes[0].backend: no backend named 'apo' (defined: web, api)",
        f"{bad}: frontends[1] (web-redirect).http: only used by mode 'http' frontends (this "
        "one is mode 'tcp')",
    ]

    data = yaml.safe_load(docs_example(tmp_path))
    data["frontends"][0]["http"]["request_headers"]["set"] = {"X-Env": "prod\r\nX-Evil: 1"}
    bad = write_config(yaml.safe_dump(data, sort_keys=False))
    result = run_check(bad)
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            f"{bad}: {WEB}.http.request_headers.set[0][1]: invalid header value "
            "'prod\\r\\nX-Evil: 1': no CR, LF, NUL or other control characters"
        ],
    )
