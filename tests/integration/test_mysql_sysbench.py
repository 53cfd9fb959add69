"""sysbench through `mode: mysql`: oltp_read_write with prepared statements and
oltp_read_only --skip_trx=on complete with zero errors, the writes and their transactions
on the primary, the read-only workload's reads on the replica.

The two servers are prepared with the same sysbench tables (sysbench's rows have the same
ids everywhere), so reads find their rows on the replica without replication; what lands
where shows in fastlb's per-server statement counters."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from . import mariadb as mariadb_helpers
from .mariadb import Template, sysbench_command
from .mysql_proxy import Pair, proxy_config, running_proxy, sql_port, standalone_pair
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(120)

# Little contention (so no deadlock for sysbench to retry), a few seconds each. Every error
# is fatal: by default sysbench silently retries deadlocks and lock wait timeouts.
OPTIONS = [
    "--tables=4",
    "--table-size=10000",
    "--threads=2",
    "--time=4",
    "--db-ps-mode=auto",
    "--mysql-ignore-errors=none",
]


def sysbench(port: int, script: str, command: str, *extra: str) -> str:
    argv = sysbench_command(script, port, command, *OPTIONS, *extra)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def counts(output: str) -> tuple[int, int]:
    """(queries, errors) from a sysbench report."""
    queries = re.search(r"queries:\s+(\d+)", output)
    errors = re.search(r"ignored errors:\s+(\d+)", output)
    assert queries and errors, output
    return int(queries[1]), int(errors[1])


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with standalone_pair(mariadb_template) as started:
        for server in (started.primary, started.replica):
            server.sql("CREATE DATABASE sbtest")
            sysbench(server.port, "oltp_read_write", "prepare")
        yield started


@pytest.fixture(scope="module")
def proxy(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastlbProcess]:
    with running_proxy(proxy_config(pair), tmp_path_factory.mktemp("fastlb")) as process:
        yield process


def server_queries(proxy: FastlbProcess) -> dict[str, int]:
    servers = proxy.stats()["backends"]["db"]["servers"]
    return {name: s["mysql"]["queries"] for name, s in servers.items()}


def test_read_write_with_prepared_statements(proxy: FastlbProcess) -> None:
    before = server_queries(proxy)
    output = sysbench(sql_port(proxy), "oltp_read_write", "run")
    queries, errors = counts(output)
    after = server_queries(proxy)
    assert queries > 0 and errors == 0, output
    # Every statement runs inside BEGIN ... COMMIT: all on the primary.
    assert after["primary"] - before["primary"] >= queries
    assert after["replica"] == before["replica"]


def test_read_only_without_transactions_reads_from_the_replica(proxy: FastlbProcess) -> None:
    before = server_queries(proxy)
    output = sysbench(sql_port(proxy), "oltp_read_only", "run", "--skip_trx=on")
    queries, errors = counts(output)
    after = server_queries(proxy)
    assert queries > 0 and errors == 0, output
    assert after["replica"] - before["replica"] >= queries
    assert after["primary"] == before["primary"]
