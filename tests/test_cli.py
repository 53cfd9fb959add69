"""The `fastlb` command, run for real in a subprocess: version, check, serve (and its SIGHUP
reload), demo, ctl, stats."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from demo_checks import STOP_TIMEOUT, check_demo
from http_stats import with_http
from rich.console import Console

import fastlb
from fastlb.harness.waiting import wait_for
from fastlb.stats_view import render_stats
from support import NamedHTTPBackend, fastlb_command, free_port, http_get, wait_for_port


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
    assert (result.returncode, result.stdout.split("\n")[0]) == (0, f"fastlb {fastlb.__version__}")


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
    assert "422" in result.stderr and "weight: must be an integer 0..256" in result.stderr


def test_ctl_without_api_says_so() -> None:
    api = f"http://127.0.0.1:{free_port()}"
    result = run_fastlb("ctl", "set-weight", "web", "web-01", "1", "--api", api)
    assert result.returncode == 1
    assert f"cannot reach the API at {api}" in result.stderr


def test_demo_runs_for_a_duration_and_serves() -> None:
    """The web part and (MariaDB is installed by `make install`) the MySQL part: reads on the
    replica, writes on the primary; at exit no mariadbd is left and its directory is gone."""
    check_demo([*fastlb_command(), "demo", "--duration", "8"])


# --------------------------------------------------------------------------- ctl, stats


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    wait_for(condition, timeout, condition.__doc__ or "", interval=0.05)


def test_ctl_actions(
    named_backends: Callable[..., list[NamedHTTPBackend]],
    serve: Callable[[dict[str, Any]], subprocess.Popen[str]],
) -> None:
    web_01, web_02, web_03 = named_backends("web-01", "web-02", "web-03")
    config = serve_config([web_01, web_02], api=True)
    config["api"]["token"] = "t0ken"
    serve(config)
    listen = config["frontends"][0]["listen"]
    api = f"http://{config['api']['listen']}"
    auth = ("--api", api, "--token", "t0ken")

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return run_fastlb("ctl", *args, *auth)

    def servers() -> dict[str, Any]:
        stats: dict[str, Any] = json.loads(ctl("stats").stdout)
        return stats["backends"]["web"]["servers"]  # type: ignore[no-any-return]

    # web-01's configured weight is 3: 50% of it is 1 (rounded down, like HAProxy)
    result = ctl("set-weight", "web", "web-01", "50%")
    assert (result.returncode, result.stdout) == (0, "backend web: server web-01 weight 1\n")
    assert servers()["web-01"]["weight"] == 1

    result = ctl("drain", "web", "web-01")
    assert result.stdout == "backend web: server web-01 state drain (status DRAIN)\n"
    result = ctl("maint", "web", "web-02")
    assert result.stdout == "backend web: server web-02 state maint (status MAINT)\n"

    result = ctl("add-server", "web", "web-03", web_03.address, "--weight", "2")
    assert (result.returncode, result.stdout) == (
        0,
        f"backend web: server web-03 added ({web_03.address}, weight 2)\n",
    )
    assert {http_get(f"http://{listen}/") for _ in range(3)} == {"hello from web-03\n"}

    result = ctl("ready", "web", "web-01")
    assert result.stdout == "backend web: server web-01 state ready (status UP)\n"
    result = ctl("remove-server", "web", "web-03")
    assert (result.returncode, result.stdout) == (0, "backend web: server web-03 removed\n")
    assert set(servers()) == {"web-01", "web-02"}
    assert {http_get(f"http://{listen}/") for _ in range(3)} == {"hello from web-01\n"}

    # The file still has what it had: a reload puts web-01's configured weight back.
    result = ctl("reload")
    assert (result.returncode, result.stdout) == (0, "reloaded: no changes\n")

    result = ctl("add-server", "web", "web-01", web_03.address)
    assert result.returncode == 1
    assert "409: backend 'web' already has a server 'web-01'" in result.stderr
    result = ctl("add-server", "web", "web-09", "nowhere")
    assert result.returncode == 1
    assert "422: address: invalid address 'nowhere': expected host:port" in result.stderr
    result = ctl("remove-server", "web", "nope")
    assert result.returncode == 1
    assert "404: backend 'web' has no server 'nope'" in result.stderr
    result = run_fastlb("ctl", "--api", api, "drain", "web", "web-01")  # no token
    assert result.returncode == 1
    assert "401" in result.stderr


def test_ctl_reload_without_a_file_says_so(named_backends: Any) -> None:
    config = serve_config(named_backends("web-01"), api=True)
    with fastlb.LoadBalancer(config) as lb:
        assert lb.api_url is not None
        result = run_fastlb("ctl", "reload", "--api", lb.api_url)
    assert result.returncode == 1
    assert "409: this load balancer was not loaded from a file" in result.stderr


def test_stats_once_shows_every_server(
    named_backends: Callable[..., list[NamedHTTPBackend]],
    serve: Callable[[dict[str, Any]], subprocess.Popen[str]],
) -> None:
    config = serve_config(named_backends("web-01", "web-02"), api=True)
    serve(config)
    for _ in range(3):
        http_get(f"http://{config['frontends'][0]['listen']}/")
    api = f"http://{config['api']['listen']}"
    result = run_fastlb("stats", "--once", "--interval", "200ms", "--api", api)
    assert result.returncode == 0, result.stderr
    stats = json.loads(http_get(f"{api}/api/stats"))
    cells = {
        row[0]: row
        for line in result.stdout.splitlines()
        if "│" in line and (row := [cell.strip() for cell in line.split("│")[1:-1]])
    }
    assert {"frontend web", "backend web", "web-01", "web-02"} <= set(cells)
    # name, status, weight, cur, total, rate/s, in, out, errors, retries, connect p50, p99
    total = stats["frontends"]["web"]["total_connections"]
    assert total >= 3
    assert cells["frontend web"][1:5] == ["OPEN", "", "0", str(total)]
    assert cells["backend web"][1:3] == ["UP", "5"]
    for name, weight in (("web-01", "3"), ("web-02", "2")):
        server = stats["backends"]["web"]["servers"][name]
        assert cells[name][1:5] == ["UP", weight, "0", str(server["total_connections"])]
        assert cells[name][11].endswith(" ms")  # connect p99


def stats_cells(previous: dict[str, Any], current: dict[str, Any]) -> dict[str, list[str]]:
    """`fastlb stats`'s table for two snapshots, as {row name: cells}."""
    output = io.StringIO()
    console = Console(width=250, file=output, color_system=None)
    console.print(render_stats(previous, current, "http://127.0.0.1:9100"))
    text = output.getvalue()
    return {
        row[0]: row
        for line in text.splitlines()
        if "│" in line and (row := [cell.strip() for cell in line.split("│")[1:-1]])
    }


