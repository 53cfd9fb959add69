"""`apply_decision` hands the monitor's verdicts to a real core: a server a reload removed is
skipped (the core's UnknownServerError), any other refusal raises (the core's own class, not
a guess from its message)."""

from __future__ import annotations

import dataclasses

import pytest

from fastlb import _core
from fastlb.config import Config
from fastlb.errors import UnknownRoleError
from fastlb.mysql.topology import ServerDecision, TopologyDecision
from fastlb.mysql.topology_sync import apply_decision

CONFIG = {
    "frontends": [{"name": "sql", "listen": "127.0.0.1:0", "mode": "mysql", "backend": "db"}],
    "backends": [
        {
            "name": "db",
            "servers": [
                {"name": "db1", "address": "127.0.0.1:1", "role": "primary"},
                {"name": "db2", "address": "127.0.0.1:2", "role": "replica"},
            ],
            "mysql": {"users": [{"user": "app", "password": "p"}]},
        }
    ],
}


def verdict(name: str, role: str, lag: float | None = None) -> ServerDecision:
    return ServerDecision(
        name=name,
        address="127.0.0.1:0",
        configured_role="replica",
        role=role,  # type: ignore[arg-type]  # the test sends a role the monitor never would
        reachable=True,
        in_read_pool=role == "replica",
        lag_seconds=lag,
        read_only=role == "replica",
        weight=1,
    )


def decision(*servers: ServerDecision) -> TopologyDecision:
    return TopologyDecision(primary=None, servers=servers, read_pool=())


@pytest.fixture
def engine() -> _core.Engine:
    return _core.Engine(Config.model_validate(CONFIG).to_core_json())  # never started


def mysql_of(engine: _core.Engine, server: str) -> dict[str, object]:
    return engine.stats()["backends"]["db"]["servers"][server]["mysql"]  # type: ignore[no-any-return]


def test_a_server_that_left_the_backend_is_skipped_and_the_others_applied(
    engine: _core.Engine,
) -> None:
    apply_decision(
        engine,
        "db",
        decision(
            verdict("db1", "replica", 0.5), verdict("gone", "replica"), verdict("db2", "primary")
        ),
    )
    assert mysql_of(engine, "db1")["role"] == "replica"
    assert mysql_of(engine, "db1")["replication_lag_seconds"] == 0.5
    assert mysql_of(engine, "db2")["role"] == "primary"


def test_an_unknown_role_raises(engine: _core.Engine) -> None:
    bad = dataclasses.replace(verdict("db1", "replica"), role="leader")  # type: ignore[arg-type]
    with pytest.raises(UnknownRoleError, match="leader"):
        apply_decision(engine, "db", decision(bad))
    assert mysql_of(engine, "db1")["role"] == "primary"
