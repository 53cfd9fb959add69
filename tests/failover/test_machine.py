"""The RFC 5798 state machine without sockets: timers, preemption, tie-break, priority 0."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from fastlb.failover.machine import (
    ChangeState,
    SendAdvert,
    State,
    VrrpMachine,
    master_down_interval,
    skew_time,
)

ME = IPv4Address("10.0.0.2")
LOWER = IPv4Address("10.0.0.1")
HIGHER = IPv4Address("10.0.0.3")


def machine(priority: int = 100, interval: float = 1.0, preempt: bool = True) -> VrrpMachine:
    return VrrpMachine(priority, interval, preempt, ME)


def test_timers_follow_rfc_5798() -> None:
    # Skew = ((256 - 100) * 1 s) / 256; Master_Down_Interval = 3 * 1 s + skew.
    assert skew_time(100, 1.0) == pytest.approx(0.609375)
    assert master_down_interval(100, 1.0) == pytest.approx(3.609375)
    assert master_down_interval(254, 0.1) == pytest.approx(0.3 + 0.1 * 2 / 256)


def test_starts_as_backup_and_takes_over_when_no_master_speaks() -> None:
    vrrp = machine()
    assert vrrp.start(0.0) == [ChangeState(State.INITIALIZE, State.BACKUP, "startup")]
    assert vrrp.deadline == pytest.approx(3.609375)
    assert vrrp.on_timer(3.6) == []
    effects = vrrp.on_timer(3.61)
    assert effects[0] == SendAdvert(100)
    assert isinstance(effects[1], ChangeState) and effects[1].new is State.MASTER
    assert vrrp.master == ME
    # Then one advertisement per interval.
    assert vrrp.deadline == pytest.approx(4.61)
    assert vrrp.on_timer(4.61) == [SendAdvert(100)]


def test_owner_becomes_master_at_once() -> None:
    vrrp = machine(priority=255)
    effects = vrrp.start(0.0)
    assert effects[0] == SendAdvert(255)
    assert vrrp.state is State.MASTER


def test_backup_stays_backup_while_a_better_master_advertises() -> None:
    vrrp = machine(priority=100)
    vrrp.start(0.0)
    for t in (1.0, 2.0, 3.0, 4.0, 5.0):
        assert vrrp.on_advert(t, 150, 1.0, HIGHER) == []
        assert vrrp.on_timer(t + 0.5) == []
    assert vrrp.state is State.BACKUP
    assert vrrp.master == HIGHER
    # It learns the master's interval: a 0.1 s master times out after ~0.36 s.
    vrrp.on_advert(6.0, 150, 0.1, HIGHER)
    assert vrrp.deadline == pytest.approx(6.0 + master_down_interval(100, 0.1))


def test_priority_zero_makes_the_backup_take_over_after_the_skew_only() -> None:
    vrrp = machine(priority=100)
    vrrp.start(0.0)
    vrrp.on_advert(1.0, 150, 1.0, HIGHER)
    vrrp.on_advert(2.0, 0, 1.0, HIGHER)
    assert vrrp.deadline == pytest.approx(2.0 + skew_time(100, 1.0))
    effects = vrrp.on_timer(2.0 + 0.61)
    assert effects[0] == SendAdvert(100)
    assert effects[1] == ChangeState(State.BACKUP, State.MASTER, "the master left (priority 0)")


def test_preemption_a_better_backup_ignores_a_weaker_master() -> None:
    vrrp = machine(priority=150)
    vrrp.start(0.0)
    deadline = vrrp.deadline
    vrrp.on_advert(1.0, 100, 1.0, LOWER)
    assert vrrp.deadline == deadline  # not reset: it takes over when the timer runs out
    assert deadline is not None
    vrrp.on_timer(deadline)
    assert vrrp.state is State.MASTER


def test_without_preemption_a_better_backup_leaves_the_master_alone() -> None:
    vrrp = machine(priority=150, preempt=False)
    vrrp.start(0.0)
    for t in range(1, 10):
        vrrp.on_advert(float(t), 100, 1.0, LOWER)
        vrrp.on_timer(t + 0.9)
    assert vrrp.state is State.BACKUP


def test_master_yields_to_higher_priority() -> None:
    vrrp = machine(priority=100)
    vrrp.start(0.0)
    vrrp.on_timer(10.0)
    assert vrrp.state is State.MASTER
    assert vrrp.on_advert(11.0, 99, 1.0, HIGHER) == []
    effects = vrrp.on_advert(11.5, 101, 1.0, LOWER)
    assert effects == [
        ChangeState(State.MASTER, State.BACKUP, "10.0.0.1 advertises priority 101 > 100")
    ]
    assert vrrp.master == LOWER


@pytest.mark.parametrize(("peer", "yields"), [(HIGHER, True), (LOWER, False)])
def test_equal_priority_masters_the_higher_address_wins(peer: IPv4Address, yields: bool) -> None:
    vrrp = machine(priority=100)
    vrrp.start(0.0)
    vrrp.on_timer(10.0)
    vrrp.on_advert(10.5, 100, 1.0, peer)
    assert vrrp.state is (State.BACKUP if yields else State.MASTER)


def test_master_answers_a_leaving_master_at_once() -> None:
    vrrp = machine()
    vrrp.start(0.0)
    vrrp.on_timer(10.0)
    assert vrrp.on_advert(10.2, 0, 1.0, LOWER) == [SendAdvert(100)]
    assert vrrp.deadline == pytest.approx(11.2)


def test_shutdown_of_a_master_sends_priority_zero() -> None:
    vrrp = machine()
    vrrp.start(0.0)
    vrrp.on_timer(10.0)
    effects = vrrp.shutdown()
    assert effects[0] == SendAdvert(0)
    assert vrrp.state is State.INITIALIZE and vrrp.deadline is None
    backup = machine()
    backup.start(0.0)
    assert SendAdvert(0) not in backup.shutdown()


def test_unhealthy_master_gives_up_and_rejoins_as_backup() -> None:
    vrrp = machine()
    vrrp.start(0.0)
    vrrp.on_timer(10.0)
    effects = vrrp.set_healthy(11.0, False, "every server is down")
    assert effects == [
        SendAdvert(0),
        ChangeState(State.MASTER, State.FAULT, "every server is down"),
    ]
    # In FAULT it neither advertises nor takes over, whatever it hears.
    assert vrrp.deadline is None
    assert vrrp.on_advert(12.0, 0, 1.0, HIGHER) == []
    assert vrrp.on_timer(100.0) == []
    effects = vrrp.set_healthy(101.0, True)
    assert effects == [ChangeState(State.FAULT, State.BACKUP, "healthy again")]
    assert vrrp.deadline == pytest.approx(101.0 + master_down_interval(100, 1.0))


def test_unhealthy_at_start_is_fault() -> None:
    vrrp = machine()
    assert vrrp.start(0.0, healthy=False)[0].new is State.FAULT  # type: ignore[union-attr]
    assert vrrp.deadline is None


def test_resuming_a_master_after_an_upgrade_advertises_at_once() -> None:
    vrrp = machine()
    effects = vrrp.resume(0.0, "master")
    assert effects[0] == SendAdvert(100)
    assert vrrp.state is State.MASTER and vrrp.deadline == pytest.approx(1.0)


def test_resuming_anything_else_starts_as_usual() -> None:
    assert machine().resume(0.0, "backup") == [
        ChangeState(State.INITIALIZE, State.BACKUP, "startup")
    ]
    # An unhealthy node never resumes mastership.
    fault = machine().resume(0.0, "master", healthy=False)[0]
    assert isinstance(fault, ChangeState) and fault.new is State.FAULT
