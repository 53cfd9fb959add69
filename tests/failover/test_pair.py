"""Two `fastlb serve` nodes sharing a virtual IP over VRRPv3, in network namespaces: who
holds it, what happens when the master dies, stops, returns, is cut off or cannot serve.
Adverts every 100 ms; the client asks every 20 ms and the outage it saw is printed."""

from __future__ import annotations

import os

from test_dashboard import CHROMIUM, DashboardDom, run_chromium

from fastlb.harness.netns_fastlb import API
from fastlb.harness.vrrp_pair import ADDRESSES, VIP, Cluster, FastlbNode
from fastlb.harness.waiting import wait_for as wait_until

# A takeover that has not happened after this long is a failure, whatever the machine's load
# (Master_Down_Interval is ~0.36 s at 100 ms adverts); the outage itself is the bench's.
TAKEOVER_TIMEOUT = 10.0


def start_pair(cluster: Cluster, **failover: object) -> tuple[FastlbNode, FastlbNode]:
    lb1 = cluster.fastlb("lb1", 150, **failover).start()
    lb2 = cluster.fastlb("lb2", 100, **failover).start()
    lb1.wait_ready()
    lb2.wait_ready()
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "lb1 takes the VIP")
    return lb1, lb2


def test_higher_priority_holds_the_vip_and_the_other_stays_passive(cluster: Cluster) -> None:
    lb1 = cluster.fastlb("lb1", 150).start()
    lb2 = cluster.fastlb("lb2", 100).start()
    lb1.wait_ready()
    lb2.wait_ready()
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "lb1 takes the VIP")
    sent_by_backup = lb2.failover()["adverts_sent"]
    # 20 advertisement intervals: never both, never neither.
    cluster.assert_single_holder("lb1", 2.0)
    master, backup = lb1.failover(), lb2.failover()
    assert (master["state"], backup["state"]) == ("master", "backup")
    assert master["holds_virtual_ips"] and not backup["holds_virtual_ips"]
    assert backup["master"] == ADDRESSES["lb1"]
    assert master["adverts_sent"] > 10 and backup["adverts_received"] > 10
    # (lb2 may have been master for a moment if it started first.) A backup is silent.
    assert backup["adverts_sent"] == sent_by_backup
    assert (master["history"][0]["from"], master["history"][0]["to"]) == ("backup", "master")
    # The client reaches the backend through the virtual IP.
    with cluster.prober() as prober:
        prober.wait_answers(5, 5.0)
    assert prober.failures == []
    # State and transitions in Prometheus terms.
    status, metrics = lb1.api("GET", "/metrics")
    assert status == 200
    assert 'fastlb_vrrp_state{interface="eth0",state="master",vrid="51"} 1.0' in metrics
    assert 'fastlb_vrrp_state{interface="eth0",state="backup",vrid="51"} 0.0' in metrics
    assert 'fastlb_vrrp_priority{interface="eth0",vrid="51"} 150.0' in metrics
    # And on the dashboard (Debian's chromium, run inside lb1's namespace).
    dom = dashboard(cluster, "lb1")
    assert dom.ids["failover-title"] == "Failover (VRRP)"
    section = dom.ids["failover"]
    assert "MASTER 10.77.0.50/24 (held here) vrid 51 on eth0" in section, section
    assert "Priority150 Master10.77.0.11" in section and "backup → master" in section


def dashboard(cluster: Cluster, host: str) -> DashboardDom:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: `make install` installs it"
    wrapper = cluster.workdir / f"chromium-in-{host}"
    wrapper.write_text(
        f'#!/bin/sh\nexec ip netns exec {cluster.lab.namespace(host)} {CHROMIUM} "$@"\n'
    )
    wrapper.chmod(0o755)
    done = run_chromium(wrapper, cluster.workdir / "profile", API + "/", "--dump-dom")
    return DashboardDom.parse(done.stdout)


