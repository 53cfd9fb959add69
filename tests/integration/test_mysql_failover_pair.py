"""Two fastlb nodes (a VRRP pair) watching the same primary and two replicas: only the node
that may act (the VRRP MASTER) promotes; the BACKUP only follows the topology. Both
controllers run in-process against the real servers, each with its own monitor and core."""

from __future__ import annotations

import asyncio
import time

import pytest

from fastlb import _core
from fastlb.config import Config
from fastlb.mysql.failover import FailoverController, SwitchoverError
from fastlb.mysql.failover.admin import Admin
from fastlb.mysql.monitor import TopologyMonitor
from fastlb.mysql.topology_sync import _specs

from . import mariadb as mariadb_helpers
from . import replication_trio
from .replication_trio import ReplicationTrio, fastlb_config

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
make_trio_fixture = replication_trio.make_trio_fixture
trio_fixture = replication_trio.trio_fixture

pytestmark = pytest.mark.timeout(120)

ROUNDS = 40


def node(trio: ReplicationTrio, master: list[bool]) -> FailoverController:
    """One node's monitor and failover controller; it may act while `master[0]`."""
    config = Config.model_validate(fastlb_config(trio, "auto"))
    backend = config.backends[0]
    mysql = backend.mysql
    assert mysql is not None and mysql.monitor is not None and mysql.failover is not None
    monitor = TopologyMonitor(
        _specs(backend),
        user=mysql.monitor.user,
        password=mysql.monitor.password,
        interval=0.2,
        timeout=1.0,
        failcount=1,
    )
    engine = _core.Engine(config.to_core_json())
    return FailoverController(
        "db",
        mysql.failover,
        monitor,
        engine,
        Admin(mysql.monitor.user, mysql.monitor.password, 1.0),
        lambda: master[0],
    )


async def round_(controller: FailoverController) -> None:
    decision = await controller.monitor.check()
    await controller.on_round(decision)


def test_only_the_master_node_promotes_and_the_backup_follows(trio: ReplicationTrio) -> None:
    async def main() -> None:
        master = node(trio, [True])
        backup = node(trio, [False])
        with pytest.raises(SwitchoverError, match="not the VRRP MASTER"):
            await backup.switchover("db2")
        trio.kill9("db1")
        for _ in range(ROUNDS):
            await asyncio.gather(round_(master), round_(backup))
            if backup.monitor.decision and backup.monitor.decision.primary:
                break
            time.sleep(0.1)
        assert [e.kind for e in master.events.events()][:2] == ["failover_started", "promoted"]
        assert backup.events.events() == []
        # The backup follows the primary the master promoted.
        assert backup.monitor.decision is not None
        assert backup.monitor.decision.primary == "db2"
        await master.monitor.stop()
        await backup.monitor.stop()

    asyncio.run(main())
    assert not trio.read_only("db2") and trio.read_only("db3")


def test_a_partitioned_pair_both_master_promotes_one_server(trio: ReplicationTrio) -> None:
    # Partitioned from each other, both VRRP nodes become MASTER. Each sees the dead primary
    # and fails over; the choice is deterministic (most advanced GTID, then
    # promotion_order), so both promote the same replica and never two different ones.
    async def main() -> list[FailoverController]:
        nodes = [node(trio, [True]), node(trio, [True])]
        await asyncio.gather(*(round_(n) for n in nodes))
        trio.kill9("db1")
        for _ in range(ROUNDS):
            await asyncio.gather(*(round_(n) for n in nodes))
            if all(n.monitor.decision and n.monitor.decision.primary for n in nodes):
                break
            time.sleep(0.1)
        for n in nodes:
            await n.monitor.stop()
        return nodes

    nodes = asyncio.run(main())
    assert [n.monitor.decision.primary for n in nodes if n.monitor.decision] == ["db2", "db2"]
    assert not trio.read_only("db2") and trio.read_only("db3")
    trio.wait_replicating_from("db3", "db2")
