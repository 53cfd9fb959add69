"""fastlb embedded in a Python program: LoadBalancer as `with` / `async with`, runtime
changes, stats, errors, and traffic that keeps flowing while Python holds the GIL."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import fastlb
from fastlb import (
    ConfigError,
    FastLBError,
    LoadBalancer,
    NoConfigFileError,
    NotRunningError,
    ServerExistsError,
    UnknownBackendError,
    UnknownServerError,
    UnknownStateError,
    WeightedRoundRobin,
)
from support import BackendProcess, http_get


def make_config(*servers: tuple[str, str, int], **top: Any) -> dict[str, Any]:
    return {
        "workers": 1,
        "drain_timeout": "1s",
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web"}],
        "backends": [
            {
                "name": "web",
                "servers": [
                    {"name": name, "address": address, "weight": weight}
                    for name, address, weight in servers
                ],
            }
        ],
        **top,
    }


def answers(lb: LoadBalancer, count: int) -> Counter[str]:
    url = f"http://{lb.addresses['web']}/"
    return Counter(http_get(url).removeprefix("hello from ").strip() for _ in range(count))


def test_with_statement_serves_and_changes_weights(named_backends: Any) -> None:
    a, b = named_backends("web-01", "web-02")
    with LoadBalancer(make_config(("web-01", a.address, 3), ("web-02", b.address, 1))) as lb:
        assert lb.running
        assert answers(lb, 8) == {"web-01": 6, "web-02": 2}

        lb.set_weight("web", "web-01", 0)
        assert answers(lb, 4) == {"web-02": 4}
        lb.set_weight("web", "web-01", 1)
        lb.set_state("web", "web-02", "maint")
        assert answers(lb, 3) == {"web-01": 3}

        servers = lb.stats()["backends"]["web"]["servers"]
        assert (servers["web-01"]["weight"], servers["web-02"]["state"]) == (1, "maint")
        assert servers["web-01"]["total_connections"] == 6 + 3
        assert servers["web-02"]["total_connections"] == 2 + 4
        assert lb.stats()["frontends"]["web"]["total_connections"] == 15
        # The same snapshot, typed: what metrics and health checks read.
        typed = lb.stats_snapshot()
        assert typed.backends["web"].servers["web-02"].state == "maint"
        assert typed.frontends["web"].total_connections == 15
    assert not lb.running
    # the final counters stay readable after stop
    assert lb.stats()["frontends"]["web"]["total_connections"] == 15
    assert lb.stats_snapshot().backends["web"].servers["web-01"].total_connections == 9


def test_async_with(named_backends: Any) -> None:
    (a,) = named_backends("web-01")

    async def main() -> str:
        async with LoadBalancer(make_config(("web-01", a.address, 1))) as lb:
            return await asyncio.to_thread(http_get, f"http://{lb.addresses['web']}/")

    assert asyncio.run(main()) == "hello from web-01\n"


def test_from_file_and_explicit_start_stop(named_backends: Any, tmp_path: Path) -> None:
    (a,) = named_backends("web-01")
    path = tmp_path / "fastlb.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            workers = 1
            [[frontends]]
            name = "web"
            listen = "127.0.0.1:0"
            backend = "web"
            [[backends]]
            name = "web"
            servers = [{{name = "web-01", address = "{a.address}"}}]
            """
        )
    )
    lb = LoadBalancer.from_file(path)
    assert lb.start() is lb
    try:
        assert answers(lb, 2) == {"web-01": 2}
        with pytest.raises(FastLBError, match="already running"):
            lb.start()
    finally:
        lb.stop(timeout=0.5)
    lb.stop()  # idempotent


def test_listen_port_0_reports_the_bound_address(named_backends: Any) -> None:
    (a,) = named_backends("web-01")
    with LoadBalancer(make_config(("web-01", a.address, 1))) as lb:
        host, port = lb.addresses["web"].rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        assert lb.api_url is None  # no api section


def test_errors(named_backends: Any) -> None:
    (a,) = named_backends("web-01")
    lb = LoadBalancer(make_config(("web-01", a.address, 1)))
    with pytest.raises(NotRunningError):
        lb.stats()
    with pytest.raises(NotRunningError):
        lb.set_weight("web", "web-01", 1)
    with lb:
        with pytest.raises(UnknownServerError, match="unknown backend 'api'") as caught:
            lb.set_weight("api", "web-01", 1)
        assert isinstance(caught.value, KeyError)
        assert isinstance(caught.value, UnknownBackendError)
        with pytest.raises(KeyError, match="backend 'web' has no server 'web-09'"):
            lb.set_state("web", "web-09", "drain")
        with pytest.raises(ValueError, match="between 0 and 256"):
            lb.set_weight("web", "web-01", 257)
        with pytest.raises(UnknownStateError, match="unknown server state 'down'") as bad:
            lb.set_state("web", "web-01", "down")
        assert isinstance(bad.value, ValueError)
        with pytest.raises(TypeError):
            lb.set_weight("web", "web-01", True)


def test_invalid_mapping_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"frontends\[0\] \(web\)\.backend: no backend named"):
        LoadBalancer(
            {
                "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "nope"}],
                "backends": [{"name": "b", "servers": [{"name": "s", "address": "h:1"}]}],
            }
        )


