"""`mode: mysql` in front of a real GTID-replicated primary/replica pair, with the topology
monitor running inside `fastlb serve`: causal reads after a write (the replica waited for,
or the primary when it lags), lag injected with MASTER_DELAY taking the replica out of the
read pool and back, a promoted replica becoming the primary, and the topology in /api/stats.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from . import mariadb as mariadb_helpers
from . import replication as replication_helpers
from .clients import wait_until
from .mysql_proxy import connect, one, running_proxy, server_id
from .proc import FastlbProcess, free_port, port_of
from .replication import PRIMARY_SERVER_ID, REPLICA_SERVER_ID, ReplicationPair

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
replication_pair_fixture = replication_helpers.replication_pair_fixture
replication_fixture = replication_helpers.replication_fixture

pytestmark = pytest.mark.timeout(120)

MONITOR_INTERVAL = 0.2
MAX_LAG = 1.0
# Monitor rounds on a loaded 2-core machine.
SETTLE = 15.0
TABLE = "CREATE TABLE fastlb.notes (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))"


def config(pair: ReplicationPair, **mysql: Any) -> dict[str, Any]:
    return {
        "workers": 2,
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "frontends": [
            {"name": "sql", "listen": f"127.0.0.1:{free_port()}", "mode": "mysql", "backend": "db"}
        ],
        "backends": [
            {
                "name": "db",
                "connect_timeout": "1s",
                "health_check": {"type": "tcp", "interval": "200ms", "rise": 1, "fall": 1},
                "servers": [
                    {"name": "primary", "address": pair.primary.address, "role": "primary"},
                    {"name": "replica", "address": pair.replica.address, "role": "replica"},
                ],
                "mysql": {
                    "users": [{"user": pair.app_user, "password": pair.app_password}],
                    "monitor": {
                        "user": pair.monitor_user,
                        "password": pair.monitor_password,
                        "interval": f"{round(MONITOR_INTERVAL * 1000)}ms",
                    },
                    "max_replication_lag": f"{MAX_LAG}s",
                    **mysql,
                },
            }
        ],
    }


@pytest.fixture
def start_proxy(
    replication: ReplicationPair, tmp_path: Path
) -> Iterator[Callable[..., FastlbProcess]]:
    replication.primary.sql(TABLE)
    replication.wait_replicated()
    with contextlib.ExitStack() as running:

        def start(**mysql: Any) -> FastlbProcess:
            workdir = Path(tempfile.mkdtemp(prefix="fastlb", dir=tmp_path))
            return running.enter_context(running_proxy(config(replication, **mysql), workdir))

        yield start


def session(proxy: FastlbProcess) -> pymysql.Connection[Any]:
    pair_user = proxy.config["backends"][0]["mysql"]["users"][0]
    return connect(
        port_of(proxy.config["frontends"][0]["listen"]),
        user=pair_user["user"],
        password=pair_user["password"],
        database="fastlb",
    )


def server(proxy: FastlbProcess, name: str) -> dict[str, Any]:
    mysql: dict[str, Any] = proxy.stats()["backends"]["db"]["servers"][name]["mysql"]
    return mysql


def lagging(replica: dict[str, Any]) -> bool:
    lag = replica["replication_lag_seconds"]
    return not replica["in_read_pool"] and lag is not None and lag > MAX_LAG


def write_and_read_back(db: pymysql.Connection[Any], text: str) -> tuple[str | None, int]:
    """Inserts `text`, then reads it back in the next statement: (value seen, @@server_id)."""
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO notes (v) VALUES (%s)", (text,))
        new_id = cursor.lastrowid
        cursor.execute("SELECT v, @@server_id FROM notes WHERE id = %s", (new_id,))
        row = cursor.fetchone()
    return (row[0], int(row[1])) if row else (None, -1)


def test_causal_reads_see_the_sessions_write_on_the_replica(
    start_proxy: Callable[..., FastlbProcess],
) -> None:
    proxy = start_proxy(causal_reads="session", causal_timeout="2s")
    with session(proxy) as db:
        seen, where = write_and_read_back(db, "causal")
        assert seen == "causal"
        assert where == REPLICA_SERVER_ID, "the replica waited for the write's GTID"
    mysql = proxy.stats()["frontends"]["sql"]["mysql"]
    assert mysql["causal_waits"] >= 1 and mysql["causal_timeouts"] == 0


def test_causal_reads_use_the_primary_when_the_replica_lags(
    replication: ReplicationPair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy(causal_reads="session", causal_timeout="200ms", max_replication_lag="1h")
    replication.set_delay(3)
    # Restarting replication for the delay may take the replica out of the pool a moment.
    assert wait_until(lambda: server(proxy, "replica")["in_read_pool"], SETTLE), "in the read pool"
    with session(proxy) as db:
        seen, where = write_and_read_back(db, "delayed")
        assert (seen, where) == ("delayed", PRIMARY_SERVER_ID)
    assert proxy.stats()["frontends"]["sql"]["mysql"]["causal_timeouts"] >= 1


def test_without_causal_reads_a_lagging_replica_serves_stale_reads(
    replication: ReplicationPair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    # The control experiment for the two tests above: the same write and read, causal_reads
    # off, and a replica 3 s behind (the lag limit set high so that it stays in the pool).
    proxy = start_proxy(max_replication_lag="1h")
    replication.set_delay(3)
    assert wait_until(lambda: server(proxy, "replica")["in_read_pool"], SETTLE), "in the read pool"
    with session(proxy) as db:
        assert write_and_read_back(db, "stale") == (None, -1)


def test_lag_takes_the_replica_out_of_the_read_pool_and_back(
    replication: ReplicationPair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy()
    with session(proxy) as db:
        assert server_id(db) == REPLICA_SERVER_ID
        replication.set_delay(5)
        deadline = time.monotonic() + SETTLE
        # Writes every 100 ms: the replica falls behind by the delay (its restart for the
        # new delay may take it out of the pool for a moment first: wait for the lag).
        while not lagging(server(proxy, "replica")) and time.monotonic() < deadline:
            db.cursor().execute("INSERT INTO notes (v) VALUES ('tick')")
            time.sleep(0.1)
        assert lagging(server(proxy, "replica")), server(proxy, "replica")
        assert server_id(db) == PRIMARY_SERVER_ID, "reads moved to the primary"
        replication.set_delay(0)
        replication.wait_replicated()
        back = wait_until(lambda: server(proxy, "replica")["in_read_pool"], SETTLE)
        assert back, "back in the read pool"
        assert server_id(db) == REPLICA_SERVER_ID
    topology = proxy.stats()["mysql_topology"]["db"]
    assert topology["primary"] == "primary"


def test_a_promoted_replica_becomes_the_primary(
    replication: ReplicationPair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy()
    replication.stop_primary()
    replication.promote_replica()
    assert wait_until(lambda: server(proxy, "replica")["role"] == "primary", SETTLE), "promoted"
    with session(proxy) as db:
        db.cursor().execute("INSERT INTO notes (v) VALUES ('after failover')")
        assert one(db, "SELECT @@server_id FROM notes LIMIT 1 FOR UPDATE") == REPLICA_SERVER_ID
        assert one(db, "SELECT COUNT(*) FROM notes WHERE v = 'after failover'") == 1
    assert proxy.stats()["mysql_topology"]["db"]["failed_over"] is True


def test_causal_reads_survive_a_connection_reset(
    start_proxy: Callable[..., FastlbProcess],
) -> None:
    # COM_RESET_CONNECTION also resets the server's session tracking: fastlb turns it back on.
    proxy = start_proxy(causal_reads="session", causal_timeout="2s")
    with session(proxy) as db:
        db.cursor().execute("INSERT INTO notes (v) VALUES ('before reset')")
        db._execute_command(0x1F, "")  # COM_RESET_CONNECTION
        db._read_ok_packet()
        waits = proxy.stats()["frontends"]["sql"]["mysql"]["causal_waits"]
        assert write_and_read_back(db, "after reset") == ("after reset", REPLICA_SERVER_ID)
    assert proxy.stats()["frontends"]["sql"]["mysql"]["causal_waits"] > waits
