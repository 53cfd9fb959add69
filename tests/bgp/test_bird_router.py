"""BIRD 2 as the upstream router (the README's config, `python/fastlb/harness/bgp_router.py`): it
merges the nodes' paths into one multipath route in its kernel, drops a node that
withdraws and takes it back."""

from __future__ import annotations

from fastlb.harness.bgp_fleet import Fleet
from fastlb.harness.waiting import wait_for as wait_until

CONVERGE = 15.0


def test_bird_router_spreads_over_both_nodes_and_follows_withdrawals(
    bird_router_fleet: Fleet,
) -> None:
    fleet = bird_router_fleet
    lb1 = fleet.node("lb1").start()
    lb2 = fleet.node("lb2").start()
    lb1.wait_established()
    lb2.wait_established()
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, CONVERGE, "both nodes in the FIB")
    served = fleet.spread(60)
    assert served["failed"] == 0 and served["lb1"] >= 10 and served["lb2"] >= 10, served

    fleet.stop_backend("lb1")
    wait_until(lambda: fleet.next_hops() == {"lb2"}, CONVERGE, "lb1 withdrawn")
    assert fleet.spread(20) == {"lb2": 20}
    fleet.start_backend("lb1")
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, CONVERGE, "lb1 back")
