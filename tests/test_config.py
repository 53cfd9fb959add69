"""Configuration: good files parse to the right values; every bad one is refused by
`fastlb check` with exit status 2 and a message naming the field (or the line)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fastlb.cli import main
from fastlb.config import Config, load_config, parse_duration
from fastlb.errors import ConfigError, FastLBError
from support import set_at

GOOD_YAML = """\
workers: 2
splice: never
drain_timeout: 1m
api:
  listen: 127.0.0.1:9100
  token: secret
frontends:
  - name: web
    listen: 127.0.0.1:8080
    mode: tcp
    backend: web
    max_connections: 100
    idle_timeout: 250ms
backends:
  - name: web
    balance: roundrobin
    retries: 2
    connect_timeout: 2s
    all_backups: true
    servers:
      - {name: web-01, address: "127.0.0.1:9001", weight: 3}
      - {name: web-02, address: "localhost:9002"}
      - {name: spare, address: "[::1]:9003", backup: true}
"""

GOOD_TOML = """\
workers = 2
splice = "never"
drain_timeout = "1m"

[api]
listen = "127.0.0.1:9100"
token = "secret"

[[frontends]]
name = "web"
listen = "127.0.0.1:8080"
mode = "tcp"
backend = "web"
max_connections = 100
idle_timeout = "250ms"

