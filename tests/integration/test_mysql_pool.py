"""The server-connection pool of a `mode: mysql` backend (`mysql.pool`): short-lived
clients reuse logged-in server connections (the servers' own counters prove it), no state
leaks from one client to the next on a pool of one connection, `max_per_server` bounds the
connections and answers 1040 past the connect timeout, dead pooled connections are never
handed out, and a reload changes the limits."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mysql.connector
import pymysql
import pytest
import yaml

from . import mariadb as mariadb_helpers
from .clients import wait_until
from .mariadb import PASSWORD, USER, Template
from .mysql_proxy import (
    PRIMARY_ID,
    REPLICA_ID,
    Pair,
    connect,
    global_status,
    mysql_stats,
    one,
    pooled_config,
    pooled_proxy,
    seeded_pair,
    server_id,
    sql_port,
)
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(180)

# ER_CON_COUNT_ERROR, what a full pool answers (as a server with too many connections).
TOO_MANY_CONNECTIONS = 1040


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with seeded_pair(mariadb_template) as started:
        yield started


@pytest.fixture
def pool_of_8(pair: Pair, tmp_path: Path) -> Iterator[FastlbProcess]:
    with pooled_proxy(pair, tmp_path, 8) as process:
        yield process


@pytest.fixture
def pool_of_1(pair: Pair, tmp_path: Path) -> Iterator[FastlbProcess]:
    with pooled_proxy(pair, tmp_path, 1) as process:
        yield process


def short_session(port: int) -> int:
    """Connect, one point select, quit (a PHP request): the server that answered."""
    with connect(port) as session:
        return server_id(session, "SELECT @@server_id FROM items WHERE id = 1")


def test_short_lived_clients_reuse_a_pool_of_8(pair: Pair, pool_of_8: FastlbProcess) -> None:
    port = sql_port(pool_of_8)
    before = {s: global_status(s, "Connections") for s in (pair.primary, pair.replica)}
    errors: list[BaseException] = []

    def client(count: int) -> None:
        try:
            for _ in range(count):
                assert short_session(port) == REPLICA_ID
                time.sleep(0.02)  # 8 threads at ~50/s: about 200 sessions a second
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=client, args=(25,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for server in (pair.primary, pair.replica):
        # 200 client sessions, at most 8 pooled logins each (and the status queries' own
        # connections); without the pool each session logs in on both servers.
        opened = global_status(server, "Connections") - before[server]
        assert opened <= 8 + 3, (server.address, opened)
        assert global_status(server, "Threads_connected") <= 8 + 1
    stats = mysql_stats(pool_of_8)
    assert stats["sessions"] == 200
    assert stats["pool_reused"] >= 200 * 2 - 16
    assert stats["pool_open"] <= 16
    # Every session has left (its connections come back once reset, if they need it).
    assert wait_until(
        lambda: mysql_stats(pool_of_8)["pool_idle"] == mysql_stats(pool_of_8)["pool_open"],
        timeout=10,
    )


def test_no_state_leaks_between_clients_on_a_pool_of_one(pool_of_1: FastlbProcess) -> None:
    port = sql_port(pool_of_1)
    with connect(port, charset="utf8mb4") as first:
        one(first, "SET SESSION sql_mode = 'ANSI_QUOTES'")
        one(first, "SET time_zone = '+05:00'")
        one(first, "SET NAMES latin1")
        one(first, "USE mysql")
        # The replica connection gets the state too (replayed), before the pins below.
        assert server_id(first) == REPLICA_ID
        one(first, "SET @secret = 'first client'")
        one(first, "CREATE TEMPORARY TABLE scratch (a INT)")
        assert one(first, "SELECT @@time_zone") == "+05:00"
        assert one(first, "SELECT DATABASE()") == "mysql"
    with connect(port, charset="utf8mb4") as second:
        for read in ("", " FROM app.items LIMIT 1 FOR UPDATE"):  # replica, then primary
            assert one(second, f"SELECT @@sql_mode{read}") != "ANSI_QUOTES"
            assert one(second, f"SELECT @@time_zone{read}") == "SYSTEM"
            assert one(second, f"SELECT @@character_set_client{read}") == "utf8mb4"
            assert one(second, f"SELECT @secret{read}") is None
            assert one(second, f"SELECT DATABASE(){read}") == "app"
        one(second, "CREATE TEMPORARY TABLE scratch (a INT)")  # the first one's is gone
    stats = mysql_stats(pool_of_1)
    assert stats["pool_opened"] == 2  # one connection per server, reused
    assert stats["pool_reused"] >= 2
    assert stats["pool_resets"] >= 2


def test_only_sessions_that_changed_state_need_a_reset(
    pair: Pair, pool_of_1: FastlbProcess
) -> None:
    port = sql_port(pool_of_1)
    # The mariadb client (libmariadb) sends nothing but the statement: its connections go
    # back as they are.
    cli = pair.primary.client_command(
        "--database=app",
        "--skip-column-names",
        "-e",
        "SELECT @@server_id FROM items WHERE id = 1",
        tcp_port=port,
    )
    for _ in range(3):
        answer = subprocess.run(
            cli, env=pair.primary.client_env(PASSWORD), capture_output=True, text=True, timeout=30
        )
        assert answer.stdout.strip() == str(REPLICA_ID), answer.stderr
    stats = mysql_stats(pool_of_1)
    assert (stats["pool_opened"], stats["pool_reused"], stats["pool_resets"]) == (2, 4, 0)
    # PyMySQL sends SET NAMES at login: a state change, so its connection is reset.
    short_session(port)
    assert wait_until(lambda: mysql_stats(pool_of_1)["pool_resets"] == 2, timeout=10)


def test_last_insert_id_and_transactions_do_not_outlive_their_client(
    pool_of_1: FastlbProcess,
) -> None:
    port = sql_port(pool_of_1)
    with connect(port) as first:
        one(first, "INSERT INTO items (v) VALUES ('mine')")
        assert one(first, "SELECT LAST_INSERT_ID()") > 0
    reused = mysql_stats(pool_of_1)["pool_reused"]
    with connect(port) as second:
        assert one(second, "SELECT LAST_INSERT_ID()") == 0
        assert mysql_stats(pool_of_1)["pool_reused"] > reused  # the first one's connection
        second.autocommit(False)
        one(second, "INSERT INTO items (v) VALUES ('uncommitted')")
    with connect(port) as third:
        on_primary = "SELECT COUNT(*) FROM items WHERE v = 'uncommitted' FOR UPDATE"
        assert one(third, on_primary) == 0
        assert one(third, "SELECT @@autocommit") == 1


def connector_session(port: int) -> Any:
    return mysql.connector.connect(
        host="127.0.0.1",
        port=port,
        user=USER,
        password=PASSWORD,
        database="app",
        autocommit=True,
    )


def test_prepared_statements_from_many_clients(pool_of_1: FastlbProcess) -> None:
    port = sql_port(pool_of_1)
    for n in range(20):
        session = connector_session(port)
        try:
            cursor = session.cursor(prepared=True)
            cursor.execute("SELECT ? + 1", (n,))
            assert cursor.fetchall() == [(n + 1,)]
            cursor.execute("INSERT INTO items (v) VALUES (?)", (f"prepared {n}",))
            cursor.close()
        finally:
            session.close()
        check = connector_session(port)
        try:
            cursor = check.cursor(prepared=True)
            cursor.execute("SELECT COUNT(*) FROM items WHERE v = ? FOR UPDATE", (f"prepared {n}",))
            assert cursor.fetchall() == [(1,)]
            cursor.close()
        finally:
            check.close()
    # 40 clients, each statement prepared on connections another client used before.
    stats = mysql_stats(pool_of_1)
    assert stats["pool_opened"] == 2
    assert stats["pool_reused"] >= 40


def test_a_full_pool_answers_1040_after_the_connect_timeout(pool_of_1: FastlbProcess) -> None:
    port = sql_port(pool_of_1)
    with connect(port) as holder:
        assert server_id(holder) == REPLICA_ID
        with pytest.raises(pymysql.err.OperationalError) as refused:
            connect(port)
        assert refused.value.args[0] == TOO_MANY_CONNECTIONS
        assert "max_per_server=1" in refused.value.args[1]
    # Once the holder has gone, its connections serve the next client.
    assert short_session(port) == REPLICA_ID
    stats = mysql_stats(pool_of_1)
    assert stats["pool_full_errors"] == 1
    assert stats["pool_waits"] >= 1


def test_a_waiting_client_gets_the_connection_given_back(pool_of_1: FastlbProcess) -> None:
    port = sql_port(pool_of_1)
    holder = connect(port)
    assert server_id(holder) == REPLICA_ID
    # Given back well within the waiter's connect timeout (1 s).
    threading.Timer(0.3, holder.close).start()
    assert short_session(port) == REPLICA_ID
    assert mysql_stats(pool_of_1)["pool_full_errors"] == 0


def test_pooled_connections_of_a_restarted_server_are_not_reused(
    pair: Pair, pool_of_8: FastlbProcess
) -> None:
    port = sql_port(pool_of_8)
    for _ in range(4):
        short_session(port)
    assert wait_until(lambda: mysql_stats(pool_of_8)["pool_idle"] >= 2, timeout=10)
    pair.primary.stop()
    pair.primary.start()
    pair.replica.stop()
    pair.replica.start()
    # Every idle connection died with its server: each client gets a new one.
    for _ in range(4):
        assert short_session(port) == REPLICA_ID
        with connect(port) as session:
            primary = "SELECT @@server_id FROM items LIMIT 1 FOR UPDATE"
            assert server_id(session, primary) == PRIMARY_ID
    assert mysql_stats(pool_of_8)["server_errors"] == 0


def test_reload_changes_the_pool_limits(pair: Pair, tmp_path: Path) -> None:
    with pooled_proxy(pair, tmp_path, 1) as process:
        port = sql_port(process)
        with connect(port) as holder:
            assert server_id(holder) == REPLICA_ID
            with pytest.raises(pymysql.err.OperationalError):
                connect(port)
            process.config = pooled_config(pair, 3)
            process.config["frontends"] = yaml.safe_load(process.config_path.read_text())[
                "frontends"
            ]
            process.config["api"] = yaml.safe_load(process.config_path.read_text())["api"]
            process.config_path.write_text(yaml.safe_dump(process.config, sort_keys=False))
            assert process.api("POST", "/api/reload")[0] == 200

            def second_client_served() -> bool:
                try:
                    with connect(port) as second:
                        return bool(server_id(second) == REPLICA_ID)
                except pymysql.err.OperationalError:
                    return False

            assert wait_until(second_client_served, timeout=10)
            assert server_id(holder) == REPLICA_ID