def test_stats_shows_http_columns_for_http_frontends() -> None:
    config = {
        "workers": 1,
        "frontends": [
            {"name": "web", "listen": "127.0.0.1:0", "backend": "web", "mode": "http"},
            {"name": "raw", "listen": "127.0.0.1:0", "backend": "raw"},
        ],
        "backends": [
            {
                "name": name,
                "servers": [
                    {"name": f"{name}-01", "address": "127.0.0.1:9"},
                    {"name": f"{name}-02", "address": "127.0.0.1:9"},
                ],
            }
            for name in ("web", "raw")
        ],
    }
    with fastlb.LoadBalancer(config) as lb:
        snapshot = lb.stats()
    cells = stats_cells(
        with_http(snapshot, 100, uptime=10.0), with_http(snapshot, 150, uptime=12.0)
    )
    # ..., connect p50, p99, then req/s, 2xx, 3xx, 4xx, 5xx, pool
    assert cells["frontend web"][12:] == ["25.0", "120", "15", "9", "6", ""]
    assert cells["backend web"][12:] == ["22.5", "108", "14", "8", "5", "90% of 135"]
    assert cells["web-01"][12:] == ["17.0", "81", "10", "6", "4", "2 idle"]
    assert cells["web-02"][12:] == ["5.5", "27", "3", "2", "1", "3 idle"]
    # Proxies that speak no HTTP leave the HTTP columns empty.
    assert cells["frontend raw"][12:] == cells["raw-01"][12:] == ["", "", "", "", "", ""]

    # Without http frontends the table is the one it always was.
    tcp = {**snapshot, "frontends": {"raw": snapshot["frontends"]["raw"]}}
    rows = stats_cells(tcp, tcp)
    assert len(rows) == 7 and {len(row) for row in rows.values()} == {12}, rows


