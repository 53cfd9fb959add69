"""Multiplexing in the MySQL pool (`mysql.pool.multiplexing`): sessions give their server
connections back between statements, so more clients than server connections are served
at once. Against a real MariaDB pair: clients interleaved on ONE server connection each see
only their own state; many clients on few connections (the servers' own counters prove
it); transactions and pins keep their connection (and say why in the stats);
LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS() and SHOW WARNINGS answer as if unpooled;
prepared statements from many clients; 1,000 idle clients hold at most max_per_server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mysql.connector
import pymysql
import pytest

from fastlb.harness.waiting import wait_for

from . import mariadb as mariadb_helpers
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
    running_proxy,
    seeded_pair,
    server_id,
    sql_port,
)
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(240)

ON_PRIMARY = " FROM app.items LIMIT 1 FOR UPDATE"


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with seeded_pair(mariadb_template, rows=3) as started:
        yield started


@pytest.fixture
def pool_of_1(pair: Pair, tmp_path: Path) -> Iterator[FastlbProcess]:
    with pooled_proxy(pair, tmp_path, 1, multiplexing=True) as process:
        yield process


@pytest.fixture
def pool_of_2(pair: Pair, tmp_path: Path) -> Iterator[FastlbProcess]:
    with pooled_proxy(pair, tmp_path, 2, multiplexing=True) as process:
        yield process


def test_clients_interleaved_on_one_connection_see_only_their_own_state(
    pair: Pair, pool_of_1: FastlbProcess
) -> None:
    port = sql_port(pool_of_1)
    # Two clients open at once on a pool of one connection per server: without
    # multiplexing the second would wait for the first to leave (and get 1040).
    first = connect(port, charset="utf8mb4")
    second = connect(port, charset="utf8mb4")
    try:
        one(first, "SET SESSION sql_mode = 'ANSI_QUOTES'")
        one(second, "SET SESSION sql_mode = 'NO_ZERO_DATE'")
        one(first, "SET time_zone = '+05:00'")
        one(second, "SET time_zone = '-03:00'")
        one(first, "SET NAMES latin1")
        one(first, "USE mysql")
        for _ in range(3):
            for read in ("", ON_PRIMARY):  # the replica's connection, then the primary's
                assert one(first, f"SELECT @@sql_mode{read}") == "ANSI_QUOTES"
                assert one(second, f"SELECT @@sql_mode{read}") == "NO_ZERO_DATE"
                assert one(first, f"SELECT @@time_zone{read}") == "+05:00"
                assert one(second, f"SELECT @@time_zone{read}") == "-03:00"
                assert one(first, f"SELECT @@character_set_client{read}") == "latin1"
                assert one(second, f"SELECT @@character_set_client{read}") == "utf8mb4"
                assert one(first, f"SELECT DATABASE(){read}") == "mysql"
                assert one(second, f"SELECT DATABASE(){read}") == "app"
    finally:
        second.close()
    # User variables pin their session; once it has gone, the next sees nothing of them.
    one(first, "SET @secret = 'first client'")
    assert one(first, "SELECT @secret") == "first client"
    first.close()
    with connect(port) as third:
        assert one(third, "SELECT @secret") is None
        assert one(third, f"SELECT @secret{ON_PRIMARY}") is None
        assert one(third, f"SELECT @@time_zone{ON_PRIMARY}") == "SYSTEM"
    stats = mysql_stats(pool_of_1)
    assert stats["pool_opened"] == 2  # one connection per server, all along
    assert stats["pool_borrows"] > 20  # borrowed again and again, statement by statement
    assert stats["pins_by_reason"]["user_variable"] == 1
    for server in (pair.primary, pair.replica):
        assert global_status(server, "Threads_connected") <= 1 + 1  # fastlb's + this query's


def test_many_clients_share_few_server_connections(pair: Pair, pool_of_2: FastlbProcess) -> None:
    port = sql_port(pool_of_2)
    # The previous test's fastlb was stopped without a goodbye on its server connections:
    # their server threads may not have noticed yet, and would count in the peak below.
    wait_for(
        lambda: all(
            global_status(s, "Threads_connected") <= 1 for s in (pair.primary, pair.replica)
        ),
        10,
        "the previous test's server connections closed",
    )
    before = {s: global_status(s, "Connections") for s in (pair.primary, pair.replica)}
    errors: list[BaseException] = []
    peak = {s: 0 for s in (pair.primary, pair.replica)}

    def persistent_client(number: int) -> None:
        try:
            with connect(port) as session:
                one(session, f"SET @@session.max_sort_length = {1000 + number}")
                for _ in range(15):
                    assert server_id(session) == REPLICA_ID
                    sql = f"SELECT @@server_id{ON_PRIMARY}"
                    assert server_id(session, sql) == PRIMARY_ID
                    assert one(session, "SELECT @@max_sort_length") == 1000 + number
        except BaseException as error:  # reported below
            errors.append(error)

    def short_clients() -> None:
        try:
            for _ in range(25):
                with connect(port) as session:
                    assert server_id(session, "SELECT @@server_id FROM items LIMIT 1") == REPLICA_ID
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=persistent_client, args=(n,)) for n in range(12)]
    threads += [threading.Thread(target=short_clients) for _ in range(4)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for server in peak:
            peak[server] = max(peak[server], global_status(server, "Threads_connected"))
        time.sleep(0.05)
    assert not errors, errors[:3]
    for server in (pair.primary, pair.replica):
        # 112 clients, 12 of them at once all along, on 2 connections per server (plus the
        # status queries' own connection).
        assert global_status(server, "Connections") - before[server] <= 2 + 200, server.address
        assert peak[server] <= 2 + 1, (server.address, peak[server])
    stats = mysql_stats(pool_of_2)
    assert stats["sessions"] == 112
    assert stats["pool_opened"] <= 4
    assert stats["pool_full_errors"] == 0


def test_transactions_and_pins_keep_their_connection(pool_of_1: FastlbProcess) -> None:
    port = sql_port(pool_of_1)
    holder = connect(port)
    waiter_done = threading.Event()
    seen: dict[str, Any] = {}

    def waiter() -> None:
        # Its login needs the primary's only connection, which the transaction holds.
        with connect(port, connect_timeout=10) as other:
            sql = "SELECT COUNT(*) FROM items WHERE v = 'in a transaction' FOR UPDATE"
            seen["count"] = one(other, sql)
        waiter_done.set()

    one(holder, "BEGIN")
    one(holder, "INSERT INTO items (v) VALUES ('in a transaction')")
    time.sleep(0.5)  # longer than the hold: an idle session outside a transaction lets go
    # Its own uncommitted row: the same server connection.
    assert one(holder, "SELECT COUNT(*) FROM items WHERE v = 'in a transaction'") == 1
    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.4)
    assert not waiter_done.is_set()
    one(holder, "COMMIT")
    thread.join()
    assert seen["count"] == 1  # served after the commit

    # A temporary table pins the session: its connection stays, the table with it.
    one(holder, "CREATE TEMPORARY TABLE scratch (a INT)")
    one(holder, "INSERT INTO scratch VALUES (1), (2)")
    time.sleep(0.5)  # longer than the hold: an unpinned session would have let go
    assert one(holder, "SELECT COUNT(*) FROM scratch") == 2
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(port).close()  # the primary's only connection is pinned
    assert refused.value.args[0] == 1040
    holder.close()
    with connect(port) as after, pytest.raises(pymysql.err.ProgrammingError):
        one(after, "SELECT COUNT(*) FROM scratch")  # gone with its session
    pins = mysql_stats(pool_of_1)["pins_by_reason"]
    assert pins["temporary_table"] == 1
    assert set(pins) >= {"lock", "user_variable", "sql_prepare", "autocommit_off"}
    status_code, metrics = pool_of_1.api("GET", "/metrics")
    assert status_code == 200
    assert 'fastlb_mysql_pins_total{proxy="sql",reason="temporary_table"} 1.0' in metrics
    assert 'fastlb_mysql_pins_total{proxy="sql",reason="lock"} 0.0' in metrics


def test_last_insert_id_row_count_found_rows_and_warnings(pool_of_2: FastlbProcess) -> None:
    port = sql_port(pool_of_2)
    with connect(port) as first, connect(port) as second:
        one(first, "INSERT INTO items (v) VALUES ('first')")
        first_id = first.insert_id()
        one(second, "INSERT INTO items (v) VALUES ('second')")
        second_id = second.insert_id()
        assert first_id != second_id
        assert one(first, "SELECT LAST_INSERT_ID()") == first_id
        assert one(second, "SELECT LAST_INSERT_ID()") == second_id
        # After the hold each borrows whichever connection is idle: still its own id.
        for _ in range(3):
            time.sleep(0.4)
            assert one(second, "SELECT LAST_INSERT_ID()") == second_id
            assert one(first, "SELECT LAST_INSERT_ID()") == first_id
        with connect(port) as third:
            assert one(third, "SELECT LAST_INSERT_ID()") == 0  # never another client's

        one(first, "UPDATE items SET v = 'updated' WHERE v = 'seed'")
        assert one(first, "SELECT ROW_COUNT()") == 3
        rows = one(first, "SELECT COUNT(*) FROM items FOR UPDATE")
        one(first, "SELECT SQL_CALC_FOUND_ROWS * FROM items LIMIT 1")
        one(second, "SELECT 1")
        assert one(first, "SELECT FOUND_ROWS()") == rows
        assert one(first, f"SELECT CAST('12abc' AS SIGNED){ON_PRIMARY}") == 12
        one(second, "SELECT 1")
        with first.cursor() as cursor:
            cursor.execute("SHOW WARNINGS")
            warnings = cursor.fetchall()
        assert len(warnings) == 1 and "12abc" in warnings[0][2]


def test_back_to_back_writers_share_one_connection_and_keep_their_row_counts(
    pool_of_1: FastlbProcess,
) -> None:
    """A write keeps its connection for the session's next statement (ROW_COUNT() may ask
    about it), but not against a session waiting for it. On ONE primary connection: a
    client that only inserts, back to back, and two that check ROW_COUNT() after each
    multi-row insert all make progress, none gets a 1040 (the connect timeout is 1 s), and
    each ROW_COUNT() is that client's own."""
    port = sql_port(pool_of_1)
    inserts = [0, 0, 0]
    wrong: list[Any] = []
    errors: list[Any] = []
    deadline = time.monotonic() + 4

    def writer(index: int) -> None:
        rows = index + 1
        values = ", ".join([f"('w{index}')"] * rows)
        try:
            with connect(port) as session:
                while time.monotonic() < deadline:
                    one(session, f"INSERT INTO items (v) VALUES {values}")
                    inserts[index] += 1
                    if index == 0:
                        continue  # never a statement that lets the connection go by itself
                    count = one(session, "SELECT ROW_COUNT()")
                    if count != rows:
                        wrong.append((index, count))
        except pymysql.err.MySQLError as error:
            errors.append((index, error.args))

    with ThreadPoolExecutor(3) as executor:
        list(executor.map(writer, range(3)))
    assert errors == [] and wrong == []
    assert min(inserts) >= 10, inserts