def test_bind_failure_leaves_nothing_listening(named_backends: Any) -> None:
    (a,) = named_backends("web-01")
    config = make_config(("web-01", a.address, 1))
    config["frontends"].append({"name": "second", "listen": "127.0.0.1:0", "backend": "web"})
    with socket.create_server(("127.0.0.1", 0)) as occupied:
        config["frontends"][1]["listen"] = f"127.0.0.1:{occupied.getsockname()[1]}"
        lb = LoadBalancer(config)
        with pytest.raises(OSError, match="second"):
            lb.start()
    assert not lb.running


def test_weighted_round_robin_alone() -> None:
    wrr = WeightedRoundRobin({"a": 5, "b": 3, "c": 1})
    picks = [wrr.pick() for _ in range(9)]
    assert Counter(picks) == {"a": 5, "b": 3, "c": 1}
    assert picks[:2] == ["a", "b"]  # smooth: no run of a's first
    assert isinstance(fastlb.__version__, str)


# A client that needs no GIL from the test process: it makes new connections through the
# load balancer for DURATION seconds and reports what it saw as JSON.
CLIENT = """
import json, socket, sys, time
host, port, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
print("go", flush=True)
ok, failures, slowest = 0, [], 0.0
deadline = time.monotonic() + duration
while time.monotonic() < deadline:
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.sendall(b"GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n")
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        if b"hello from" in reply:
            ok += 1
        else:
            failures.append(reply[:100].decode(errors="replace"))
    except OSError as exc:
        failures.append(repr(exc))
    slowest = max(slowest, time.monotonic() - started)
print(json.dumps({"ok": ok, "failures": failures, "slowest": slowest}), flush=True)
"""


def test_traffic_flows_while_python_holds_the_gil() -> None:
    # The backends run in child processes too: only fastlb's core serves in this process.
    with BackendProcess("web-01") as a, BackendProcess("web-02") as b:
        config = make_config(("web-01", a.address, 1), ("web-02", b.address, 1))
        with LoadBalancer(config) as lb:
            host, port = lb.addresses["web"].rsplit(":", 1)
            client = subprocess.Popen(
                [sys.executable, "-c", CLIENT, host, port, "2.0"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert client.stdout is not None
            assert client.stdout.readline() == "go\n"
            # Hold the GIL: a pure-Python loop, with a switch interval so long that no other
            # thread of this process could take the GIL during the whole window.
            previous = sys.getswitchinterval()
            sys.setswitchinterval(30.0)
            try:
                spins = 0
                deadline = time.monotonic() + 2.5
                while time.monotonic() < deadline:
                    spins += 1
            finally:
                sys.setswitchinterval(previous)
            report = json.loads(client.stdout.readline())
            client.wait(10)
            client.stdout.close()
    assert spins > 0
    assert report["failures"] == []
    assert report["ok"] >= 20, report


def test_runtime_server_changes_and_reload_from_python(named_backends: Any) -> None:
    web_01, web_02 = named_backends("web-01", "web-02")
    config = make_config(("web-01", web_01.address, 4))
    with LoadBalancer(config) as lb:
        assert lb.set_weight("web", "web-01", "25%") == 1
        lb.add_server("web", "web-02", web_02.address, weight=1)
        assert answers(lb, 4) == Counter({"web-01": 2, "web-02": 2})
        with pytest.raises(ServerExistsError, match="already has a server 'web-02'"):
            lb.add_server("web", "web-02", web_02.address)
        with pytest.raises(ConfigError, match="weight: must be between 0 and 256"):
            lb.add_server("web", "web-03", web_02.address, weight=999)
        with pytest.raises(UnknownServerError, match="unknown backend 'api'"):
            lb.add_server("api", "web-03", web_02.address)
        lb.remove_server("web", "web-01")
        assert answers(lb, 2) == Counter({"web-02": 2})

        with pytest.raises(NoConfigFileError):
            lb.reload()
        # A mapping: back to the configured server set (web-02 was a runtime addition).
        config["frontends"][0]["listen"] = lb.addresses["web"]
        changes = lb.reload(config)
        assert "backend web: server web-02 removed" in changes
        assert "backend web: server web-01 added" in " ".join(changes)
        assert set(lb.stats()["backends"]["web"]["servers"]) == {"web-01"}
        assert answers(lb, 2) == Counter({"web-01": 2})

        with pytest.raises(ConfigError, match=r"changing splice .* needs a restart"):
            lb.reload({**config, "splice": "never" if lb.config.splice != "never" else "auto"})
        assert lb.reload(config) == []


def test_reopen_logs(named_backends: Any, caplog: pytest.LogCaptureFixture) -> None:
    (a,) = named_backends("web-01")
    lb = LoadBalancer(make_config(("web-01", a.address, 1)))
    lb.reopen_logs()  # not running: nothing is open, nothing to do
    with caplog.at_level("INFO", logger="fastlb"), lb:
        lb.reopen_logs()
        assert "access logs reopened" in caplog.messages
        assert answers(lb, 2) == {"web-01": 2}
