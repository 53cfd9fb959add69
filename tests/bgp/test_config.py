"""The `bgp:` section: validation, its rules with the rest, and the speaker configurations
fastlb writes (BIRD's is checked by BIRD itself, `bird -p`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fastlb.api.stats_models import BackendStats, ServerStats, StatsSnapshot
from fastlb.bgp.bird import bird_config, parse_bfd_sessions, parse_protocols
from fastlb.bgp.config import BgpConfig
from fastlb.bgp.exabgp import exabgp_commands, parse_event
from fastlb.bgp.health import node_health
from fastlb.bgp.machine import NodeHealth
from fastlb.config import Config
from fastlb.errors import ConfigError

BGP: dict[str, Any] = {
    "local_as": 65011,
    "local_address": "10.0.0.11",
    "peers": [{"address": "10.0.0.1", "as": 65000}],
    "virtual_ips": ["192.0.2.10"],
}


def config(**changes: Any) -> dict[str, Any]:
    return {
        "frontends": [{"name": "web", "listen": "0.0.0.0:80", "backend": "web"}],
        "backends": [{"name": "web", "servers": [{"name": "a", "address": "127.0.0.1:81"}]}],
        "bgp": {**BGP, **changes},
    }


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(data)
    return caught.value.problems


def test_defaults_and_a_bare_address_is_a_host_route() -> None:
    bgp = Config.from_mapping(config()).bgp
    assert bgp is not None
    assert (bgp.speaker, bgp.interface, bgp.hold_time, bgp.med) == ("bird", "lo", 9.0, 0)
    assert str(bgp.virtual_ips[0].network) == "192.0.2.10/32"
    assert str(bgp.effective_next_hop) == "10.0.0.11"


@pytest.mark.parametrize(
    ("changes", "path", "words"),
    [
        ({"hold_time": "2s"}, "bgp.hold_time", "RFC 4271"),
        ({"local_as": 0}, "bgp.local_as", "between"),
        ({"communities": ["65000:70000"]}, "bgp.communities[0]", "0..65535"),
        ({"virtual_ips": ["192.0.2.10", "192.0.2.10/32"]}, "bgp.virtual_ips", "twice"),
        ({"speaker": "gobgp"}, "bgp.speaker", "bird"),
        ({"speaker": "exabgp", "bfd": True}, "bgp.bfd", "BFD needs speaker: bird"),
        ({"peers": [{"address": "10.0.0.11", "as": 1}]}, "bgp.peers[0].address", "local"),
    ],
)
def test_errors_name_the_field(changes: dict[str, Any], path: str, words: str) -> None:
    found = problems(config(**changes))
    assert any(p == path and words in m for p, m in found), found


def test_bgp_and_failover_exclude_each_other() -> None:
    data = config()
    data["failover"] = {"interface": "eth0", "vrid": 1, "virtual_ips": ["10.0.0.50/24"]}
    assert any(p == "bgp" and "exclude each other" in m for p, m in problems(data))


@pytest.mark.parametrize("med", [None, 0, 300])
def test_bird_accepts_the_configuration_fastlb_writes(tmp_path: Path, med: int | None) -> None:
    bgp = BgpConfig.model_validate(
        {**BGP, "bfd": True, "communities": ["65000:100"], "next_hop": "10.0.0.12"}
    )
    conf = tmp_path / "bird.conf"
    conf.write_text(bird_config(bgp, med))
    bird = shutil.which("bird", path="/usr/sbin:/usr/bin")
    assert bird is not None, "bird2 is missing: make install installs it (SYSTEM_TOOLS)"
    done = subprocess.run([bird, "-p", "-c", str(conf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + conf.read_text()
    assert ("route 192.0.2.10/32 blackhole" in conf.read_text()) == (med is not None)


def test_bird_protocol_states_and_exabgp_events_parse() -> None:
    reply = [
        (2002, "Name       Proto      Table      State  Since         Info"),
        (1002, "fastlb_peer0 BGP        ---        up     17:03:03.035  Established"),
        (1002, "fastlb_peer1 BGP        ---        start  17:03:03.035  Active  Socket: x"),
        (1002, "device1    Device     ---        up     17:00:39.399"),
    ]
    assert parse_protocols(reply, ["10.0.0.1", "10.0.0.2"]) == {
        "10.0.0.1": "established",
        "10.0.0.2": "start",
    }
    event = '{"type": "state", "neighbor": {"address": {"peer": "10.0.0.1"}, "state": "up"}}'
    assert parse_event(event) == ("10.0.0.1", "established")
    assert parse_event("done") is None
    bgp = BgpConfig.model_validate({**BGP, "communities": ["65000:1"]})
    assert exabgp_commands(bgp, 5) == [
        "announce route 192.0.2.10/32 next-hop self med 5 community [65000:1]"
    ]
    assert exabgp_commands(bgp, None) == ["withdraw route 192.0.2.10/32"]


def test_health_follows_the_frontends_backends() -> None:
    def stats(*statuses: str) -> StatsSnapshot:
        # Only what node_health reads: the servers' status (model_construct validates nothing).
        servers = {f"s{i}": ServerStats.model_construct(status=s) for i, s in enumerate(statuses)}
        backends = {
            "web": BackendStats.model_construct(servers=servers),
            "other": BackendStats.model_construct(servers={}),
        }
        return StatsSnapshot.model_construct(backends=backends)

    assert node_health(False, stats("UP"), ["web"])[0] is NodeHealth.DOWN
    assert node_health(True, stats("DOWN", "DOWN"), ["web"]) == (
        NodeHealth.DOWN,
        "every backend server is down",
    )
    assert node_health(True, stats("UP", "DOWN", "DOWN"), ["web"])[0] is NodeHealth.DEGRADED
    assert node_health(True, stats("UP", "UP", "DOWN"), ["web"])[0] is NodeHealth.UP
    # A frontend whose backend has no server UP degrades the node.
    assert node_health(True, stats("UP"), ["web", "other"])[0] is NodeHealth.DEGRADED


def test_bfd_sessions_parse_birds_table() -> None:
    reply = [
        (1020, "bfd1:"),
        (1020, "IP address                Interface  State      Since         Interval  Timeout"),
        (1020, "10.0.0.1                  eth0       Up         08:12:54.902    0.100    0.300"),
        (1020, "10.0.0.9                  eth0       Down       08:12:54.902    1.000    0.000"),
        (0, ""),
    ]
    assert parse_bfd_sessions(reply, ["10.0.0.1", "10.0.0.2"]) == {"10.0.0.1": "up"}