def connector_session(port: int) -> Any:
    return mysql.connector.connect(
        host="127.0.0.1", port=port, user=USER, password=PASSWORD, database="app", autocommit=True
    )


def test_prepared_statements_from_many_clients_on_few_connections(
    pair: Pair, pool_of_1: FastlbProcess
) -> None:
    port = sql_port(pool_of_1)
    before = global_status(pair.primary, "Connections")
    sessions = [connector_session(port) for _ in range(6)]
    try:
        cursors = [session.cursor(prepared=True) for session in sessions]
        for round_ in range(5):
            for n, cursor in enumerate(cursors):
                cursor.execute("SELECT ? + 1", (n * 10 + round_,))
                assert cursor.fetchall() == [(n * 10 + round_ + 1,)]
                cursor.execute("INSERT INTO items (v) VALUES (?)", (f"prepared {n} {round_}",))
                cursor.execute(
                    "SELECT COUNT(*) FROM items WHERE v = ? FOR UPDATE", (f"prepared {n} {round_}",)
                )
                assert cursor.fetchall() == [(1,)]
            time.sleep(0.3)  # every connection goes back to the pool
        for cursor in cursors:
            cursor.close()
    finally:
        for session in sessions:
            session.close()
    # Six clients, each statement on the one primary connection (plus the status query's
    # and fastlb's greeting-only probe of the server version, at the first client).
    assert global_status(pair.primary, "Connections") - before <= 1 + 2
    stats = mysql_stats(pool_of_1)
    assert stats["pool_opened"] == 2
    assert stats["pool_full_errors"] == 0
    # The executions count in the query digests, under their statement's text.
    status_code, report = pool_of_1.api("GET", "/api/mysql/digests")
    assert status_code == 200, report
    calls = {d["text"]: d["calls"] for d in report["frontends"]["sql"]["digests"]}
    assert calls["SELECT ? + ?"] == 6 * 5
    # PyMySQL clients (another login key: the connections are logged in again for them)
    # with the text protocol's placeholders, many on the same connection.
    plain = [connect(port) for _ in range(4)]
    try:
        for round_ in range(3):
            for n, session in enumerate(plain):
                assert one(session, "SELECT %s + 1", (n + round_,)) == n + round_ + 1
    finally:
        for session in plain:
            session.close()


