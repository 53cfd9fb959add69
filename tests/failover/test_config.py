"""The `failover:` section: defaults, and errors that name the field (exit status 2)."""

from __future__ import annotations

from typing import Any

import pytest

from fastlb import Config, ConfigError
from fastlb.config_diff import describe_changes

BASE: dict[str, Any] = {
    "frontends": [{"name": "web", "listen": "0.0.0.0:8080", "backend": "web"}],
    "backends": [{"name": "web", "servers": [{"name": "a", "address": "127.0.0.1:9001"}]}],
}
FAILOVER = {"interface": "eth0", "vrid": 51, "virtual_ips": ["10.0.0.100/24"]}


def config(**failover: Any) -> Config:
    return Config.from_mapping({**BASE, "failover": {**FAILOVER, **failover}})


def test_defaults_follow_design_and_keepalived() -> None:
    failover = config().failover
    assert failover is not None
    assert (failover.priority, failover.advert_interval, failover.preempt) == (100, 1.0, True)
    assert failover.checksum == "pseudo-header"
    assert failover.unicast_peers == [] and failover.notify is None
    assert str(failover.virtual_ips[0]) == "10.0.0.100/24"
    assert Config.from_mapping(BASE).failover is None


def test_fractional_advert_intervals_in_centiseconds() -> None:
    assert config(advert_interval="100ms").failover.advert_centiseconds == 10  # type: ignore[union-attr]
    assert config(advert_interval=2.5).failover.advert_centiseconds == 250  # type: ignore[union-attr]


def test_a_bare_address_is_a_host_route() -> None:
    assert str(config(virtual_ips=["10.0.0.7"]).failover.virtual_ips[0]) == "10.0.0.7/32"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"vrid": 0}, "failover.vrid: must be between 1 and 255 (got 0)"),
        ({"vrid": 256}, "failover.vrid: must be between 1 and 255 (got 256)"),
        ({"vrid": True}, "failover.vrid: must be an integer, not a boolean"),
        ({"priority": 0}, "failover.priority: must be between 1 and 255 (got 0)"),
        ({"advert_interval": "5ms"}, "failover.advert_interval: must be between 10ms and 40.95s"),
        ({"advert_interval": "41s"}, "failover.advert_interval: must be between 10ms and 40.95s"),
        ({"advert_interval": "105ms"}, "failover.advert_interval: must be a multiple of 10ms"),
        ({"virtual_ips": []}, "failover.virtual_ips: list should have at least 1 item"),
        ({"virtual_ips": ["fe80::1/64"]}, "failover.virtual_ips[0]: invalid virtual IP"),
        ({"virtual_ips": ["224.0.0.18"]}, "failover.virtual_ips[0]: '224.0.0.18' cannot be"),
        (
            {"virtual_ips": ["10.0.0.1/24", "10.0.0.1/32"]},
            "failover.virtual_ips: 10.0.0.1 is listed twice",
        ),
        ({"interface": "a/b"}, "failover.interface: invalid interface name 'a/b'"),
        ({"interface": "x" * 16}, "failover.interface: invalid interface name"),
        ({"unicast_peers": ["peer"]}, "failover.unicast_peers[0]: invalid peer 'peer'"),
        ({"checksum": "v2"}, "failover.checksum: input should be 'pseudo-header' or 'rfc9568'"),
        ({"notify": " "}, "failover.notify: must not be empty"),
        ({"prio": 1}, "failover.prio: unknown key; did you mean 'priority'?"),
    ],
)
def test_errors_name_the_field(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**change)
    assert any(line.startswith(expected) for line in caught.value.lines()), caught.value.lines()


def test_required_fields() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping({**BASE, "failover": {}})
    assert caught.value.lines() == [
        "failover.interface: required",
        "failover.vrid: required",
        "failover.virtual_ips: required",
    ]


def test_a_reload_reports_that_failover_changes_need_a_restart() -> None:
    changes = describe_changes(config(), config(priority=200))
    assert changes == ["failover: changes take effect at the next restart"]
