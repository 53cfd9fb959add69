"""BFD between the nodes' BIRD (`bgp.bfd: true`) and FRR's bfdd on the router: a node whose
machine dies silently (link down: no FIN, no NOTIFICATION) leaves the router's FIB because
BFD said so, not because the 3 s hold timer expired. The time is printed; the bench
measures it (BENCHMARKS-scaleout.md)."""

from __future__ import annotations

import time

from fastlb.harness.bgp_fleet import Fleet
from fastlb.harness.waiting import wait_for as wait_until

# Far above the expected figures (~0.3 s BFD detection): only "it converged".
CONVERGE = 15.0


def test_bfd_drops_a_dead_machine_before_the_hold_timer(bfd_fleet: Fleet) -> None:
    fleet = bfd_fleet
    lb1 = fleet.node("lb1", bfd=True).start()
    lb2 = fleet.node("lb2", bfd=True).start()
    lb1.wait_established()
    lb2.wait_established()
    assert lb1.bgp()["bfd"] is True
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, CONVERGE, "both nodes in the FIB")
    wait_until(
        lambda: fleet.bfd_peers() == {"lb1": "up", "lb2": "up"},
        CONVERGE,
        "BFD sessions up with both nodes",
    )
    # The node sees its side too: in /api/stats and /metrics.
    wait_until(lambda: lb1.bgp()["peers"][0]["bfd"] == "up", CONVERGE, "lb1's BIRD: BFD up")
    status, metrics = lb1.api("GET", "/metrics")
    assert status == 200 and 'fastlb_bgp_bfd_up{peer="10.78.0.1"} 1.0' in metrics

    with fleet.prober() as prober:
        prober.wait_answers(10, 5.0)
        fleet.cut("lb1")
        cut = time.monotonic()
        wait_until(lambda: fleet.next_hops() == {"lb2"}, CONVERGE, "lb1 leaves the FIB")
        converged_at = time.monotonic()
        prober.wait_answers(20, 5.0)
    # Once the router dropped lb1, no new connection fails (a probe still waiting for lb1
    # then may: failures are stamped with their start).
    assert [t for t in prober.failures if t > converged_at] == []
    converged = converged_at - cut
    # BFD took the session down: the hold timer (3 s) had no chance to.
    assert fleet.last_reset("lb1") == "Cease/BFD Down", fleet.vtysh("show bgp summary")
    assert fleet.bfd_peers()["lb1"] == "down"
    print(
        f"dead machine with BFD -> out of the router's FIB: {converged:.2f}s, "
        f"{len(prober.failures)} new connections failed"
    )

    # The machine comes back: BFD and BGP come up again and lb1 rejoins.
    fleet.mend("lb1")
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, CONVERGE, "lb1 rejoins")
    wait_until(lambda: fleet.bfd_peers()["lb1"] == "up", CONVERGE, "BFD up with lb1 again")
    assert fleet.spread(40)["failed"] == 0