def test_a_thousand_idle_clients_hold_at_most_max_per_server(pair: Pair, tmp_path: Path) -> None:
    config = pooled_config(pair, 2, multiplexing=True)
    config["frontends"][0]["idle_timeout"] = "10m"  # logging in 1,000 clients takes a while
    with running_proxy(config, tmp_path) as process:
        port = sql_port(process)
        idle: list[pymysql.Connection[Any]] = []
        try:
            with ThreadPoolExecutor(max_workers=8) as logins:
                idle.extend(logins.map(lambda _: connect(port, connect_timeout=10), range(1000)))
            # Every one of them logged in through the two primary connections, and sits idle.
            stats = mysql_stats(process)
            assert stats["sessions"] >= 1000
            assert stats["pool_open"] <= 2  # the replica's pool was never needed
            assert stats["pool_full_errors"] == 0
            assert global_status(pair.primary, "Threads_connected") <= 2 + 1
            # ... and each still answers, on those connections.
            for session in idle[::50]:
                assert server_id(session) == REPLICA_ID
                assert server_id(session, f"SELECT @@server_id{ON_PRIMARY}") == PRIMARY_ID
            assert mysql_stats(process)["pool_open"] <= 2 * 2
            assert global_status(pair.replica, "Threads_connected") <= 2 + 1
        finally:
            for session in idle:
                session.close()


def test_sessions_hold_their_connections_without_multiplexing(pair: Pair, tmp_path: Path) -> None:
    # The control for the tests above: the same two clients on a pool of one connection
    # per server, multiplexing off, get 1040 for the second.
    with pooled_proxy(pair, tmp_path, 1) as process:
        port = sql_port(process)
        with connect(port):
            with pytest.raises(pymysql.err.OperationalError) as refused:
                connect(port)
            assert refused.value.args[0] == 1040
