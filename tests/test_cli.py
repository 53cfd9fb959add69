"""The `fastlb` command, run for real in a subprocess: version, check, serve, demo, ctl."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import fastlb
from support import NamedHTTPBackend, fastlb_command, free_port, http_get, wait_for_port

STOP_TIMEOUT = 20.0


def run_fastlb(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*fastlb_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def serve_config(backends: list[NamedHTTPBackend], *, api: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {
        "workers": 1,
        "drain_timeout": "2s",
        "frontends": [{"name": "web", "listen": f"127.0.0.1:{free_port()}", "backend": "web"}],
        "backends": [
            {
                "name": "web",
                "servers": [
                    {"name": b.name, "address": b.address, "weight": 3 - i}
                    for i, b in enumerate(backends)
                ],
            }
        ],
    }
    if api:
        config["api"] = {"listen": f"127.0.0.1:{free_port()}"}
    return config


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], subprocess.Popen[str]]]:
    """Factory: `serve(config)` runs `fastlb serve -c` on it and waits for its frontend."""
    started: list[subprocess.Popen[str]] = []

    def start(config: dict[str, Any]) -> subprocess.Popen[str]:
        path = tmp_path / f"serve{len(started)}.yaml"
        path.write_text(yaml.safe_dump(config))
        process = subprocess.Popen(
            [*fastlb_command(), "serve", "-c", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        port = int(config["frontends"][0]["listen"].rsplit(":", 1)[1])
        try:
            wait_for_port(port)
            if "api" in config:
                wait_for_port(int(config["api"]["listen"].rsplit(":", 1)[1]))
        except TimeoutError:
            process.kill()
            raise AssertionError(f"fastlb serve did not listen: {process.communicate()}") from None
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=STOP_TIMEOUT)


def test_version() -> None:
    result = run_fastlb("version")
    assert (result.returncode, result.stdout) == (0, f"fastlb {fastlb.__version__}\n")


def test_check_ok(write_config: Callable[..., Path]) -> None:
    path = write_config(
        "frontends: [{name: web, listen: '127.0.0.1:8080', backend: web}]\n"
        "backends: [{name: web, servers: [{name: a, address: 'localhost:9001'}]}]\n"
    )
    result = run_fastlb("check", "-c", str(path))
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{path}: OK\n", "")


def test_check_bad_exits_2_naming_the_field(write_config: Callable[..., Path]) -> None:
    path = write_config(
        "frontends: [{name: web, listen: '127.0.0.1:8080', backend: api}]\n"
        "backends: [{name: web, servers: [{name: a, address: 'localhost:9001', weight: 999}]}]\n"
    )
    result = run_fastlb("check", "-c", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path}: backends[0] (web).servers[0] (a).weight: must be between 0 and 256 (got 999)"
    ]


def test_check_yaml_syntax_error(write_config: Callable[..., Path]) -> None:
    path = write_config("frontends:\n  - name: web\n   listen: x\n")
    result = run_fastlb("check", "-c", str(path))
    assert result.returncode == 2
    assert f"{path}: line 3, column 4: YAML syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_relays_and_drains_on_sigterm(
    named_backends: Callable[..., list[NamedHTTPBackend]],
    serve: Callable[[dict[str, Any]], subprocess.Popen[str]],
) -> None:
    backends = named_backends("web-01", "web-02")
    config = serve_config(backends)
    process = serve(config)
    listen = config["frontends"][0]["listen"]
    answers = {http_get(f"http://{listen}/") for _ in range(6)}
    assert answers == {"hello from web-01\n", "hello from web-02\n"}

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=STOP_TIMEOUT)
    assert process.returncode == 0, stderr
    assert f"frontend web listening on {listen} -> backend web" in stderr
    assert f"backend web: server web-01 {backends[0].address} weight 3" in stderr
    assert f"backend web: server web-02 {backends[1].address} weight 2" in stderr
    assert re.search(r"stopping: draining \d+ connections \(deadline 2s\)", stderr)
    assert stderr.rstrip().endswith("stopped")
    assert "Traceback" not in stderr


def test_serve_sigint_also_stops_cleanly(
    named_backends: Callable[..., list[NamedHTTPBackend]],
    serve: Callable[[dict[str, Any]], subprocess.Popen[str]],
) -> None:
    process = serve(serve_config(named_backends("web-01"), api=True))
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=STOP_TIMEOUT)
    assert process.returncode == 0, stderr
    assert "stopped" in stderr


def test_serve_address_in_use_exits_1(
    named_backends: Callable[..., list[NamedHTTPBackend]], tmp_path: Path
) -> None:
    config = serve_config(named_backends("web-01"))
    with socket.create_server(("127.0.0.1", 0)) as occupied:
        config["frontends"][0]["listen"] = f"127.0.0.1:{occupied.getsockname()[1]}"
        path = tmp_path / "busy.yaml"
        path.write_text(yaml.safe_dump(config))
        result = run_fastlb("serve", "-c", str(path))
    assert result.returncode == 1
    assert "cannot start: " in result.stderr
    assert "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_bad_config_exits_2(write_config: Callable[..., Path]) -> None:
    path = write_config("frontends: []\n")
    result = run_fastlb("serve", "-c", str(path))
    assert result.returncode == 2
    assert f"{path}: frontends: list should have at least 1 item" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctl_set_weight(
    named_backends: Callable[..., list[NamedHTTPBackend]],
    serve: Callable[[dict[str, Any]], subprocess.Popen[str]],
) -> None:
    config = serve_config(named_backends("web-01", "web-02"), api=True)
    config["api"]["token"] = "t0ken"
    serve(config)
    api = f"http://{config['api']['listen']}"

    result = run_fastlb("ctl", "set-weight", "web", "web-02", "7", "--api", api)
    assert result.returncode == 1
    assert "401" in result.stderr and "Bearer" in result.stderr

    auth = ("--api", api, "--token", "t0ken")
    result = run_fastlb("ctl", "set-weight", "web", "web-02", "7", *auth)
    assert (result.returncode, result.stdout) == (0, "backend web: server web-02 weight 7\n")
    stats = json.loads(http_get(f"{api}/api/stats"))
    assert stats["backends"]["web"]["servers"]["web-02"]["weight"] == 7

    result = run_fastlb("ctl", "set-weight", "web", "nope", "1", *auth)
    assert result.returncode == 1
    assert "404" in result.stderr and "no server 'nope'" in result.stderr

    result = run_fastlb("ctl", "set-weight", "web", "web-01", "999", *auth)
    assert result.returncode == 1
    assert "422" in result.stderr and "less than or equal to 256" in result.stderr


def test_ctl_without_api_says_so() -> None:
    api = f"http://127.0.0.1:{free_port()}"
    result = run_fastlb("ctl", "set-weight", "web", "web-01", "1", "--api", api)
    assert result.returncode == 1
    assert f"cannot reach the API at {api}" in result.stderr


def test_demo_runs_for_a_duration_and_serves() -> None:
    process = subprocess.Popen(
        [*fastlb_command(), "demo", "--duration", "4"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = ""
        while "Ctrl-C" not in banner:
            line = process.stdout.readline()
            assert line, f"demo exited early: {process.communicate()}"
            banner += line
        frontend = re.search(r"curl (http://127\.0\.0\.1:\d+/)", banner)
        api = re.search(r"curl (http://127\.0\.0\.1:\d+)/api/stats", banner)
        assert frontend and api, banner
        assert f"{api[1]}/metrics" in banner
        assert f"fastlb ctl set-weight web web-03 5 --api {api[1]}" in banner
        answers = {http_get(frontend[1]) for _ in range(6)}
        assert answers == {"hello from web-01\n", "hello from web-02\n", "hello from web-03\n"}
        stats = json.loads(http_get(f"{api[1]}/api/stats"))
        assert stats["frontends"]["web"]["total_connections"] >= 6
        _, stderr = process.communicate(timeout=STOP_TIMEOUT)
        assert process.returncode == 0, stderr
        assert "stopped" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
