"""MySQL failover with the connection pool and multiplexing on (`mysql.pool`), against a
real GTID trio (replication_trio.py) with semi-sync: the primary is killed (SIGKILL) under a
write load whose sessions share a few pooled server connections. Once a replica is
promoted, writes go to it (never to a pooled connection of the old primary: it comes back
as a replica, read-only), and no write a client was told succeeded is lost."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fastlb.harness.waiting import wait_for

from . import mariadb as mariadb_helpers
from . import replication_trio
from .failover_load import CREATE, TABLE, WriteLoad
from .mysql_proxy import connect, one, running_proxy
from .proc import FastlbProcess, port_of
from .replication_trio import ReplicationTrio, fastlb_config

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
make_trio_fixture = replication_trio.make_trio_fixture

pytestmark = pytest.mark.timeout(180)

# Bounds for polls on a loaded 2-core machine (never assertions on speed).
SETTLE = 30.0
MAX_PER_SERVER = 2


@pytest.fixture
def semi_sync_trio(make_trio: Callable[..., ReplicationTrio]) -> ReplicationTrio:
    return make_trio(replication_trio.SEMI_SYNC)


@pytest.fixture
def pooled_proxy(semi_sync_trio: ReplicationTrio, tmp_path: Path) -> Iterator[FastlbProcess]:
    """fastlb in front of the trio with failover `auto`, and 4 writers' sessions multiplexed
    on 2 connections per server."""
    trio = semi_sync_trio
    trio["db1"].sql(CREATE)
    trio.wait_replicated("db1")
    config = fastlb_config(trio, "auto")
    config["backends"][0]["mysql"]["pool"] = {
        "enabled": True,
        "max_per_server": MAX_PER_SERVER,
        "multiplexing": True,
    }
    workdir = Path(tempfile.mkdtemp(prefix="fastlb", dir=tmp_path))
    with running_proxy(config, workdir) as process:
        yield process


def topology(proxy: FastlbProcess) -> dict[str, Any]:
    result: dict[str, Any] = proxy.stats()["mysql_topology"]["db"]
    return result


def rows(trio: ReplicationTrio, name: str) -> set[int]:
    output = trio[name].sql(f"SELECT id FROM {TABLE}")
    return {int(line) for line in output.split()}


def test_failover_with_multiplexed_pool_loses_no_acknowledged_write(
    semi_sync_trio: ReplicationTrio, pooled_proxy: FastlbProcess
) -> None:
    trio, proxy = semi_sync_trio, pooled_proxy
    port = port_of(proxy.config["frontends"][0]["listen"])
    with WriteLoad(port, trio.app_user, trio.app_password) as writes:
        wait_for(lambda: len(writes.acknowledged) > 50, SETTLE, "writes before the kill")
        killed = time.monotonic()
        trio.kill9("db1")
        wait_for(lambda: writes.first_success_after(killed + 0.1), SETTLE, "writes again")
        count = len(writes.acknowledged)
        wait_for(lambda: len(writes.acknowledged) > count + 50, SETTLE, "writes go on")
    new = topology(proxy)["primary"]
    assert new in ("db2", "db3")
    # Every write a client was told succeeded survived the failover (semi-sync); the
    # writes after it went to the new primary.
    missing = writes.acknowledged - rows(trio, new)
    assert not missing, f"{len(missing)} acknowledged writes lost"
    # The old primary's pooled connections died with it and left the pool (none is open,
    # idle or in use); the live servers hold no more than their limit.
    wait_for(lambda: pool_open(proxy, "db1") == 0, SETTLE, "no connection to db1 open")
    assert all(pool_open(proxy, name) <= MAX_PER_SERVER for name in ("db2", "db3"))
    # The old primary comes back writable: fenced, then rejoined as a replica — or, when
    # the kill caught a write in its binlog that no replica had acknowledged yet (the
    # client was never told it succeeded), reported diverged and kept out. Either way no
    # write reaches it (one would fail there, read-only, or be missing from the new primary).
    trio.start_server("db1")
    wait_for(lambda: {"rejoined", "diverged"} & set(event_kinds(proxy)), SETTLE, "db1 back, judged")
    later = set(range(900_000_000, 900_000_040))
    for row in later:
        with connect(
            port, user=trio.app_user, password=trio.app_password, database="fastlb"
        ) as session:
            one(session, f"INSERT INTO {TABLE} VALUES (%s, 99, 0)", (row,))
    assert later <= rows(trio, new)
    assert topology(proxy)["primary"] == new


def pool_open(proxy: FastlbProcess, server: str) -> int:
    """Pooled connections open to `server` now (idle and in use)."""
    by_server = proxy.stats()["frontends"]["sql"]["mysql"]["pool_by_server"]
    return int(by_server.get(server, {"open": 0})["open"])


def event_kinds(proxy: FastlbProcess) -> list[str]:
    return [event["kind"] for event in topology(proxy).get("events") or []]
