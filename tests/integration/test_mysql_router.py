"""`fastlb.mysql.Router` against a real MariaDB primary + replica (replication.py): where each
kind of statement lands (@@server_id), transactions, sessions, causal reads after a write, a
lagging replica (MASTER_DELAY), a stopped replica, a stopped primary (reads continue, writes
raise NoPrimaryError), weighted replicas, rules, and `Router.from_config`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fastlb.errors import NoPrimaryError, NotRunningError
from fastlb.mysql import Router, ServerSpec

from . import mariadb as mariadb_helpers
from . import replication as replication_helpers
from .replication import ReplicationPair

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
replication_pair_fixture = replication_helpers.replication_pair_fixture
replication_fixture = replication_helpers.replication_fixture

PRIMARY_ID, REPLICA_ID = 1, 2


def router_for(pair: ReplicationPair, *replicas: ServerSpec, **options: Any) -> Router:
    settings: dict[str, Any] = {
        "user": pair.app_user,
        "password": pair.app_password,
        "db": pair.database,
        "monitor_user": pair.monitor_user,
        "monitor_password": pair.monitor_password,
        "monitor_interval": 0.2,
        "connect_timeout": 1.0,
    }
    settings.update(options)
    replica_specs = replicas or (ServerSpec("db-replica", pair.replica.host, pair.replica.port),)
    primary = ServerSpec("db-primary", pair.primary.host, pair.primary.port, role="primary")
    return Router(primary, replica_specs, **settings)


@pytest.fixture
def items(replication: ReplicationPair) -> ReplicationPair:
    """The pair with an empty `fastlb.items` table, replicated."""
    replication.primary.sql(
        "CREATE TABLE fastlb.items (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))"
    )
    replication.wait_replicated()
    return replication


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout}s"
        await asyncio.sleep(0.1)


def test_statements_land_where_they_belong(items: ReplicationPair) -> None:
    async def main() -> None:
        rules = [(r"/\* on primary \*/", "primary"), (r"FROM fastlb\.reports", "replica")]
        async with router_for(items, rules=rules) as router:
            assert await router.fetchone("SELECT @@server_id") == (REPLICA_ID,)
            result = await router.execute("INSERT INTO items (v) VALUES (%s)", ("a",))
            assert (result.rowcount, result.lastrowid) == (1, 1)
            assert await router.fetchall("SELECT v, @@server_id FROM items") == [("a", REPLICA_ID)]
            # Locking reads and session-bound functions go to the primary.
            locked = "SELECT @@server_id FROM items WHERE id = 1 FOR UPDATE"
            assert await router.fetchone(locked) == (PRIMARY_ID,)
            assert await router.fetchone("SELECT @@server_id, IS_FREE_LOCK('x')") == (
                PRIMARY_ID,
                1,
            )
            row = await router.fetchone("SELECT @@server_id, LAST_INSERT_ID()")
            assert row is not None and row[0] == PRIMARY_ID
            # User rules come first.
            assert await router.fetchone("/* on primary */ SELECT @@server_id") == (PRIMARY_ID,)
            stats = router.stats()
        assert stats["rules_matched"] == 1
        assert stats["queries"] == {"primary": 5, "replica": 2}
        assert stats["servers"] == {"db-primary": 5, "db-replica": 2}
        assert stats["topology"]["primary"] == "db-primary"

    asyncio.run(main())


def test_transactions_commit_roll_back_and_stay_on_one_server(items: ReplicationPair) -> None:
    async def main() -> None:
        async with router_for(items) as router:
            async with router.transaction() as tx:
                assert tx.server == "db-primary"
                await tx.execute("INSERT INTO items (v) VALUES ('kept')")
                assert await tx.fetchone("SELECT COUNT(*), @@server_id FROM items") == (
                    1,
                    PRIMARY_ID,
                )
                with pytest.raises(ValueError, match="commits on success"):
                    await tx.execute("COMMIT")
            with pytest.raises(RuntimeError, match="boom"):
                async with router.transaction() as tx:
                    await tx.execute("INSERT INTO items (v) VALUES ('rolled back')")
                    raise RuntimeError("boom")
            assert await router.fetchall("SELECT v FROM items") == [("kept",)]
            async with router.transaction(read_only=True) as tx:
                assert tx.server == "db-replica"
                assert await tx.fetchone("SELECT @@server_id, COUNT(*) FROM items") == (
                    REPLICA_ID,
                    1,
                )
            assert router.stats()["transactions"] == 3

    asyncio.run(main())


def test_connection_state_needs_a_session(items: ReplicationPair) -> None:
    async def main() -> None:
        async with router_for(items) as router:
            with pytest.raises(ValueError, match=r"router\.transaction\(\)"):
                await router.execute("BEGIN")
            with pytest.raises(ValueError, match=r"router\.session\(\)"):
                await router.execute("SET NAMES latin1")
            for stateful in ("SET @x = 1", "CREATE TEMPORARY TABLE t (a INT)"):
                with pytest.raises(ValueError, match=r"router\.session\(\)"):
                    await router.execute(stateful)
            async with router.session() as session:
                await session.execute("SET @x = 42")
                await session.execute("CREATE TEMPORARY TABLE tmp (a INT)")
                await session.execute("INSERT INTO tmp VALUES (7)")
                assert await session.fetchone("SELECT @x, a, @@server_id FROM tmp") == (
                    42,
                    7,
                    PRIMARY_ID,
                )
            # The session's connection did not go back to the pool with @x set.
            assert await router.fetchone("SELECT @x, @@server_id") == (None, PRIMARY_ID)

    asyncio.run(main())


def test_causal_reads_see_the_sessions_own_writes(items: ReplicationPair) -> None:
    items.set_delay(2)  # every change reaches the replica 2 s late

    async def count(router: Router) -> tuple[Any, ...] | None:
        return await router.fetchone("SELECT COUNT(*), @@server_id FROM items")

    async def main() -> None:
        async with router_for(items, causal_reads="off") as router:
            await router.execute("INSERT INTO items (v) VALUES ('1')")
            # Without causal reads the replica answers at once, stale.
            assert await count(router) == (0, REPLICA_ID)
        async with router_for(items, causal_wait_timeout=0.3) as router:
            await router.execute("INSERT INTO items (v) VALUES ('2')")
            # The replica can't catch up within 0.3 s: the primary answers.
            assert await count(router) == (2, PRIMARY_ID)
            assert router.stats()["fallbacks"]["causal_timeout"] == 1
        async with router_for(items, causal_wait_timeout=5) as router:
            await router.execute("INSERT INTO items (v) VALUES ('3')")
            started = time.monotonic()
            assert await count(router) == (3, REPLICA_ID)  # it waited for the write
            assert time.monotonic() - started > 0.5
            assert router.stats()["causal_waits"] == 1
            # Another task that wrote nothing does not wait.
            assert (await asyncio.create_task(asyncio.wait_for(count(router), 0.5)))[1] == (
                REPLICA_ID
            )

    asyncio.run(main())


def test_a_lagging_replica_leaves_reads_to_the_primary(items: ReplicationPair) -> None:
    items.set_delay(4)

    async def main() -> None:
        async with router_for(items, max_replication_lag=1, causal_reads="off") as router:
            items.primary.sql("INSERT INTO fastlb.items (v) VALUES ('late')")

            async def lagging() -> bool:
                return router.topology is not None and router.topology.read_pool == ()

            await eventually(lagging)
            assert await router.fetchone("SELECT COUNT(*), @@server_id FROM items") == (
                1,
                PRIMARY_ID,
            )
            assert router.stats()["fallbacks"]["no_replica"] == 1

    asyncio.run(main())


def test_a_stopped_replica_leaves_reads_to_the_primary(items: ReplicationPair) -> None:
    async def main() -> None:
        async with router_for(items, monitor_interval=30) as router:
            assert await router.fetchone("SELECT @@server_id") == (REPLICA_ID,)
            items.stop_replica()
            # The monitor has not noticed yet (30 s): the failed read is retried on the primary.
            assert await router.fetchone("SELECT @@server_id") == (PRIMARY_ID,)
            assert await router.fetchone("SELECT @@server_id") == (PRIMARY_ID,)
            assert router.stats()["fallbacks"]["replica_error"] == 1
            items.start_replica()
            await router._monitor.check()  # type: ignore[union-attr]
            assert await router.fetchone("SELECT @@server_id") == (REPLICA_ID,)

    asyncio.run(main())


def test_a_stopped_primary_reads_continue_writes_raise(items: ReplicationPair) -> None:
    async def main() -> None:
        async with router_for(items) as router:
            await router.execute("INSERT INTO items (v) VALUES ('before')")
            items.stop_primary()
            # A running service's loop sees the pooled connections close (stop_primary()
            # blocked it here); a write on a connection that dies mid-statement gets a
            # NoPrimaryError that says it may or may not have been applied.
            await asyncio.sleep(0.1)
            # Before and after the monitor notices, writes get the clear error.
            with pytest.raises(NoPrimaryError, match="no MySQL primary is available"):
                await router.execute("INSERT INTO items (v) VALUES ('lost')")

            async def no_primary() -> bool:
                return router.topology is not None and router.topology.primary is None

            await eventually(no_primary)
            with pytest.raises(ConnectionError, match="reads still go to replicas"):
                await router.execute("INSERT INTO items (v) VALUES ('lost')")
            with pytest.raises(NoPrimaryError):
                async with router.transaction():
                    pass
            assert await router.fetchall("SELECT v, @@server_id FROM items") == [
                ("before", REPLICA_ID)
            ]
            items.start_primary()

            async def primary_back() -> bool:
                return router.topology is not None and router.topology.primary == "db-primary"

            await eventually(primary_back)
            await router.execute("INSERT INTO items (v) VALUES ('after')")
            assert router.stats()["no_primary_errors"] >= 3

    asyncio.run(main())


def test_fail_instantly_refuses_reads_too(items: ReplicationPair) -> None:
    async def main() -> None:
        # One failed probe decides (no hysteresis): the test is about the policy.
        options = {"primary_failure": "fail_instantly", "monitor_failcount": 1}
        async with router_for(items, **options) as router:
            assert await router.fetchone("SELECT @@server_id") == (REPLICA_ID,)
            items.stop_primary()
            await router._monitor.check()  # type: ignore[union-attr]
            with pytest.raises(NoPrimaryError, match="fail_instantly"):
                await router.fetchone("SELECT @@server_id")

    asyncio.run(main())


def test_replicas_share_reads_by_weight(items: ReplicationPair) -> None:
    host, port = items.replica.host, items.replica.port
    heavy = ServerSpec("replica-heavy", host, port, weight=3)
    light = ServerSpec("replica-light", host, port, weight=1)

    async def main() -> None:
        async with router_for(items, heavy, light) as router:
            for _ in range(40):
                assert await router.fetchone("SELECT @@server_id") == (REPLICA_ID,)
            assert router.stats()["servers"] == {"replica-heavy": 30, "replica-light": 10}

    asyncio.run(main())


def test_from_config_reads_the_proxys_mysql_section(items: ReplicationPair) -> None:
    backend = {
        "name": "db",
        "servers": [
            {"name": "db-primary", "address": items.primary.address, "role": "primary"},
            {"name": "db-replica", "address": items.replica.address, "role": "replica"},
        ],
        "mysql": {
            "users": [
                {"user": "nobody", "password": "x"},
                {"user": items.app_user, "password": items.app_password},
            ],
            "monitor": {
                "user": items.monitor_user,
                "password": items.monitor_password,
                "interval": "200ms",
            },
            "max_replication_lag": "5s",
            "causal_reads": "session",
            "primary_failure": "error_on_write",
            "rules": [{"match": "^SELECT .* FROM reports", "route": "primary"}],
        },
    }

    async def main() -> None:
        router = Router.from_config(backend, user=items.app_user, db=items.database)
        assert router.monitor_interval == 0.2
        async with router:
            assert await router.fetchone("SELECT @@server_id") == (REPLICA_ID,)
            await router.execute("CREATE TABLE reports (id INT)")
            assert await router.fetchone("SELECT @@server_id FROM reports") is None
            assert router.stats()["rules_matched"] == 1

    asyncio.run(main())


def test_a_router_must_be_started(items: ReplicationPair) -> None:
    with pytest.raises(NotRunningError, match="not started"):
        asyncio.run(router_for(items).fetchone("SELECT 1"))
