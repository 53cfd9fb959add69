"""The topology monitor under write load, inside `fastlb serve` and in `fastlb.mysql.Router`:
a primary that misses fewer than `failcount` probes (paused with SIGSTOP: it answers nothing,
then resumes) stays the primary, and not one write fails."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from fastlb.harness.background import BackgroundLoop
from fastlb.mysql import Router, ServerSpec

from . import mariadb as mariadb_helpers
from . import replication as replication_helpers
from .mysql_proxy import connect, running_proxy
from .proc import FastlbProcess, free_port, port_of
from .replication import ReplicationPair

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
replication_pair_fixture = replication_helpers.replication_pair_fixture
replication_fixture = replication_helpers.replication_fixture

pytestmark = pytest.mark.timeout(120)

INTERVAL = 0.5
FAILCOUNT = 5
# Fewer than FAILCOUNT rounds: the monitor must not give the primary up.
PAUSE = INTERVAL * (FAILCOUNT - 2)
WRITERS = 4


@pytest.fixture
def proxy(replication: ReplicationPair, tmp_path: Path) -> Iterator[FastlbProcess]:
    replication.primary.sql("CREATE TABLE fastlb.ticks (id INT AUTO_INCREMENT PRIMARY KEY)")
    replication.wait_replicated()
    config: dict[str, Any] = {
        "workers": 2,
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "frontends": [
            {"name": "sql", "listen": f"127.0.0.1:{free_port()}", "mode": "mysql", "backend": "db"}
        ],
        "backends": [
            {
                "name": "db",
                "connect_timeout": "5s",
                "servers": [
                    {"name": "primary", "address": replication.primary.address, "role": "primary"},
                    {"name": "replica", "address": replication.replica.address, "role": "replica"},
                ],
                "mysql": {
                    "users": [{"user": replication.app_user, "password": replication.app_password}],
                    "monitor": {
                        "user": replication.monitor_user,
                        "password": replication.monitor_password,
                        "interval": f"{round(INTERVAL * 1000)}ms",
                        "timeout": "300ms",
                        "failcount": FAILCOUNT,
                    },
                },
            }
        ],
    }
    with running_proxy(config, tmp_path) as process:
        yield process


class Writers(BackgroundLoop):
    """WRITERS threads inserting through the proxy until stopped: each its own session,
    plus a new session per write in one of them (new sessions need the primary too)."""

    def __init__(self, port: int, options: dict[str, Any]) -> None:
        # Longer than a write's read_timeout (60 s): a thread ends once its write in progress does.
        super().__init__("writers", threads=WRITERS, join_timeout=90)
        self.port, self.options = port, options
        self.writes = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def _write(self, connection: pymysql.Connection[Any]) -> None:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO ticks VALUES ()")

    def run(self, worker: int) -> None:
        options = {**self.options, "read_timeout": 60}
        fresh_sessions = worker == 0
        kept = None if fresh_sessions else connect(self.port, **options)
        while not self.stopping:
            try:
                if kept is None:
                    with connect(self.port, **options) as session:
                        self._write(session)
                else:
                    self._write(kept)
                with self._lock:
                    self.writes += 1
            except pymysql.err.MySQLError as error:
                with self._lock:
                    self.failures.append(repr(error))
                time.sleep(0.05)


def test_a_primary_paused_for_fewer_than_failcount_probes_loses_no_write(
    replication: ReplicationPair, proxy: FastlbProcess
) -> None:
    port = port_of(proxy.config["frontends"][0]["listen"])
    options = {
        "user": replication.app_user,
        "password": replication.app_password,
        "database": replication.database,
    }
    with connect(port, **options):
        pass  # the proxy serves
    with Writers(port, options) as writers:
        time.sleep(1.0)
        before = writers.writes
        assert before > 0, writers.failures
        os.kill(replication.primary.pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE)
        finally:
            os.kill(replication.primary.pid, signal.SIGCONT)
        time.sleep(3 * INTERVAL + 1.0)
    assert writers.failures == []
    assert writers.writes > before
    stats = proxy.stats()
    assert stats["frontends"]["sql"]["mysql"]["no_primary_errors"] == 0


def test_router_keeps_a_primary_paused_for_fewer_than_failcount_probes(
    replication: ReplicationPair,
) -> None:
    replication.primary.sql("CREATE TABLE fastlb.ticks (id INT AUTO_INCREMENT PRIMARY KEY)")
    replication.wait_replicated()
    primary = ServerSpec(
        "db-primary", replication.primary.host, replication.primary.port, "primary"
    )
    replica = ServerSpec("db-replica", replication.replica.host, replication.replica.port)
    failures: list[str] = []
    writes = 0

    async def writer(router: Router, done: asyncio.Event) -> None:
        nonlocal writes
        while not done.is_set():
            try:
                await router.execute("INSERT INTO ticks VALUES ()")
                writes += 1
            except (ConnectionError, pymysql.err.MySQLError) as error:
                failures.append(repr(error))
                await asyncio.sleep(0.05)

    async def scenario() -> None:
        router = Router(
            primary,
            [replica],
            user=replication.app_user,
            password=replication.app_password,
            db=replication.database,
            monitor_user=replication.monitor_user,
            monitor_password=replication.monitor_password,
            monitor_interval=INTERVAL,
            monitor_timeout=0.3,
            monitor_failcount=FAILCOUNT,
            connect_timeout=5.0,
        )
        async with router:
            done = asyncio.Event()
            tasks = [asyncio.create_task(writer(router, done)) for _ in range(WRITERS)]
            await asyncio.sleep(1.0)
            os.kill(replication.primary.pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(PAUSE)
            finally:
                os.kill(replication.primary.pid, signal.SIGCONT)
            await asyncio.sleep(3 * INTERVAL + 1.0)
            done.set()
            await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert failures == []
    assert writes > 0
