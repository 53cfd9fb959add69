"""The announcement machine on its own: when a node announces, withdraws, changes MED."""

from __future__ import annotations

from fastlb.bgp.machine import Announce, AnnounceMachine, NodeHealth, Withdraw


def test_announces_only_while_running_and_healthy() -> None:
    machine = AnnounceMachine(med=0, degraded_med=None)
    assert machine.start(1.0, NodeHealth.DOWN, "every backend server is down") == []
    assert not machine.announced
    assert machine.set_health(2.0, NodeHealth.UP, "1 of 1 servers UP") == [
        Announce(0, "1 of 1 servers UP")
    ]
    # The same health again changes nothing.
    assert machine.set_health(2.5, NodeHealth.UP, "1 of 1 servers UP") == []
    assert machine.set_health(3.0, NodeHealth.DOWN, "every backend server is down") == [
        Withdraw("every backend server is down")
    ]
    assert [entry["action"] for entry in machine.history] == ["withdraw", "announce"]
    assert machine.history[0]["at"] == 3.0


def test_degraded_takes_the_worse_med_only_when_configured() -> None:
    plain = AnnounceMachine(med=10, degraded_med=None)
    plain.start(0.0, NodeHealth.UP, "up")
    assert plain.set_health(1.0, NodeHealth.DEGRADED, "1 of 4 servers UP") == []
    assert plain.announced_med == 10
    worse = AnnounceMachine(med=10, degraded_med=500)
    worse.start(0.0, NodeHealth.UP, "up")
    assert worse.set_health(1.0, NodeHealth.DEGRADED, "1 of 4") == [Announce(500, "1 of 4")]
    assert worse.set_health(2.0, NodeHealth.UP, "4 of 4") == [Announce(10, "4 of 4")]


def test_drain_is_final_and_stop_withdraws() -> None:
    machine = AnnounceMachine(med=0, degraded_med=None)
    machine.start(0.0, NodeHealth.UP, "up")
    assert machine.drain(1.0) == [Withdraw("draining: the node leaves the fleet")]
    assert machine.set_health(2.0, NodeHealth.UP, "all UP again") == []
    assert not machine.announced
    other = AnnounceMachine(med=0, degraded_med=None)
    other.start(0.0, NodeHealth.UP, "up")
    assert other.stop(1.0, "bird exited") == [Withdraw("bird exited")]
    assert other.set_health(2.0, NodeHealth.DEGRADED, "x") == []
