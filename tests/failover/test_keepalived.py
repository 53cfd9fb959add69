"""fastlb's VRRPv3 against Debian's stock keepalived (`vrrp_version 3`, adverts every
100 ms) on the same segment: each side must read the other's advertisements (checksums,
intervals, priorities) for the virtual IP to move correctly both ways."""

from __future__ import annotations

from fastlb.harness.vrrp_pair import ADDRESSES, VIP, Cluster
from fastlb.harness.waiting import wait_for as wait_until

TAKEOVER_TIMEOUT = 10.0


def test_fastlb_master_keepalived_backup_both_ways(cluster: Cluster) -> None:
    lb1 = cluster.fastlb("lb1", 150).start()
    keepalived = cluster.keepalived("lb2", 100).start()
    lb1.wait_ready()
    keepalived.wait_ready()

    # fastlb is master; keepalived, hearing it, stays backup.
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "fastlb takes the VIP")
    cluster.assert_single_holder("lb1", 2.0)
    assert lb1.state() == "master"
    assert "Entering MASTER STATE" not in keepalived.log().split("BACKUP STATE")[-1]
    with cluster.prober() as prober:
        prober.wait_answers(10, 5.0)

        # fastlb's machine dies: keepalived takes over.
        lb1.kill()
        cluster.lab.set_link("lb1", up=False)
        wait_until(lambda: cluster.lab.holds("lb2", VIP), TAKEOVER_TIMEOUT, "keepalived takes over")
        prober.wait_answers(10, TAKEOVER_TIMEOUT)
    print(f"fastlb killed, keepalived takes over: client outage {prober.outage() * 1000:.0f} ms")
    assert "Entering MASTER STATE" in keepalived.log()

    # fastlb returns with the better priority and preempts keepalived, which reads its
    # advertisements (checksum with the IPv4 pseudo-header) and steps back.
    backup_entries = keepalived.log().count("Entering BACKUP STATE")
    cluster.lab.set_link("lb1", up=True)
    lb1.start()
    lb1.wait_ready()
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "fastlb preempts")
    cluster.assert_single_holder("lb1", 1.0)
    failover = lb1.failover()
    assert failover["state"] == "master"
    wait_until(
        lambda: keepalived.log().count("Entering BACKUP STATE") > backup_entries,
        TAKEOVER_TIMEOUT,
        "keepalived back to BACKUP",
    )
    assert "with higher priority 150, ours 100" in keepalived.log()


def test_keepalived_master_fastlb_backup_and_clean_handover(cluster: Cluster) -> None:
    keepalived = cluster.keepalived("lb1", 150).start()
    lb2 = cluster.fastlb("lb2", 100).start()
    keepalived.wait_ready()
    lb2.wait_ready()
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "keepalived takes the VIP")
    cluster.assert_single_holder("lb1", 1.5)
    failover = lb2.failover()
    assert failover["state"] == "backup"
    assert failover["master"] == ADDRESSES["lb1"]
    assert failover["invalid_adverts"] == 0
    # keepalived's clean stop says priority 0: fastlb takes over without waiting.
    keepalived.stop()
    wait_until(lambda: cluster.lab.holds("lb2", VIP), TAKEOVER_TIMEOUT, "fastlb takes over")
    assert lb2.failover()["history"][0]["reason"] == "the master left (priority 0)"
