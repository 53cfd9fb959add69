"""The MySQL topology policy (`fastlb.mysql.topology.decide`) and GTID arithmetic, pure: no
servers needed. The monitor that feeds the policy is tested against real MariaDB in
tests/integration/test_mysql_monitor.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fastlb.mysql import gtid
from fastlb.mysql.topology import ServerObservation, ServerSpec, TopologyDecision, decide

SPECS = (
    ServerSpec("db1", "127.0.0.1", 3307, role="primary"),
    ServerSpec("db2", "127.0.0.1", 3308, role="replica", weight=2),
)


def writable(name: str, position: str = "0-1-10", **fields: Any) -> ServerObservation:
    values: dict[str, Any] = {
        "reachable": True,
        "read_only": False,
        "flavor": "mariadb",
        "gtid_position": position,
        "replication_configured": False,
    }
    values.update(fields)
    return ServerObservation(name, **values)


def replica(name: str, position: str = "0-1-10", **fields: Any) -> ServerObservation:
    values: dict[str, Any] = {
        "reachable": True,
        "read_only": True,
        "flavor": "mariadb",
        "gtid_position": position,
        "replication_configured": True,
        "io_running": True,
        "sql_running": True,
        "seconds_behind": 0.0,
    }
    values.update(fields)
    return ServerObservation(name, **values)


def down(name: str) -> ServerObservation:
    return ServerObservation(name, reachable=False, error="Can't connect (2003)")


def run(*observations: ServerObservation, **kwargs: Any) -> TopologyDecision:
    kwargs.setdefault("max_replication_lag", 5.0)
    return decide(SPECS, {seen.name: seen for seen in observations}, **kwargs)


def test_healthy_pair() -> None:
    decision = run(writable("db1"), replica("db2"))
    assert decision.primary == "db1"
    assert decision.read_pool == ("db2",)
    assert decision.conflict is None and not decision.failed_over
    assert decision.server("db1").role == "primary"
    assert not decision.server("db1").in_read_pool
    db2 = decision.server("db2")
    assert (db2.role, db2.in_read_pool, db2.lag_seconds, db2.reason) == ("replica", True, 0.0, "")
    assert db2.weight == 2 and db2.address == "127.0.0.1:3308"


def test_lag_beyond_the_maximum_leaves_the_read_pool() -> None:
    decision = run(writable("db1", "0-1-20"), replica("db2", "0-1-10", seconds_behind=7.0))
    assert decision.read_pool == ()
    assert decision.server("db2").lag_seconds == 7.0
    assert decision.server("db2").reason == "lag 7s > max_replication_lag 5s"
    # At the limit it still serves.
    assert run(writable("db1", "0-1-20"), replica("db2", "0-1-10", seconds_behind=5.0)).read_pool


def test_caught_up_by_gtid_means_no_lag_whatever_seconds_behind_says() -> None:
    decision = run(writable("db1", "0-1-20"), replica("db2", "0-1-20", seconds_behind=30.0))
    assert decision.server("db2").lag_seconds == 0.0
    assert decision.read_pool == ("db2",)


def test_unknown_lag_with_a_live_primary_is_not_trusted() -> None:
    decision = run(writable("db1", "0-1-20"), replica("db2", "0-1-10", seconds_behind=None))
    assert decision.read_pool == ()
    assert "unknown" in decision.server("db2").reason


def test_stopped_replication_leaves_the_read_pool_with_the_error() -> None:
    seen = replica("db2", "0-1-9", sql_running=False, replication_error="Duplicate entry")
    decision = run(writable("db1"), seen)
    assert decision.read_pool == ()
    assert decision.server("db2").reason == (
        "replication stopped (IO thread on, SQL thread off): Duplicate entry"
    )


def test_an_unreachable_replica_leaves_the_read_pool() -> None:
    decision = run(writable("db1"), down("db2"))
    assert decision.primary == "db1" and decision.read_pool == ()
    assert decision.server("db2").reason == "unreachable: Can't connect (2003)"
    assert not decision.server("db2").reachable


def test_primary_down_reads_continue_on_the_replica() -> None:
    # The replica's IO thread is reconnecting and its lag is NULL: nothing newer exists.
    seen = replica("db2", io_running=False, seconds_behind=None)
    decision = run(down("db1"), seen)
    assert decision.primary is None
    assert decision.read_pool == ("db2",)
    assert decision.server("db1").role == "replica"


def test_a_promoted_replica_becomes_the_primary() -> None:
    promoted = writable("db2", "0-1-10", replication_configured=True, sql_running=False)
    decision = run(down("db1"), promoted)
    assert decision.primary == "db2" and decision.failed_over
    assert decision.server("db2").role == "primary"
    assert decision.read_pool == ()


def test_the_old_primary_back_read_only_is_a_replica() -> None:
    old = replica("db1", "0-1-10", replication_configured=False)
    decision = run(old, writable("db2", "0-1-10,0-2-3"), current_primary="db2")
    assert decision.primary == "db2"
    db1 = decision.server("db1")
    assert (db1.role, db1.configured_role, db1.in_read_pool) == ("replica", "primary", False)
    assert "not replicating" in db1.reason
    # Once it replicates from the new primary, it serves reads.
    caught_up = replica("db1", "0-1-10,0-2-3")
    assert run(caught_up, writable("db2", "0-1-10,0-2-3")).read_pool == ("db1",)


def test_two_writable_servers_keep_the_current_primary_and_say_so() -> None:
    decision = run(writable("db1"), writable("db2"))
    assert decision.primary == "db1"  # the configured one
    assert decision.conflict is not None and "db1 stays primary" in decision.conflict
    after_failover = run(writable("db1"), writable("db2"), current_primary="db2")
    assert after_failover.primary == "db2"
    assert after_failover.conflict is not None and "db2 stays primary" in after_failover.conflict


def test_no_writable_server_at_all() -> None:
    decision = run(replica("db1", replication_configured=False), replica("db2"))
    assert decision.primary is None
    assert decision.read_pool == ("db1", "db2")


def test_a_monitor_user_without_privileges_is_reported() -> None:
    seen = ServerObservation(
        "db2",
        reachable=True,
        read_only=True,
        flavor="mariadb",
        replication_error="SHOW SLAVE STATUS: Access denied (1227)",
    )
    decision = run(writable("db1"), seen)
    assert decision.read_pool == ()
    assert decision.server("db2").reason.startswith("cannot read replication status")


def test_servers_never_observed_are_unreachable() -> None:
    decision = run(writable("db1"))
    assert decision.server("db2").reason == "unreachable: not checked yet"
    with pytest.raises(KeyError):
        decision.server("nope")


def test_decisions_compare_without_timestamps_and_serialize() -> None:
    first = run(writable("db1"), replica("db2"), checked_at=1.0)
    second = run(writable("db1"), replica("db2"), checked_at=2.0)
    assert first == second
    data = json.loads(json.dumps(first.to_dict()))
    assert data["primary"] == "db1"
    assert data["servers"][1]["in_read_pool"] is True


def test_ipv6_addresses_are_bracketed() -> None:
    assert ServerSpec("x", "::1", 3306).address == "[::1]:3306"


# --- GTID positions -----------------------------------------------------------------------


def test_gtid_parse_covers_and_merge() -> None:
    assert gtid.parse("") == {}
    assert gtid.parse("0-1-42,1-3-7") == {0: 42, 1: 7}
    assert gtid.covers("0-1-42", "0-1-42")
    assert gtid.covers("0-2-43", "0-1-42")  # the same domain, a later sequence
    assert not gtid.covers("0-1-41", "0-1-42")
    assert not gtid.covers("0-1-42", "1-1-1")  # a domain the server has not seen
    assert gtid.covers("0-1-42,1-1-5", "1-1-5")
    assert gtid.covers("0-1-1", "")
    assert gtid.merge("0-1-5", "0-1-7,1-2-3") == "0-1-7,1-2-3"
    assert gtid.merge("", "0-1-5") == "0-1-5"


@pytest.mark.parametrize("bad", ["0-1", "a-b-c", "0-1-2-3", "3E11FA47:1-5"])
def test_gtid_rejects_what_is_not_a_mariadb_position(bad: str) -> None:
    with pytest.raises(ValueError, match="not a MariaDB GTID"):
        gtid.parse(bad)
    with pytest.raises(ValueError):
        gtid.merge("0-1-1", bad)
