"""The boundary contract: the core owns the limits and enumerations and exports them; the
typed Python spelling (`fastlb.contract`, which pydantic, mypy and a core-less `fastlb check`
need) must be exactly what the core exports. The core's refusals arrive as fastlb's classes."""

from __future__ import annotations

import json

import pytest

from fastlb import _core, contract
from fastlb.config import Config
from fastlb.errors import (
    ServerExistsError,
    UnknownBackendError,
    UnknownRoleError,
    UnknownServerError,
    UnknownStateError,
    WeightOutOfRangeError,
)


@pytest.mark.parametrize(
    "name",
    [
        "MAX_WEIGHT",
        "SERVER_STATES",
        "SERVER_STATUSES",
        "SERVER_ROLES",
        "FRONTEND_MODES",
        "BALANCE_ALGORITHMS",
        "CHECK_TYPES",
        "SPLICE_MODES",
    ],
)
def test_python_spells_the_cores_limits_and_enumerations(name: str) -> None:
    assert getattr(contract, name) == getattr(_core, name)


def test_every_export_is_compared() -> None:
    exported = {n for n in dir(_core) if n.isupper() and n != "HTTP_PROXY_OWNED_HEADERS"}
    assert exported == {n for n in contract.__all__ if n.isupper()}


def test_weighted_round_robin_refusals_are_fastlb_errors() -> None:
    with pytest.raises(WeightOutOfRangeError, match=f"between 0 and {_core.MAX_WEIGHT}"):
        _core.WeightedRoundRobin({"a": _core.MAX_WEIGHT + 1})
    with pytest.raises(WeightOutOfRangeError, match=r"got -1\)"):
        _core.WeightedRoundRobin({"a": -1})
    wrr = _core.WeightedRoundRobin({"a": 1})
    with pytest.raises(UnknownServerError) as caught:
        wrr.set_weight("b", 1)
    assert not isinstance(caught.value, UnknownBackendError)


def test_engine_refusals_are_the_cores_own_classes() -> None:
    config = Config.from_mapping(
        {
            "workers": 1,
            "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web"}],
            "backends": [{"name": "web", "servers": [{"name": "a", "address": "127.0.0.1:1"}]}],
        }
    )
    engine = _core.Engine(config.to_core_json())  # never started: nothing listens
    with pytest.raises(UnknownBackendError, match="unknown backend 'api'"):
        engine.require_server("api", "a")
    with pytest.raises(UnknownServerError, match="backend 'web' has no server 'b'") as caught:
        engine.require_server("web", "b")
    assert not isinstance(caught.value, UnknownBackendError)
    engine.require_server("web", "a")
    with pytest.raises(UnknownStateError, match="unknown server state 'down'"):
        engine.set_state("web", "a", "down")
    with pytest.raises(UnknownRoleError, match="unknown server role 'leader'"):
        engine.set_topology("web", "a", "leader", True)
    with pytest.raises(WeightOutOfRangeError):
        engine.set_weight("web", "a", -3)
    server = json.dumps({"name": "a", "address": "127.0.0.1:2", "weight": 1, "backup": False})
    with pytest.raises(ServerExistsError, match="backend 'web' already has a server 'a'"):
        engine.add_server("web", server)
    with pytest.raises(UnknownBackendError):
        engine.remove_server("api", "a")
