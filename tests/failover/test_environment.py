"""What `fastlb check` and `fastlb serve` say when the host does not fit the `failover:`
section: an unknown interface, a virtual IP outside the interface's subnets (config errors,
exit status 2, naming the field), missing capabilities (exit status 1, and nothing left
listening)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.failover.cluster import fastlb_command
from bench.failover.netns import Lab

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
        fastlb_command(),
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
