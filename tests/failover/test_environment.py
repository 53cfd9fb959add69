"""What `fastlb check` and `fastlb serve` say when the host does not fit the `failover:`
section: an unknown interface, a virtual IP outside the interface's subnets (config errors,
exit status 2, naming the field), missing capabilities (exit status 1, and nothing left
listening)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastlb.harness.netns import Lab
from fastlb.harness.process import fastlb_command

from .conftest import require_root_and_tools


@pytest.fixture
def host() -> Iterator[Lab]:
    require_root_and_tools()
    with Lab("env") as lab:
        lab.host("lb", "10.78.0.11")
        yield lab


def run_fastlb(
    lab: Lab, command: str, tmp_path: Path, prefix: list[str], **failover: Any
) -> subprocess.CompletedProcess[str]:
    config = {
        "frontends": [{"name": "web", "listen": "0.0.0.0:8080", "backend": "web"}],
        "backends": [{"name": "web", "servers": [{"name": "a", "address": "10.78.0.200:80"}]}],
        "failover": {"interface": "eth0", "vrid": 7, "virtual_ips": ["10.78.0.50/24"], **failover},
    }
    path = tmp_path / "fastlb.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = [
        "ip",
        "netns",
        "exec",
        lab.namespace("lb"),
        *prefix,
        *fastlb_command(),
        command,
        "-c",
        str(path),
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_check_accepts_a_fitting_config(host: Lab, tmp_path: Path) -> None:
    result = run_fastlb(host, "check", tmp_path, [])
    assert (result.returncode, result.stdout.strip()) == (0, f"{tmp_path / 'fastlb.yaml'}: OK")


@pytest.mark.parametrize("command", ["check", "serve"])
def test_unknown_interface(host: Lab, tmp_path: Path, command: str) -> None:
    result = run_fastlb(host, command, tmp_path, [], interface="eth9")
    assert result.returncode == 2
    assert "failover.interface: no interface 'eth9' (have: lo, eth0)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["check", "serve"])
def test_virtual_ip_outside_the_interface_subnets(host: Lab, tmp_path: Path, command: str) -> None:
    result = run_fastlb(
        host, command, tmp_path, [], virtual_ips=["10.78.0.50/24", "192.168.9.9/24"]
    )
    assert result.returncode == 2
    assert (
        "failover.virtual_ips[1]: 192.168.9.9 is not in a subnet of eth0 (10.78.0.0/24)"
        in result.stderr
    )


def test_missing_capabilities(host: Lab, tmp_path: Path) -> None:
    # Root without CAP_NET_RAW and CAP_NET_ADMIN, as a service without AmbientCapabilities.
    drop = [
        "setpriv",
        "--bounding-set",
        "-net_raw,-net_admin",
        "--inh-caps",
        "-net_raw,-net_admin",
        "--",
    ]
    result = run_fastlb(host, "serve", tmp_path, drop)
    assert result.returncode == 1, result.stderr
    assert "failover needs CAP_NET_ADMIN and CAP_NET_RAW" in result.stderr
    assert "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN" in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stderr


EMBEDDED = """
import sys, time
import fastlb

config = {
    "frontends": [{"name": "web", "listen": "0.0.0.0:8080", "backend": "web"}],
    "backends": [{"name": "web", "servers": [{"name": "a", "address": "10.78.0.200:80"}]}],
    "failover": {"interface": "eth0", "vrid": 7, "advert_interval": "100ms",
                 "virtual_ips": ["10.78.0.50/24"]},
}
with fastlb.LoadBalancer(config) as lb:
    deadline = time.monotonic() + 20
    while not lb.stats()["failover"]["holds_virtual_ips"] and time.monotonic() < deadline:
        time.sleep(0.05)
    print(lb.stats()["failover"]["state"], flush=True)
    sys.stdin.readline()
print(lb.stats()["failover"]["state"], lb.stats()["failover"]["holds_virtual_ips"], flush=True)
"""


def test_embedded_load_balancer_runs_failover_in_a_thread(host: Lab) -> None:
    # The library's `with LoadBalancer(config)`: the speaker runs in its own thread.
    argv = ["ip", "netns", "exec", host.namespace("lb"), sys.executable, "-c", EMBEDDED]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "master"
        assert host.holds("lb", "10.78.0.50")
        out, err = proc.communicate("\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.strip() == "initialize False", err
    assert not host.holds("lb", "10.78.0.50")