def test_stats_without_api_exits_1() -> None:
    api = f"http://127.0.0.1:{free_port()}"
    result = run_fastlb("stats", "--once", "--api", api)
    assert result.returncode == 1
    assert f"cannot reach the API at {api}" in result.stdout + result.stderr


# --------------------------------------------------------------------------- SIGHUP


class Served:
    """`fastlb serve -c path` with its stderr collected line by line as it comes."""

    def __init__(self, path: Path, port: int) -> None:
        self.process = subprocess.Popen(
            [*fastlb_command(), "serve", "-c", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for_port(port)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(STOP_TIMEOUT)
        self._reader.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return status


def test_sighup_reloads_the_file(
    named_backends: Callable[..., list[NamedHTTPBackend]], tmp_path: Path
) -> None:
    web_01, web_02 = named_backends("web-01", "web-02")
    config = serve_config([web_01])
    listen = config["frontends"][0]["listen"]
    path = tmp_path / "fastlb.yaml"
    path.write_text(yaml.safe_dump(config))
    served = Served(path, int(listen.rsplit(":", 1)[1]))
    try:
        assert http_get(f"http://{listen}/") == "hello from web-01\n"

        # A new server, and the old one at weight 0: new connections go to web-02 only.
        config["backends"][0]["servers"][0]["weight"] = 0
        config["backends"][0]["servers"].append({"name": "web-02", "address": web_02.address})
        path.write_text(yaml.safe_dump(config))
        served.process.send_signal(signal.SIGHUP)
        wait_until(lambda: served.logged("reload done: 2 changes"))
        assert {http_get(f"http://{listen}/") for _ in range(4)} == {"hello from web-02\n"}
        assert served.logged(f"reloaded: backend web: server web-02 added ({web_02.address}")
        assert served.logged("reloaded: backend web: server web-01 weight 3 -> 0")

        # A bad file: the error is logged with its field, and the running config stays.
        config["backends"][0]["servers"][1]["weight"] = 999
        path.write_text(yaml.safe_dump(config))
        served.process.send_signal(signal.SIGHUP)
        field = "backends[0] (web).servers[1] (web-02).weight"
        wait_until(lambda: served.logged("reload failed"))
        assert served.logged(
            f"reload failed, keeping the running configuration: {path}: {field}: "
            "must be between 0 and 256 (got 999)"
        )
        assert {http_get(f"http://{listen}/") for _ in range(4)} == {"hello from web-02\n"}
        assert served.process.poll() is None
    finally:
        status = served.stop()
    assert status == 0, served.lines
    assert not served.logged("Traceback")


def test_sigusr1_reopens_the_logs_and_keeps_serving(
    named_backends: Callable[..., list[NamedHTTPBackend]], tmp_path: Path
) -> None:
    # logrotate's postrotate signal: SIGUSR1's default action would kill the process.
    (web_01,) = named_backends("web-01")
    config = serve_config([web_01])
    listen = config["frontends"][0]["listen"]
    path = tmp_path / "fastlb.yaml"
    path.write_text(yaml.safe_dump(config))
    served = Served(path, int(listen.rsplit(":", 1)[1]))
    try:
        served.process.send_signal(signal.SIGUSR1)
        wait_until(lambda: served.logged("access logs reopened"))
        assert served.process.poll() is None
        assert http_get(f"http://{listen}/") == "hello from web-01\n"
    finally:
        status = served.stop()
    assert status == 0, served.lines
