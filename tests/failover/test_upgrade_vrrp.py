"""A zero-downtime upgrade of the VRRP master (`fastlb serve --upgrade` in its namespace):
the new process starts as master with the virtual IP still on the interface, the old one
leaves without a priority-0 advertisement and keeps the address for it, so the VIP never
moves to the backup and is never missing (checked every few ms throughout)."""

from __future__ import annotations

import time

from fastlb.harness.process import fastlb_command
from fastlb.harness.vrrp_pair import Cluster
from fastlb.harness.waiting import wait_for as wait_until

TAKEOVER_TIMEOUT = 10.0
UPGRADE_TIMEOUT = 60.0


def test_upgrading_the_master_keeps_the_vip_without_a_flap(cluster: Cluster) -> None:
    lb1 = cluster.fastlb("lb1", 150).start()
    lb2 = cluster.fastlb("lb2", 100).start()
    lb1.wait_ready()
    lb2.wait_ready()
    wait_until(lambda: cluster.holders() == ["lb1"], TAKEOVER_TIMEOUT, "lb1 takes the VIP")
    backup_took_over = lb2.failover()["became_master"]
    assert lb1.proc is not None

    argv = [*fastlb_command(), "serve", "--upgrade", "-c", str(lb1.config_path)]
    new = cluster.lab.spawn("lb1", argv, lb1.log_path.with_name("lb1-upgraded.log"))
    holders_seen: set[tuple[str, ...]] = set()
    deadline = time.monotonic() + UPGRADE_TIMEOUT
    while lb1.proc.poll() is None and time.monotonic() < deadline:
        holders_seen.add(tuple(cluster.holders()))
        time.sleep(0.005)
    assert lb1.proc.poll() == 0, "the old process drains and exits 0"
    assert new.poll() is None
    # Then 20 advertisement intervals of the new process alone.
    cluster.assert_single_holder("lb1", 2.0)
    assert holders_seen == {("lb1",)}
    assert lb2.failover()["became_master"] == backup_took_over
    assert lb2.failover()["state"] == "backup"
    upgraded = lb1.failover()  # the API socket was handed over too: the new process answers
    assert upgraded["state"] == "master" and upgraded["holds_virtual_ips"]
