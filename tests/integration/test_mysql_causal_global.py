"""`causal_reads: global` through `fastlb serve` in front of a real GTID-replicated pair:
a write on one connection is seen by a read on another connection right after (the replica
waits for the highest GTID any session wrote), where `session` reads stale rows. The replica
applies each write a second late (MASTER_DELAY), so a stale read can't go unnoticed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import mariadb as mariadb_helpers
from . import replication as replication_helpers
from .mysql_proxy import connect, one, running_proxy, server_id
from .proc import FastlbProcess, free_port, port_of
from .replication import REPLICA_SERVER_ID, ReplicationPair

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
replication_pair_fixture = replication_helpers.replication_pair_fixture
replication_fixture = replication_helpers.replication_fixture

pytestmark = pytest.mark.timeout(120)

WRITES = 3


@pytest.fixture
def start_proxy(
    replication: ReplicationPair, tmp_path: Path
) -> Iterator[Callable[[str], tuple[FastlbProcess, dict[str, Any]]]]:
    replication.primary.sql("CREATE TABLE fastlb.notes (id INT AUTO_INCREMENT PRIMARY KEY)")
    replication.wait_replicated()
    replication.set_delay(1)
    running: list[Any] = []

    def start(causal_reads: str) -> tuple[FastlbProcess, dict[str, Any]]:
        config = {
            "workers": 2,
            "api": {"listen": f"127.0.0.1:{free_port()}"},
            "frontends": [
                {
                    "name": "sql",
                    "listen": f"127.0.0.1:{free_port()}",
                    "mode": "mysql",
                    "backend": "db",
                }
            ],
            "backends": [
                {
                    "name": "db",
                    "servers": [
                        {"name": "p", "address": replication.primary.address, "role": "primary"},
                        {"name": "r", "address": replication.replica.address, "role": "replica"},
                    ],
                    "mysql": {
                        "users": [
                            {"user": replication.app_user, "password": replication.app_password}
                        ],
                        "causal_reads": causal_reads,
                        "causal_timeout": "5s",
                    },
                }
            ],
        }
        manager = running_proxy(config, tmp_path)
        process = manager.__enter__()
        running.append(manager)
        options = {
            "user": replication.app_user,
            "password": replication.app_password,
            "database": replication.database,
        }
        return process, options

    yield start
    for manager in running:
        manager.__exit__(None, None, None)
    replication.set_delay(0)


def fresh_reads(process: FastlbProcess, options: dict[str, Any]) -> list[bool]:
    """For each write on one connection, whether a read on another saw it at once."""
    port = port_of(process.config["frontends"][0]["listen"])
    seen = []
    with connect(port, **options) as writer, connect(port, **options) as reader:
        assert server_id(reader) == REPLICA_SERVER_ID
        for n in range(1, WRITES + 1):
            one(writer, "INSERT INTO notes VALUES ()")
            seen.append(one(reader, "SELECT COUNT(*) FROM notes") == n)
    return seen


def test_global_causal_reads_see_other_connections_writes(
    start_proxy: Callable[[str], tuple[FastlbProcess, dict[str, Any]]],
) -> None:
    process, options = start_proxy("global")
    assert fresh_reads(process, options) == [True] * WRITES
    stats = process.stats()["frontends"]["sql"]["mysql"]
    assert stats["causal_waits"] >= WRITES
    assert stats["causal_timeouts"] == 0


def test_session_causal_reads_do_not(
    start_proxy: Callable[[str], tuple[FastlbProcess, dict[str, Any]]],
) -> None:
    """The contrast that shows the test above can fail: per-session tracking misses
    another connection's writes."""
    process, options = start_proxy("session")
    assert not any(fresh_reads(process, options))