def test_master_killed_the_backup_takes_over_then_the_better_node_preempts(
    cluster: Cluster,
) -> None:
    lb1, lb2 = start_pair(cluster)
    with cluster.prober() as prober:
        prober.wait_answers(10, 5.0)
        # The machine dies: the process is killed and its link goes down with it.
        lb1.kill()
        cluster.lab.set_link("lb1", up=False)
        wait_until(lambda: cluster.lab.holds("lb2", VIP), TAKEOVER_TIMEOUT, "lb2 takes over")
        prober.wait_answers(10, TAKEOVER_TIMEOUT)
    print(f"kill -9 + link down: client outage {prober.outage() * 1000:.0f} ms")
    failover = lb2.failover()
    assert failover["state"] == "master"
    assert failover["history"][0]["reason"].startswith("master down")

    # The better node comes back (its stale VIP is removed at start) and preempts.
    cluster.lab.set_link("lb1", up=True)
    lb1.start()
    lb1.wait_ready()
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "lb1 preempts")
    cluster.assert_single_holder("lb1", 1.0)
    assert lb2.state() == "backup"
    with cluster.prober() as prober:
        prober.wait_answers(5, 5.0)


def test_clean_stop_hands_over_at_once(cluster: Cluster) -> None:
    lb1, lb2 = start_pair(cluster)
    with cluster.prober() as prober:
        prober.wait_answers(10, 5.0)
        assert lb1.stop() == 0
        wait_until(lambda: cluster.holders() == ["lb2"], TAKEOVER_TIMEOUT, "lb2 takes over")
        prober.wait_answers(10, TAKEOVER_TIMEOUT)
    print(f"clean stop: client outage {prober.outage() * 1000:.0f} ms")
    # Taken over because of lb1's priority-0 advertisement, not by a timeout.
    assert lb2.failover()["history"][0]["reason"] == "the master left (priority 0)"


def test_partition_then_healing_leaves_one_master(cluster: Cluster) -> None:
    # Unicast adverts here, to cover networks without multicast.
    lb1 = cluster.fastlb("lb1", 150, unicast_peers=[ADDRESSES["lb2"]]).start()
    lb2 = cluster.fastlb("lb2", 100, unicast_peers=[ADDRESSES["lb1"]]).start()
    lb1.wait_ready()
    lb2.wait_ready()
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "lb1 takes the VIP")
    cluster.assert_single_holder("lb1", 1.0)
    # Cut lb2 off: it hears nobody and becomes master on its side (both hold the VIP).
    cluster.lab.set_port("lb2", up=False)
    wait_until(
        lambda: cluster.holders() == ["lb1", "lb2"], TAKEOVER_TIMEOUT, "lb2 master when cut off"
    )
    assert lb2.state() == "master"
    # Healed: lb2 hears the better master and gives the VIP back.
    cluster.lab.set_port("lb2", up=True)
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "one master again")
    cluster.assert_single_holder("lb1", 1.0)
    assert (lb1.state(), lb2.state()) == ("master", "backup")


def test_a_master_that_cannot_serve_gives_the_vip_up(cluster: Cluster) -> None:
    # lb1's notify command appends each state it enters to a file.
    states = cluster.workdir / "lb1-states"
    lb1 = cluster.fastlb("lb1", 150, notify=f"sh -c 'echo $0 >> {states}'").start()
    lb2 = cluster.fastlb("lb2", 100).start()
    lb1.wait_ready()
    lb2.wait_ready()
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "lb1 takes the VIP")
    # Its only server in maintenance: lb1 has nothing to serve with.
    status, _ = lb1.api("PUT", "/api/backends/web/servers/app", {"state": "maint"})
    assert status == 200
    wait_until(lambda: cluster.holders() == ["lb2"], TAKEOVER_TIMEOUT, "lb2 takes over")
    failover = lb1.failover()
    assert failover["state"] == "fault"
    assert failover["effective_priority"] == 0
    assert failover["health_reason"] == "every backend server is down"
    assert lb2.failover()["history"][0]["reason"] == "the master left (priority 0)"
    # Serving again: lb1 rejoins and, being better, preempts.
    lb1.api("PUT", "/api/backends/web/servers/app", {"state": "ready"})
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "lb1 preempts")
    # Each notify runs on its own: they may finish out of order, but all five ran.
    expected = ["BACKUP", "BACKUP", "FAULT", "MASTER", "MASTER"]
    wait_until(
        lambda: states.exists() and sorted(states.read_text().split()) == expected,
        TAKEOVER_TIMEOUT,
        "notify ran for each transition",
    )
