"""Two `fastlb serve` nodes announcing one virtual IP over BGP to a real FRR router with
multipath, in network namespaces: ECMP over both, withdrawal when a node's backends die,
`kill -9`, `node drain` and rejoining. Convergence and outage times are printed (the bench
measures them; no timed assertions here beyond generous bounds that mean "it happened")."""

from __future__ import annotations

import os
import subprocess
import time

from test_dashboard import CHROMIUM, DashboardDom, run_chromium

from fastlb.api.stats_models import BgpStats
from fastlb.harness.bgp_fleet import BgpNode, Fleet, KeptConnections
from fastlb.harness.netns_fastlb import API
from fastlb.harness.process import fastlb_command
from fastlb.harness.waiting import wait_for as wait_until

# Far above the expected figures (~0.3 s withdrawal, 3 s hold time): only "it converged".
CONVERGE = 15.0


def start(fleet: Fleet, **bgp: object) -> tuple[BgpNode, BgpNode]:
    lb1 = fleet.node("lb1", **bgp).start()
    lb2 = fleet.node("lb2").start()
    lb1.wait_established()
    lb2.wait_established()
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, CONVERGE, "both nodes in the FIB")
    return lb1, lb2


def test_ecmp_spreads_and_a_node_without_backends_withdraws_then_rejoins(fleet: Fleet) -> None:
    lb1, _lb2 = start(fleet)
    # Many source ports: the router's L4 hash sends flows to both nodes.
    served = fleet.spread(60)
    assert served["failed"] == 0 and served["lb1"] >= 10 and served["lb2"] >= 10, served
    assert "65011" in fleet.vtysh("show ip bgp 10.78.9.100/32")
    bgp = lb1.bgp()
    BgpStats.model_validate(bgp)  # the API's documented shape
    assert (bgp["state"], bgp["health"], bgp["announced"]) == (
        "announced",
        "up",
        ["10.78.9.100/32"],
    )
    status, metrics = lb1.api("GET", "/metrics")
    assert status == 200
    assert 'fastlb_bgp_session_established{peer="10.78.0.1"} 1.0' in metrics
    assert 'fastlb_bgp_prefix_announced{prefix="10.78.9.100/32"} 1.0' in metrics

    with fleet.prober() as prober:
        prober.wait_answers(5, 5.0)
        fleet.stop_backend("lb1")
        died = time.monotonic()
        wait_until(lambda: fleet.next_hops() == {"lb2"}, CONVERGE, "lb1 leaves the FIB")
        converged_at = time.monotonic()
        prober.wait_answers(20, 5.0)
    # Once the router dropped lb1, no new connection fails (a probe still waiting for lb1
    # then may: failures are stamped with their start).
    assert [t for t in prober.failures if t > converged_at] == []
    converged = converged_at - died
    print(f"backend death -> route withdrawn in the router's FIB: {converged:.2f}s")
    bgp = lb1.bgp()
    assert bgp["state"] == "withdrawn" and bgp["withdrawn"] == ["10.78.9.100/32"]
    assert bgp["history"][0]["action"] == "withdraw"
    assert bgp["history"][0]["reason"] == "every backend server is down"
    assert fleet.spread(20) == {"lb2": 20}
    # And on the dashboard (Debian's chromium, run inside lb1's namespace).
    section = dashboard(fleet, "lb1").ids["bgp"]
    assert "WITHDRAWN — every backend server is down 10.78.9.100/32" in section, section
    assert "bird, AS 65011 from 10.78.0.11 Peers10.78.0.1 (AS 65000) established" in section
    assert "Withdrawals1" in section and "withdraw: every backend server is down" in section

    fleet.start_backend("lb1")
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, CONVERGE, "lb1 rejoins")
    assert lb1.bgp()["history"][0]["action"] == "announce"


def test_kill_9_takes_the_speaker_down_with_the_node(fleet: Fleet) -> None:
    # Graceful restart negotiated with a restart time far above CONVERGE: a session that
    # ended without a Cease would leave lb1's route at the router (stale) that long.
    lb1, _lb2 = start(fleet, graceful_restart_time="60s")
    with fleet.prober() as prober:
        prober.wait_answers(10, 5.0)
        speaker = lb1.bgp()["speaker_pid"]
        lb1.kill()
        killed = time.monotonic()
        wait_until(lambda: fleet.next_hops() == {"lb2"}, CONVERGE, "lb1 leaves the FIB")
        converged = time.monotonic() - killed
        prober.wait_answers(20, 5.0)
    # BIRD died with fastlb (no orphan announcing a dead node): SIGTERM from the kernel
    # (PR_SET_PDEATHSIG), a Cease, and the router withdrew at once, well before the 3 s hold
    # time and the 60 s restart time.
    wait_until(lambda: not _alive(speaker), 5.0, "the speaker process is gone")
    print(
        f"kill -9 -> route gone: {converged:.2f}s, outage for new connections "
        f"{prober.outage():.2f}s, {len(prober.failures)} failed"
    )
    # The node comes back and rejoins.
    lb1.start().wait_established()
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, CONVERGE, "lb1 rejoins")
    assert fleet.spread(40)["failed"] == 0


def test_node_drain_keeps_established_connections(fleet: Fleet) -> None:
    lb1, _lb2 = start(fleet, drain_timeout="20s")
    kept = KeptConnections(fleet.lab, 16)
    try:
        before = kept.ask()
        assert None not in before and "lb1" in before and "lb2" in before, before
        drain = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                fleet.lab.namespace("lb1"),
                *fastlb_command(),
                "ctl",
                "node",
                "drain",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert drain.returncode == 0, drain.stderr
        assert "draining" in drain.stdout
        wait_until(lambda: fleet.next_hops() == {"lb2"}, CONVERGE, "lb1 leaves the FIB")
        assert lb1.bgp()["state"] == "draining"
        # New flows go to lb2 only; established ones stay where they were, and work.
        assert fleet.spread(20) == {"lb2": 20}
        assert kept.ask() == before
        assert lb1.proc is not None and lb1.proc.poll() is None  # still waiting for them
    finally:
        kept.close()
    # Its last connections closed: the node stops by itself, cleanly.
    assert lb1.proc is not None
    assert lb1.proc.wait(15) == 0
    assert "node drained, stopping" in lb1.log()


def test_exabgp_speaker_announces_and_withdraws(fleet: Fleet) -> None:
    lb1, _lb2 = start(fleet, speaker="exabgp")
    assert lb1.bgp()["speaker"] == "exabgp"
    assert fleet.spread(30)["failed"] == 0
    fleet.stop_backend("lb1")
    wait_until(lambda: fleet.next_hops() == {"lb2"}, CONVERGE, "lb1 (exabgp) withdraws")
    fleet.start_backend("lb1")
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, CONVERGE, "lb1 (exabgp) rejoins")


def dashboard(fleet: Fleet, host: str) -> DashboardDom:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: `make install` installs it"
    wrapper = fleet.workdir / f"chromium-in-{host}"
    wrapper.write_text(
        f'#!/bin/sh\nexec ip netns exec {fleet.lab.namespace(host)} {CHROMIUM} "$@"\n'
    )
    wrapper.chmod(0o755)
    done = run_chromium(wrapper, fleet.workdir / "profile", API + "/", "--dump-dom")
    return DashboardDom.parse(done.stdout)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False
