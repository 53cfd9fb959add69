"""The failover policy (fastlb.mysql.failover.detection): when the primary is dead, which
replica is promoted, and what a returning old primary lost. Pure: no servers."""

from __future__ import annotations

from fastlb.mysql.failover.detection import (
    PrimaryLossDetector,
    lost_transactions,
    pick_candidate,
)
from fastlb.mysql.failover.events import MAX_EVENTS, EventLog
from fastlb.mysql.failover.grants import missing_privileges
from fastlb.mysql.topology import ServerObservation


def seen(name: str, reachable: bool = True, io: bool | None = None) -> ServerObservation:
    return ServerObservation(name, reachable=reachable, io_running=io)


def round_(primary_up: bool, io: bool) -> dict[str, ServerObservation]:
    return {
        "p": seen("p", reachable=primary_up),
        "r1": seen("r1", io=io),
        "r2": seen("r2", io=io),
    }


def test_dead_only_after_failcount_rounds_lost_by_everyone() -> None:
    detector = PrimaryLossDetector(failcount=3)
    assert not detector.observe("p", round_(False, io=False), 1.0)
    assert not detector.observe("p", round_(False, io=False), 2.0)
    assert detector.observe("p", round_(False, io=False), 3.0)
    assert detector.since == 1.0


def test_a_replica_still_connected_means_the_primary_lives() -> None:
    detector = PrimaryLossDetector(failcount=1)
    observations = round_(False, io=False)
    observations["r2"] = seen("r2", io=True)
    for at in range(10):
        assert not detector.observe("p", observations, float(at))


def test_a_reachable_primary_resets_the_count() -> None:
    detector = PrimaryLossDetector(failcount=2)
    assert not detector.observe("p", round_(False, io=False), 1.0)
    assert not detector.observe("p", round_(True, io=False), 2.0)
    assert not detector.observe("p", round_(False, io=False), 3.0)
    assert detector.observe("p", round_(False, io=False), 4.0)


def test_no_reachable_replica_never_declares_death() -> None:
    detector = PrimaryLossDetector(failcount=1)
    observations = {"p": seen("p", False), "r1": seen("r1", False)}
    assert not detector.observe("p", observations, 1.0)


def test_the_most_advanced_replica_wins() -> None:
    order = ["r1", "r2", "r3"]
    positions = {"r1": "0-1-10", "r2": "0-1-12", "r3": "0-1-11"}
    assert pick_candidate(order, positions) == "r2"


def test_ties_go_to_promotion_order_then_configuration_order() -> None:
    order = ["r1", "r2", "r3"]
    positions = {"r1": "0-1-10", "r2": "0-1-10", "r3": "0-1-10"}
    assert pick_candidate(order, positions, promotion_order=["r3", "r2"]) == "r3"
    assert pick_candidate(order, positions) == "r1"


def test_lagging_excluded_and_unknown_replicas_are_never_promoted() -> None:
    order = ["r1", "r2", "r3"]
    positions = {"r1": "0-1-20", "r2": "0-1-10", "r3": None}
    lags = {"r1": 30.0, "r2": 1.0}
    assert pick_candidate(order, positions, lags=lags, max_lag=10.0) == "r2"
    assert pick_candidate(order, positions, excluded={"r1", "r2"}) is None


def test_lost_transactions_of_a_returning_primary() -> None:
    assert lost_transactions("0-1-100", "0-1-100") == 0
    assert lost_transactions("0-1-95", "0-1-100") == 0
    assert lost_transactions("0-1-100", "0-1-95") == 5
    assert lost_transactions("0-1-5,1-1-3", "0-1-5") == 3
    assert lost_transactions("0-1-5", "") == 5


def test_the_event_log_is_bounded_and_counts() -> None:
    events = EventLog("db")
    for n in range(MAX_EVENTS + 20):
        events.record("fenced", "s", f"event {n}")
    events.add_outage(1.5, failover=True)
    events.add_outage(0.25, failover=False)
    snapshot = events.snapshot()
    assert len(snapshot["events"]) == MAX_EVENTS
    assert snapshot["events"][-1]["message"] == f"event {MAX_EVENTS + 19}"
    assert (snapshot["failovers_total"], snapshot["switchovers_total"]) == (1, 1)
    assert snapshot["write_unavailable_seconds"] == 1.75


def test_missing_privileges_from_show_grants() -> None:
    full = [
        "GRANT RELOAD, PROCESS, SUPER ON *.* TO `monitor`@`%` IDENTIFIED BY PASSWORD '*AB'",
        "GRANT SELECT ON `app`.* TO `monitor`@`%`",
    ]
    assert missing_privileges(full) == []
    assert missing_privileges(["GRANT ALL PRIVILEGES ON *.* TO `root`@`%`"]) == []
    assert missing_privileges(["GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO `m`@`%`"]) == [
        "RELOAD",
        "PROCESS",
        "READ_ONLY ADMIN",
        "CONNECTION ADMIN",
        "REPLICATION SLAVE ADMIN",
    ]
    # Only global grants count.
    assert "RELOAD" in missing_privileges(["GRANT RELOAD ON `app`.* TO `m`@`%`"])
