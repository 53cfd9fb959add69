"""`fastlb.mysql.Router` (in-process) follows the topology changes fastlb's failover makes: a
switchover through `fastlb serve`'s API, then a kill -9 of the new primary and an automatic
failover. The Router is built from the same backend section and runs its own monitor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastlb.errors import NoPrimaryError
from fastlb.mysql import Router

from . import mariadb as mariadb_helpers
from . import replication_trio
from .mysql_proxy import running_proxy
from .proc import FastlbProcess
from .replication_trio import ReplicationTrio, fastlb_config

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
make_trio_fixture = replication_trio.make_trio_fixture
trio_fixture = replication_trio.trio_fixture

pytestmark = pytest.mark.timeout(180)

SERVER_IDS = {"db1": 1, "db2": 2, "db3": 3}
# Bounds for polls on a loaded 2-core machine (never assertions on speed).
SETTLE = 30.0


@pytest.fixture
def proxy(trio: ReplicationTrio, tmp_path: Path) -> Iterator[FastlbProcess]:
    trio["db1"].sql("CREATE TABLE fastlb.items (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    trio.wait_replicated("db1")
    with running_proxy(fastlb_config(trio, "auto"), tmp_path) as process:
        yield process


async def written_on(router: Router) -> int:
    """Writes one row through the Router and says which server took it. The row is read
    back in the same transaction, on the primary: a plain read goes to a replica, which may
    not have it yet (no causal reads here) — the cause of an earlier flaky failure."""
    async with router.transaction() as session:
        await session.execute("INSERT INTO items (v) VALUES (@@server_id)")
        rows = await session.fetchall("SELECT v FROM items ORDER BY id DESC LIMIT 1")
    assert len(rows) == 1, rows
    value: int = rows[0][0]
    return value


async def writes_land_on(router: Router, server: str) -> None:
    """Waits (bounded) until the Router's writes go to `server`; a write refused while the
    Router has no primary, or sent to the old one that is read-only now, is retried."""
    deadline = time.monotonic() + SETTLE
    last: object = None
    while time.monotonic() < deadline:
        try:
            async with router.transaction() as session:
                await session.execute("INSERT INTO items (v) VALUES (@@server_id)")
                rows = await session.fetchall("SELECT @@server_id")
            if rows == [(SERVER_IDS[server],)]:
                return
            last = rows
        except NoPrimaryError as error:
            last = error
        except Exception as error:  # the old primary, read-only now or gone: the next try
            last = error
        await asyncio.sleep(0.2)
    raise AssertionError(f"writes never reached {server}: last {last!r}")


def promoted_by_fastlb(proxy: FastlbProcess, old: str) -> str:
    """Waits (bounded) for `fastlb serve` to promote a server in place of `old`."""
    deadline = time.monotonic() + SETTLE
    primary = None
    while time.monotonic() < deadline:
        status, reply = proxy.api("GET", "/api/stats")
        assert status == 200, reply
        primary = reply["mysql_topology"]["db"].get("primary")
        if primary not in (None, old):
            return str(primary)
        time.sleep(0.1)
    raise AssertionError(f"fastlb promoted nothing in place of {old}: primary {primary!r}")


def primary_of(router: Router) -> str | None:
    topology = router.stats()["topology"]
    return None if topology is None else topology.get("primary")


def test_the_router_follows_a_switchover_and_a_failover(
    trio: ReplicationTrio, proxy: FastlbProcess
) -> None:
    backend = proxy.config["backends"][0]

    async def main() -> None:
        router = Router.from_config(backend, user=trio.app_user, db=trio.database)
        async with router:
            assert await written_on(router) == SERVER_IDS["db1"]

            status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
            assert status == 200, reply
            await writes_land_on(router, "db2")
            assert primary_of(router) == "db2"

            # The new primary dies: fastlb fails over to one of the two replicas left (db1,
            # demoted by the switchover, or db3: the most advanced, ties in configuration
            # order); the Router follows whichever fastlb promoted. Replication is async here:
            # the kill waits until both replicas have db2's write, or it would be lost.
            await asyncio.to_thread(trio.wait_replicated, "db2")
            trio.kill9("db2")
            promoted = await asyncio.to_thread(promoted_by_fastlb, proxy, "db2")
            assert promoted in ("db1", "db3")
            await writes_land_on(router, promoted)
            assert primary_of(router) == promoted
            # Every write the Router made is on the new primary (from each primary it had),
            # and reads still work (a replica, which may lag: no causal reads configured).
            async with router.transaction() as session:
                counts = await session.fetchall("SELECT v, COUNT(*) FROM items GROUP BY v")
            written = {SERVER_IDS[name] for name in ("db1", "db2", promoted)}
            assert {server for server, _ in counts} == written
            assert await router.fetchone("SELECT 1") == (1,)

    asyncio.run(main())