[[backends]]
name = "web"
balance = "roundrobin"
retries = 2
connect_timeout = "2s"
all_backups = true
servers = [
  {name = "web-01", address = "127.0.0.1:9001", weight = 3},
  {name = "web-02", address = "localhost:9002"},
  {name = "spare", address = "[::1]:9003", backup = true},
]
"""


def base() -> dict[str, Any]:
    return yaml.safe_load(GOOD_YAML)  # type: ignore[no-any-return]


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run `fastlb check -c path` in-process: (exit status, stdout + stderr)."""
    status = main(["check", "-c", str(path)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


# ------------------------------------------------------------------------- good configs


def test_good_yaml_parses_to_the_right_values(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config(GOOD_YAML))
    assert config.workers == 2
    assert config.splice == "never"
    assert config.drain_timeout == 60.0
    assert config.api is not None
    assert (config.api.listen, config.api.token) == ("127.0.0.1:9100", "secret")
    frontend = config.frontends[0]
    assert (frontend.name, frontend.listen, frontend.backend) == ("web", "127.0.0.1:8080", "web")
    assert (frontend.max_connections, frontend.idle_timeout) == (100, 0.25)
    backend = config.backends[0]
    assert (backend.retries, backend.connect_timeout, backend.all_backups) == (2, 2.0, True)
    assert [(s.name, s.weight, s.backup) for s in backend.servers] == [
        ("web-01", 3, False),
        ("web-02", 1, False),
        ("spare", 1, True),
    ]


def test_toml_gives_the_same_config_as_yaml(write_config: Callable[..., Path]) -> None:
    assert load_config(write_config(GOOD_TOML, ".toml")) == load_config(write_config(GOOD_YAML))


def test_defaults() -> None:
    config = Config.from_mapping(
        {
            "frontends": [{"name": "f", "listen": "127.0.0.1:0", "backend": "b"}],
            "backends": [{"name": "b", "servers": [{"name": "s", "address": "127.0.0.1:1"}]}],
        }
    )
    assert config.workers == (os.cpu_count() or 1)
    assert (config.splice, config.drain_timeout, config.api) == ("auto", 30.0, None)
    assert (config.frontends[0].mode, config.frontends[0].max_connections) == ("tcp", 20000)
    assert config.frontends[0].idle_timeout == 60.0
    backend = config.backends[0]
    assert (backend.balance, backend.retries, backend.connect_timeout) == ("roundrobin", 3, 5.0)
    assert (backend.servers[0].weight, backend.servers[0].backup) == (1, False)


def test_api_section_defaults_to_loopback() -> None:
    data = base()
    data["api"] = {}
    config = Config.from_mapping(data)
    assert config.api is not None
    assert (config.api.listen, config.api.token) == ("127.0.0.1:9100", None)


def test_core_json_follows_the_contract(write_config: Callable[..., Path]) -> None:
    core = load_config(write_config(GOOD_YAML)).to_core_dict()
    assert core == {
        "workers": 2,
        "splice": "never",
        "frontends": [
            {
                "name": "web",
                "listen": "127.0.0.1:8080",
                "backend": "web",
                "mode": "tcp",
                "max_connections": 100,
                "idle_timeout_ms": 250,
                "accept_proxy": False,
                "proxy_timeout_ms": 5000,
                "trusted_proxies": [],
            }
        ],
        "backends": [
            {
                "name": "web",
                "balance": "roundrobin",
                "retries": 2,
                "connect_timeout_ms": 2000,
                "all_backups": True,
                "send_proxy": None,
                "check_send_proxy": False,
                "http": {
                    "server_reuse": True,
                    "max_idle": 64,
                    "idle_timeout_ms": 30000,
                    "response_timeout_ms": 30000,
                },
                "servers": [
                    {"name": "web-01", "address": "127.0.0.1:9001", "weight": 3, "backup": False},
                    # host names are resolved (IPv4 preferred); IPv6 keeps its brackets
                    {"name": "web-02", "address": "127.0.0.1:9002", "weight": 1, "backup": False},
                    {"name": "spare", "address": "[::1]:9003", "weight": 1, "backup": True},
                ],
            }
        ],
    }


def test_health_check_defaults() -> None:
    data = base()
    data["backends"][0]["health_check"] = {"type": "tcp"}
    check = Config.from_mapping(data).backends[0].health_check
    assert check is not None
    assert (check.type, check.interval, check.timeout, check.rise, check.fall) == (
        "tcp",
        2.0,
        1.0,
        2,
        3,
    )
    assert (check.path, check.expect_status, check.host, check.observe) == ("/", 200, None, True)
    assert check.effective_fast_interval == 0.5  # a quarter of the interval
    assert base_core()["backends"][0].get("health_check") is None  # none configured: absent


@pytest.mark.parametrize(
    ("interval", "fast_interval", "expected_ms"),
    [("2s", None, 500), ("200ms", None, 100), ("50ms", None, 50), ("10s", "300ms", 300)],
)
def test_health_check_fast_interval(
    interval: str, fast_interval: str | None, expected_ms: int
) -> None:
    data = base()
    data["backends"][0]["health_check"] = {"type": "tcp", "interval": interval}
    if fast_interval is not None:
        data["backends"][0]["health_check"]["fast_interval"] = fast_interval
    core = Config.from_mapping(data).to_core_dict()
    assert core["backends"][0]["health_check"]["fast_interval_ms"] == expected_ms


@pytest.mark.parametrize("balance", ["maglev", "source", "roundrobin", "leastconn"])
def test_balance_is_sent_to_the_core(write_config: Callable[..., Path], balance: str) -> None:
    text = GOOD_YAML.replace("balance: roundrobin", f"balance: {balance}")
    config = load_config(write_config(text))
    assert config.to_core_dict()["backends"][0]["balance"] == balance
    # The core parses what it is sent.
    from fastlb import _core

    _core.Engine(config.to_core_json())


def test_health_check_core_json_follows_the_contract(write_config: Callable[..., Path]) -> None:
    text = GOOD_YAML.replace(
        "    all_backups: true\n",
        "    all_backups: true\n"
        "    health_check: {type: http, interval: 1s, timeout: 300ms, rise: 1, fall: 5,\n"
        "                   path: /healthz, expect_status: 204, host: www.example.com,\n"
        "                   observe: false}\n",
    )
    core = load_config(write_config(text)).to_core_dict()
    assert core["backends"][0]["health_check"] == {
        "type": "http",
        "interval_ms": 1000,
        "fast_interval_ms": 250,
        "timeout_ms": 300,
        "rise": 1,
        "fall": 5,
        "path": "/healthz",
        "expect_status": 204,
        "host": "www.example.com",
        "user": None,
        "observe": False,
    }


def test_mysql_health_check_needs_no_credentials() -> None:
    data = base()
    data["backends"][0]["health_check"] = {"type": "mysql", "interval": "5s"}
    core = Config.from_mapping(data).to_core_dict()
    assert core["backends"][0]["health_check"]["type"] == "mysql"
    assert core["backends"][0]["health_check"]["interval_ms"] == 5000
    assert core["backends"][0]["health_check"]["user"] is None
    data["backends"][0]["health_check"]["user"] = "fastlb_check"
    core = Config.from_mapping(data).to_core_dict()
    assert core["backends"][0]["health_check"]["user"] == "fastlb_check"


def base_core() -> dict[str, Any]:
    return Config.from_mapping(base()).to_core_dict()


def test_env_interpolation(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTLB_TEST_TOKEN", "s3cret")
    monkeypatch.setenv("FASTLB_TEST_PORT", "9005")
    monkeypatch.setenv("FASTLB_TEST_WEIGHT", "7")
    monkeypatch.delenv("FASTLB_TEST_UNSET", raising=False)
    text = (
        GOOD_YAML.replace("token: secret", "token: ${FASTLB_TEST_TOKEN}$$")
        .replace(
            '"127.0.0.1:9001", weight: 3',
            '"127.0.0.1:${FASTLB_TEST_PORT}", weight: "${FASTLB_TEST_WEIGHT}"',
        )
        .replace("retries: 2", "retries: ${FASTLB_TEST_UNSET:-4}")
    )
    config = load_config(write_config(text))
    assert config.api is not None and config.api.token == "s3cret$"
    server = config.backends[0].servers[0]
    assert (server.address, server.weight) == ("127.0.0.1:9005", 7)
    assert config.backends[0].retries == 4


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("2s", 2.0), ("1m", 60.0), ("1h", 3600.0), ("1.5s", 1.5), (5, 5.0),
     (0.5, 0.5), ("10", 10.0), (" 3 s ", 3.0)],
)  # fmt: skip
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["ms", "s", "m", "h", ""]))
def test_duration_units_scale(amount: int, unit: str) -> None:
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "": 1}[unit]
    assert parse_duration(f"{amount}{unit}") == pytest.approx(amount * factor)


