"""The primary/replica harness itself (replication.py), against real MariaDB: rows written on
the primary reach the replica, the replica refuses the application's writes, MASTER_DELAY
holds changes back, and replication survives a restart of either server."""

from __future__ import annotations

import subprocess
import time

import pytest

from . import mariadb as mariadb_helpers
from . import replication as replication_helpers
from .replication import ReplicationPair

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
replication_pair_fixture = replication_helpers.replication_pair_fixture
replication_fixture = replication_helpers.replication_fixture


def app_sql(server: mariadb_helpers.MariaDB, pair: ReplicationPair, statement: str) -> str:
    """SQL as the application user over TCP (not root: root may write on a read-only server)."""
    result = subprocess.run(
        [
            *server.client_command("--skip-column-names", "-e", statement, tcp_port=server.port),
            f"--user={pair.app_user}",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
        env=server.client_env(pair.app_password),
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode(errors="replace"))
    return result.stdout.decode()


def test_writes_replicate_and_the_replica_refuses_the_application(
    replication: ReplicationPair,
) -> None:
    assert replication.primary.sql("SELECT @@server_id, @@read_only").split() == ["1", "0"]
    assert replication.replica.sql("SELECT @@server_id, @@read_only").split() == ["2", "1"]
    app_sql(
        replication.primary,
        replication,
        "CREATE TABLE fastlb.t (id INT PRIMARY KEY); INSERT INTO fastlb.t VALUES (1), (2)",
    )
    position = replication.wait_replicated()
    assert position.startswith("0-1-")
    assert app_sql(replication.replica, replication, "SELECT COUNT(*) FROM fastlb.t") == "2\n"
    with pytest.raises(RuntimeError, match="read-only"):
        app_sql(replication.replica, replication, "INSERT INTO fastlb.t VALUES (3)")


def test_master_delay_holds_changes_back(replication: ReplicationPair) -> None:
    replication.primary.sql("CREATE TABLE fastlb.d (id INT)")
    replication.wait_replicated()
    replication.set_delay(2)
    replication.primary.sql("INSERT INTO fastlb.d VALUES (1)")
    written = time.monotonic()
    time.sleep(0.5)
    assert replication.replica.sql("SELECT COUNT(*) FROM fastlb.d") == "0\n"
    assert replication.replica_status()["SQL_Remaining_Delay"] not in ("", "NULL")
    replication.wait_replicated()
    # Binlog event timestamps have a resolution of one second: the 2 s delay counts from the
    # start of the second the event was written in, so it holds the change back > 1 s.
    assert time.monotonic() - written >= 0.9
    assert replication.replica.sql("SELECT COUNT(*) FROM fastlb.d") == "1\n"


def test_replication_survives_restarts(replication: ReplicationPair) -> None:
    replication.primary.sql("CREATE TABLE fastlb.r (id INT)")
    replication.stop_replica()
    replication.primary.sql("INSERT INTO fastlb.r VALUES (1)")
    replication.start_replica()
    replication.wait_replicated()
    assert replication.replica.sql("SELECT COUNT(*) FROM fastlb.r") == "1\n"

    replication.stop_primary()
    replication.start_primary()
    replication.primary.sql("INSERT INTO fastlb.r VALUES (2)")
    replication.wait_replicated()
    assert replication.replica.sql("SELECT COUNT(*) FROM fastlb.r") == "2\n"


def test_a_promoted_replica_is_writable_and_reset_restores_the_pair(
    replication: ReplicationPair,
) -> None:
    replication.promote_replica()
    assert replication.replica.sql("SELECT @@read_only") == "0\n"
    assert replication.replica_status()["Slave_SQL_Running"] == "No"
    assert replication.reset()
    assert replication.replica.sql("SELECT @@read_only") == "1\n"
    assert replication.replica_status()["Slave_SQL_Running"] == "Yes"
