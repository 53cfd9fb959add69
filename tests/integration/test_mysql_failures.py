"""`mode: mysql` when servers fail: the replica stopped (reads go to the primary), the primary
stopped (reads go on, writes get a clear error; or the connection closes, per
`primary_failure`), and the replica back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from . import mariadb as mariadb_helpers
from .mariadb import Template
from .mysql_proxy import (
    PRIMARY_ID,
    REPLICA_ID,
    Pair,
    connect,
    mysql_stats,
    proxy_config,
    running_proxy,
    server_id,
    sql_port,
    standalone_pair,
)
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(90)

CHECK = {"type": "tcp", "interval": "200ms", "timeout": "500ms", "rise": 1, "fall": 1}
# Health checks every 200 ms on a loaded 2-core machine.
SETTLE = 10.0


@pytest.fixture
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with standalone_pair(mariadb_template) as started:
        yield started


@pytest.fixture
def start_proxy(tmp_path: Path, pair: Pair) -> Iterator[Callable[..., FastlbProcess]]:
    with contextlib.ExitStack() as running:

        def start(**mysql: Any) -> FastlbProcess:
            config = proxy_config(pair, **mysql)
            config["backends"][0]["health_check"] = CHECK
            return running.enter_context(running_proxy(config, tmp_path))

        yield start


def wait_status(process: FastlbProcess, server: str, status: str) -> None:
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        if process.stats()["backends"]["db"]["servers"][server]["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{server} not {status} after {SETTLE}s")


def test_replica_stopped_reads_go_to_the_primary(
    pair: Pair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy()
    port = sql_port(proxy)
    with connect(port) as session:
        assert server_id(session) == REPLICA_ID
        pair.replica.stop()
        # The session's replica connection is gone: the read is run again on the primary.
        assert server_id(session) == PRIMARY_ID
    wait_status(proxy, "replica", "DOWN")
    with connect(port) as fresh:
        assert server_id(fresh) == PRIMARY_ID
    assert mysql_stats(proxy)["reads_on_primary"] >= 2
    pair.replica.start()
    wait_status(proxy, "replica", "UP")
    with connect(port) as later:
        assert server_id(later) == REPLICA_ID


def test_primary_stopped_reads_go_on_and_writes_get_a_clear_error(
    pair: Pair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy()
    port = sql_port(proxy)
    session = connect(port)
    pair.primary.stop()
    wait_status(proxy, "primary", "DOWN")
    try:
        assert server_id(session) == REPLICA_ID
        for _ in range(2):  # the first write may learn of the lost connection itself
            try:
                session.cursor().execute("INSERT INTO items (v) VALUES ('lost')")
            except pymysql.err.OperationalError as error:
                code, message = error.args
                if code == 1290:
                    assert "no primary is available for writes in backend 'db'" in message
                    break
                assert code == 1158, error  # ER_NET_READ_ERROR: fastlb lost the server
        else:
            raise AssertionError("a write succeeded without a primary")
        assert server_id(session) == REPLICA_ID, "the session carries on for reads"
    finally:
        session.close()
    # New sessions log in on the replica and read.
    with connect(port) as fresh:
        assert server_id(fresh) == REPLICA_ID
        with pytest.raises(pymysql.err.OperationalError) as refused:
            fresh.cursor().execute("DELETE FROM items")
        assert refused.value.args[0] == 1290
    assert mysql_stats(proxy)["no_primary_errors"] >= 2
    pair.primary.start()
    wait_status(proxy, "primary", "UP")
    with connect(port) as healed:
        healed.cursor().execute("INSERT INTO items (v) VALUES ('back')")
        assert server_id(healed, "SELECT @@server_id FOR UPDATE") == PRIMARY_ID


def test_fail_on_write_closes_the_session(
    pair: Pair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy(primary_failure="fail_on_write")
    port = sql_port(proxy)
    pair.primary.stop()
    wait_status(proxy, "primary", "DOWN")
    with connect(port) as session:
        assert server_id(session) == REPLICA_ID
        with pytest.raises(pymysql.err.OperationalError) as refused:
            session.cursor().execute("INSERT INTO items (v) VALUES ('x')")
        assert refused.value.args[0] == 1290
        with pytest.raises(pymysql.err.OperationalError):
            server_id(session)  # the connection is closed


def test_fail_instantly_refuses_sessions_without_a_primary(
    pair: Pair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy(primary_failure="fail_instantly")
    port = sql_port(proxy)
    pair.primary.stop()
    wait_status(proxy, "primary", "DOWN")
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(port)
    assert refused.value.args[0] == 1290


def test_a_transaction_lost_with_the_primary_ends_the_session(
    pair: Pair, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy()
    session = connect(sql_port(proxy))
    try:
        session.begin()
        session.cursor().execute("INSERT INTO items (v) VALUES ('in a transaction')")
        pair.primary.kill()
        with pytest.raises(pymysql.err.OperationalError) as lost:
            session.cursor().execute("INSERT INTO items (v) VALUES ('second')")
        assert lost.value.args[0] == 1927  # ER_CONNECTION_KILLED
        assert "transaction" in lost.value.args[1]
        # Not "no primary" (1290) from a fresh connection: the session is over, so no later
        # COMMIT can look as if the transaction had survived.
        with pytest.raises((pymysql.err.OperationalError, pymysql.err.InterfaceError)) as closed:
            session.cursor().execute("COMMIT")
        assert not closed.value.args or closed.value.args[0] in (0, 2006, 2013)
    finally:
        session.close()