def test_check_ok(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(GOOD_YAML)
    assert check(path, capsys) == (0, f"{path}: OK\n")


# ------------------------------------------------------------------------- bad configs


SERVER_1 = "backends[0] (web).servers[1] (web-02)"

BAD_CONFIGS = {
    "wrong type: workers": (set_at("workers", "many"), "workers: input should be a valid integer"),
    "wrong type: boolean as int": (
        set_at("workers", True),
        "workers: must be an integer, not a boolean",
    ),
    "wrong type: frontends not a list": (
        set_at("frontends", "web"),
        "frontends: input should be a valid list",
    ),
    "wrong type: name": (
        set_at("backends.0.name", 12),
        "backends[0].name: input should be a valid string",
    ),
    "wrong type: backup": (
        set_at("backends.0.servers.2.backup", "perhaps"),
        "backends[0] (web).servers[2] (spare).backup: input should be a valid boolean",
    ),
    "unknown key: top level": (
        set_at("wrokers", 2),
        "wrokers: unknown key; did you mean 'workers'?",
    ),
    "unknown key: frontend": (
        set_at("frontends.0.lisen", "x"),
        "frontends[0] (web).lisen: unknown key; did you mean 'listen'?",
    ),
    "unknown key: server": (
        set_at("backends.0.servers.1.colour", 1),
        f"{SERVER_1}.colour: unknown key (allowed: name, address, weight, backup, role, cookie)",
    ),
    "missing key": (set_at("frontends.0.listen", None), "frontends[0] (web).listen: required"),
    "missing backend": (
        set_at("frontends.0.backend", "api"),
        "frontends[0] (web).backend: no backend named 'api' (defined: web)",
    ),
    "duplicate frontend": (
        lambda d: d["frontends"].append(
            copy.deepcopy(d["frontends"][0]) | {"listen": "127.0.0.1:8081"}
        ),
        "frontends[1] (web).name: duplicate name 'web' (also frontends[0])",
    ),
    "duplicate backend": (
        lambda d: d["backends"].append(copy.deepcopy(d["backends"][0])),
        "backends[1] (web).name: duplicate name 'web' (also backends[0])",
    ),
    "duplicate server": (
        set_at("backends.0.servers.1.name", "web-01"),
        "backends[0] (web).servers[1] (web-01).name: duplicate name 'web-01' "
        "(also backends[0] (web).servers[0])",
    ),
    "bad name": (
        set_at("backends.0.servers.1.name", "web 02"),
        "backends[0] (web).servers[1] (web 02).name: invalid name 'web 02'",
    ),
    "address without port": (
        set_at("backends.0.servers.1.address", "localhost"),
        f"{SERVER_1}.address: invalid address 'localhost': expected host:port",
    ),
    "port out of range": (
        set_at("backends.0.servers.1.address", "127.0.0.1:65536"),
        f"{SERVER_1}.address: invalid address '127.0.0.1:65536': port must be between 1 and 65535",
    ),
    "server port 0": (
        set_at("backends.0.servers.1.address", "127.0.0.1:0"),
        f"{SERVER_1}.address: invalid address '127.0.0.1:0': port must be between 1 and 65535",
    ),
    "listen port out of range": (
        set_at("frontends.0.listen", "0.0.0.0:70000"),
        "frontends[0] (web).listen: invalid address '0.0.0.0:70000': "
        "port must be between 0 and 65535",
    ),
    "non-numeric port": (
        set_at("frontends.0.listen", "0.0.0.0:http"),
        "frontends[0] (web).listen: invalid address '0.0.0.0:http': port must be a number",
    ),
    "bad host": (
        set_at("backends.0.servers.1.address", "web!01:80"),
        f"{SERVER_1}.address: invalid address 'web!01:80': 'web!01' is not a valid host",
    ),
    "IPv6 without brackets": (
        set_at("backends.0.servers.1.address", "::1:80"),
        f"{SERVER_1}.address: invalid address '::1:80': write IPv6 as [addr]:port",
    ),
    "bad IPv6": (
        set_at("backends.0.servers.1.address", "[::g]:80"),
        f"{SERVER_1}.address: invalid address '[::g]:80': '::g' is not an IPv6 address",
    ),
    "listen clash": (
        set_at("api.listen", "127.0.0.1:8080"),
        "api.listen: 127.0.0.1:8080 is already used by frontends[0] (web)",
    ),
    "weight too high": (
        set_at("backends.0.servers.1.weight", 300),
        f"{SERVER_1}.weight: must be between 0 and 256 (got 300)",
    ),
    "weight negative": (
        set_at("backends.0.servers.1.weight", -1),
        f"{SERVER_1}.weight: must be between 0 and 256 (got -1)",
    ),
    "weight fractional": (
        set_at("backends.0.servers.1.weight", 1.5),
        f"{SERVER_1}.weight: input should be a valid integer",
    ),
    "bad duration": (
        set_at("backends.0.connect_timeout", "5 parsecs"),
        "backends[0] (web).connect_timeout: invalid duration '5 parsecs'",
    ),
    "negative duration": (set_at("drain_timeout", -1), "drain_timeout: invalid duration -1"),
    "zero timeout": (
        set_at("frontends.0.idle_timeout", "0s"),
        "frontends[0] (web).idle_timeout: must be longer than 0s",
    ),
    "bad splice": (
        set_at("splice", "sometimes"),
        "splice: input should be 'auto', 'always' or 'never'",
    ),
    "no servers": (
        set_at("backends.0.servers", []),
        "backends[0] (web).servers: list should have at least 1 item",
    ),
    "mode udp": (
        set_at("frontends.0.mode", "udp"),
        "frontends[0] (web).mode: input should be 'tcp', 'mysql' or 'http' (got 'udp')",
    ),
    "mode mysql": (
        set_at("frontends.0.mode", "mysql"),
        "frontends[0] (web).mode: mode 'mysql' needs a 'mysql:' section (users, ...) on "
        "backend 'web'",
    ),
    "balance": (
        set_at("backends.0.balance", "random"),
        "backends[0] (web).balance: balance 'random' is not supported",
    ),
    "empty token": (set_at("api.token", ""), "api.token: must not be empty"),
    "missing env var": (
        set_at("api.token", "${FASTLB_TEST_NOT_SET}"),
        "api.token: environment variable FASTLB_TEST_NOT_SET is not set",
    ),
    "health_check: no type": (
        set_at("backends.0.health_check", {"interval": "1s"}),
        "backends[0] (web).health_check.type: required",
    ),
    "health_check: bad type": (
        set_at("backends.0.health_check", {"type": "icmp"}),
        "backends[0] (web).health_check.type: input should be 'tcp', 'http' or 'mysql'",
    ),
    "health_check: bad interval": (
        set_at("backends.0.health_check", {"type": "tcp", "interval": "soon"}),
        "backends[0] (web).health_check.interval: invalid duration 'soon'",
    ),
    "health_check: zero timeout": (
        set_at("backends.0.health_check", {"type": "tcp", "timeout": 0}),
        "backends[0] (web).health_check.timeout: must be longer than 0s",
    ),
    "health_check: rise 0": (
        set_at("backends.0.health_check", {"type": "tcp", "rise": 0}),
        "backends[0] (web).health_check.rise: must be between 1 and 1000 (got 0)",
    ),
    "health_check: fall as boolean": (
        set_at("backends.0.health_check", {"type": "tcp", "fall": True}),
        "backends[0] (web).health_check.fall: must be an integer, not a boolean",
    ),
    "health_check: status out of range": (
        set_at("backends.0.health_check", {"type": "http", "expect_status": 99}),
        "backends[0] (web).health_check.expect_status: must be between 100 and 599 (got 99)",
    ),
    "health_check: path without slash": (
        set_at("backends.0.health_check", {"type": "http", "path": "health"}),
        "backends[0] (web).health_check.path: invalid path 'health': must start with '/'",
    ),
    "health_check: path with a space": (
        set_at("backends.0.health_check", {"type": "http", "path": "/a b"}),
        "backends[0] (web).health_check.path: invalid path '/a b'",
    ),
    "health_check: mysql user on http": (
        set_at("backends.0.health_check", {"type": "http", "user": "fastlb_check"}),
        "backends[0] (web).health_check.user: only used by 'mysql' checks, not 'http'",
    ),
    "health_check: http option on tcp": (
        set_at("backends.0.health_check", {"type": "tcp", "path": "/health"}),
        "backends[0] (web).health_check.path: only used by 'http' checks, not 'tcp'",
    ),
    "health_check: unknown key": (
        set_at("backends.0.health_check", {"type": "tcp", "intervall": "1s"}),
        "backends[0] (web).health_check.intervall: unknown key; did you mean 'interval'?",
    ),
    "health_check: observe not a boolean": (
        set_at("backends.0.health_check", {"type": "tcp", "observe": "often"}),
        "backends[0] (web).health_check.observe: input should be a valid boolean",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_is_refused_naming_the_field(
    case: str,
    write_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FASTLB_TEST_NOT_SET", raising=False)
    mutate, expected = BAD_CONFIGS[case]
    data = base()
    mutate(data)
    path = write_config(yaml.safe_dump(data, sort_keys=False))
    status, output = check(path, capsys)
    assert status == 2
    assert f"{path}: {expected}" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("suffix", "text", "expected"),
    [
        (
            ".yaml",
            "workers: 2\nfrontends:\n  - name: web\n    listen: [1, 2\n",
            "line 5, column 1: YAML syntax error",
        ),
        (
            ".yaml",
            "workers: 2\n  splice: never\n",
            "line 2, column 9: YAML syntax error: mapping values are not allowed here",
        ),
        (
            ".yaml",
            "workers: 2\nworkers: 3\n",
            "line 2, column 1: YAML syntax error: duplicate key 'workers'",
        ),
        (".toml", 'workers = 2\nsplice = "never\n', "line 2, column 16: TOML syntax error"),
        (".toml", "workers = = 2\n", "line 1, column 11: TOML syntax error: Invalid value"),
        (".yaml", "", "the file is empty"),
        (".yaml", "- just\n- a list\n", "the top level must be a mapping of keys, not list"),
        (".json", "{}", "unsupported file type '.json': use .yaml, .yml or .toml"),
    ],
)
def test_syntax_errors_name_file_and_line(
    suffix: str,
    text: str,
    expected: str,
    write_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(text, suffix)
    status, output = check(path, capsys)
    assert (status, "Traceback" in output) == (2, False)
    assert f"{path}: {expected}" in output


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, output = check(tmp_path / "nope.yaml", capsys)
    assert status == 2
    assert "nope.yaml: cannot read the file: No such file or directory" in output


def test_unresolvable_host_is_a_config_error(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # `.invalid` never resolves (RFC 6761); the check resolves names like serve would.
    path = write_config(GOOD_YAML.replace("localhost:9002", "no-such-host.invalid:9002"))
    status, output = check(path, capsys)
    assert status == 2
    assert f"{path}: {SERVER_1}.address: cannot resolve 'no-such-host.invalid:9002'" in output


def test_every_problem_is_reported_at_once() -> None:
    data = base()
    data["workers"] = 0
    data["backends"][0]["servers"][0]["weight"] = 999
    data["failover"] = {}
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(data)
    assert [path for path, _ in caught.value.problems] == [
        "workers",
        "backends[0] (web).servers[0] (web-01).weight",
        "failover.interface",
        "failover.vrid",
        "failover.virtual_ips",
    ]


def test_config_error_is_a_value_error_and_a_fastlb_error() -> None:
    with pytest.raises(ValueError, match="frontends: required") as caught:
        Config.from_mapping({"backends": []})
    assert isinstance(caught.value, FastLBError)
