"""The MySQL topology monitor against a real MariaDB primary + replica (replication.py):
the healthy topology, lag injected with MASTER_DELAY, a stopped replica, a stopped primary, a
promoted replica, a hung (SIGSTOPped) server, and a monitor user without privileges."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

from fastlb.mysql.monitor import TopologyMonitor
from fastlb.mysql.topology import ServerSpec, TopologyDecision

from . import mariadb as mariadb_helpers
from . import replication as replication_helpers
from .proc import pause_process
from .replication import ReplicationPair

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
replication_pair_fixture = replication_helpers.replication_pair_fixture
replication_fixture = replication_helpers.replication_fixture


def specs(pair: ReplicationPair) -> list[ServerSpec]:
    return [
        ServerSpec("db-primary", pair.primary.host, pair.primary.port, role="primary"),
        ServerSpec("db-replica", pair.replica.host, pair.replica.port, role="replica"),
    ]


def monitor_for(pair: ReplicationPair, **kwargs: object) -> TopologyMonitor:
    options: dict[str, object] = {
        "user": pair.monitor_user,
        "password": pair.monitor_password,
        "interval": 0.2,
        "timeout": 1.0,
        "max_replication_lag": 1.0,
        # Each round's verdict, unsmoothed: these tests are about the policy per round
        # (hysteresis: test_mysql_monitor_hysteresis.py, tests/test_mysql_hysteresis.py).
        "failcount": 1,
    }
    options.update(kwargs)
    return TopologyMonitor(specs(pair), **options)  # type: ignore[arg-type]


async def until(
    monitor: TopologyMonitor,
    predicate: Callable[[TopologyDecision], bool],
    timeout: float = 10.0,
) -> TopologyDecision:
    """Checks every 0.1 s until `predicate` holds for the decision (bounded)."""
    deadline = time.monotonic() + timeout
    decision = await monitor.check()
    while not predicate(decision):
        assert time.monotonic() < deadline, f"not within {timeout}s: {decision}"
        await asyncio.sleep(0.1)
        decision = await monitor.check()
    return decision


def test_a_healthy_pair_and_the_callback(replication: ReplicationPair) -> None:
    decisions: list[TopologyDecision] = []

    async def main() -> None:
        monitor = monitor_for(replication, on_decision=decisions.append)
        async with monitor:
            assert monitor.decision is not None  # the first round ran before the body
            await asyncio.sleep(0.7)  # the background rounds call back too
        count = len(decisions)
        await asyncio.sleep(0.5)
        assert len(decisions) == count, "stop() ends the rounds"

    asyncio.run(main())
    assert len(decisions) >= 3
    decision = decisions[-1]
    assert decision.primary == "db-primary"
    assert decision.read_pool == ("db-replica",)
    assert decision.server("db-replica").lag_seconds == 0.0
    assert decision.conflict is None and not decision.failed_over


def test_observations_read_the_real_servers(replication: ReplicationPair) -> None:
    replication.primary.sql("CREATE TABLE fastlb.t (id INT); INSERT INTO fastlb.t VALUES (1)")
    position = replication.wait_replicated()

    async def main() -> None:
        monitor = monitor_for(replication)
        await monitor.check()
        await monitor.stop()
        primary, replica = monitor.observations["db-primary"], monitor.observations["db-replica"]
        assert (primary.server_id, primary.read_only, primary.flavor) == (1, False, "mariadb")
        assert primary.gtid_position == position
        assert primary.replication_configured is False
        assert (replica.server_id, replica.read_only) == (2, True)
        assert replica.gtid_slave_pos == position
        assert replica.io_running and replica.sql_running and replica.seconds_behind == 0.0

    asyncio.run(main())


def test_lag_injected_with_master_delay(replication: ReplicationPair) -> None:
    replication.primary.sql("CREATE TABLE fastlb.lag (id INT)")
    replication.wait_replicated()
    replication.set_delay(4)

    async def main() -> None:
        monitor = monitor_for(replication, max_replication_lag=1.0)
        replication.primary.sql("INSERT INTO fastlb.lag VALUES (1)")
        lagging = await until(monitor, lambda d: d.read_pool == ())
        replica = lagging.server("db-replica")
        assert replica.reason.startswith("lag ") and "max_replication_lag 1s" in replica.reason
        assert replica.lag_seconds is not None and replica.lag_seconds > 1.0
        assert lagging.primary == "db-primary"
        # Once the delayed event is applied, the replica is caught up and serves again.
        back = await until(monitor, lambda d: d.read_pool == ("db-replica",), timeout=15)
        assert back.server("db-replica").lag_seconds == 0.0
        await monitor.stop()

    asyncio.run(main())


def test_a_stopped_replica_leaves_and_rejoins(replication: ReplicationPair) -> None:
    async def main() -> None:
        monitor = monitor_for(replication)
        assert (await monitor.check()).read_pool == ("db-replica",)
        replication.stop_replica()
        decision = await monitor.check()
        assert decision.read_pool == () and decision.primary == "db-primary"
        assert decision.server("db-replica").reason.startswith("unreachable: ")
        replication.start_replica()
        await until(monitor, lambda d: d.read_pool == ("db-replica",))
        await monitor.stop()

    asyncio.run(main())


def test_a_stopped_primary_leaves_reads_on_the_replica(replication: ReplicationPair) -> None:
    async def main() -> None:
        monitor = monitor_for(replication)
        await monitor.check()
        replication.stop_primary()
        decision = await monitor.check()
        assert decision.primary is None
        assert decision.read_pool == ("db-replica",)
        assert not decision.server("db-primary").reachable
        replication.start_primary()
        await until(monitor, lambda d: d.primary == "db-primary" and d.read_pool != ())
        await monitor.stop()

    asyncio.run(main())


def test_a_promoted_replica_becomes_the_primary(replication: ReplicationPair) -> None:
    async def main() -> None:
        monitor = monitor_for(replication)
        await monitor.check()
        replication.stop_primary()
        replication.promote_replica()
        decision = await monitor.check()
        assert decision.primary == "db-replica" and decision.failed_over
        assert decision.server("db-replica").role == "primary"
        # The old primary returns read-only: a replica, not replicating, so no reads yet.
        replication.primary.options.append("--read-only=1")
        try:
            replication.start_primary()
        finally:
            replication.primary.options.pop()
        back = await monitor.check()
        assert back.primary == "db-replica" and back.conflict is None
        old = back.server("db-primary")
        assert (old.role, old.in_read_pool) == ("replica", False)
        assert "not replicating" in old.reason
        await monitor.stop()

    asyncio.run(main())


def test_a_hung_server_does_not_hold_up_the_others(replication: ReplicationPair) -> None:
    async def main() -> None:
        monitor = monitor_for(replication, timeout=0.5)
        await monitor.check()
        pause_process(replication.replica.pid)
        try:
            started = time.monotonic()
            decision = await monitor.check()
            elapsed = time.monotonic() - started
        finally:
            os.kill(replication.replica.pid, signal.SIGCONT)
        assert decision.server("db-replica").reason == "unreachable: no answer within 0.5s"
        assert decision.primary == "db-primary" and decision.server("db-primary").reachable
        assert elapsed < 3.0, f"a round took {elapsed:.1f}s"
        await until(monitor, lambda d: d.read_pool == ("db-replica",))
        await monitor.stop()

    asyncio.run(main())


def test_a_monitor_user_without_privileges_is_named(replication: ReplicationPair) -> None:
    async def main() -> None:
        monitor = monitor_for(
            replication, user=replication.app_user, password=replication.app_password
        )
        decision = await monitor.check()
        await monitor.stop()
        assert decision.primary == "db-primary"
        reason = decision.server("db-replica").reason
        assert reason.startswith("cannot read replication status: SHOW SLAVE STATUS: ")
        assert "denied" in reason

    asyncio.run(main())
