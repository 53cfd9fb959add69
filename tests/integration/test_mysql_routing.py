"""`mode: mysql` read/write splitting through a real `fastlb serve` in front of two private
MariaDB servers: where each kind of statement lands (@@server_id 1 = primary, 2 = replica),
transactions and autocommit=0, session state following the session to the replica, pins,
prepared statements, multi-statements, large packets, the mariadb CLI, logins and hostile
bytes."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import mysql.connector
import pymysql
import pytest

from . import mariadb as mariadb_helpers
from .mariadb import PASSWORD, USER, Template
from .mysql_proxy import (
    PRIMARY_ID,
    REPLICA_ID,
    connect,
    mysql_stats,
    one,
    proxy_config,
    running_proxy,
    server_id,
    sql_port,
    standalone_pair,
)
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def proxy(
    mariadb_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastlbProcess]:
    with (
        standalone_pair(mariadb_template) as pair,
        running_proxy(proxy_config(pair), tmp_path_factory.mktemp("fastlb")) as process,
    ):
        yield process


@pytest.fixture
def port(proxy: FastlbProcess) -> int:
    return sql_port(proxy)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT @@server_id", REPLICA_ID),
        ("select /* comment */ @@server_id", REPLICA_ID),
        ("SELECT @@server_id FROM items FOR UPDATE", None),
        ("SELECT @@server_id FROM items LOCK IN SHARE MODE", None),
        ("SELECT @@server_id + 0*LAST_INSERT_ID()", PRIMARY_ID),
        (
            "SELECT @@server_id + 0*GET_LOCK('fastlb-test', 0) + 0*RELEASE_LOCK('fastlb-test')",
            PRIMARY_ID,
        ),
    ],
)
def test_where_statements_land(port: int, sql: str, expected: int | None) -> None:
    with connect(port) as db:
        if expected is None:  # a locking read of an empty table: no row, but which server?
            db.cursor().execute("INSERT INTO items (v) VALUES ('lock target')")
            sql = sql.replace("@@server_id", "@@server_id AS s")
        assert server_id(db, sql) == (PRIMARY_ID if expected is None else expected)


def test_writes_go_to_the_primary(port: int, proxy: FastlbProcess) -> None:
    before = mysql_stats(proxy)
    with connect(port) as db:
        db.cursor().execute("INSERT INTO items (v) VALUES ('written')")
        # It is on the primary only (no replication between these two).
        assert one(db, "SELECT COUNT(*) FROM items WHERE v = 'written' FOR UPDATE") >= 1
        assert one(db, "SELECT COUNT(*) FROM items WHERE v = 'written'") == 0
        assert server_id(db) == REPLICA_ID
    after = mysql_stats(proxy)
    assert after["queries_primary"] >= before["queries_primary"] + 2
    assert after["queries_replica"] >= before["queries_replica"] + 2


def test_transactions_stay_on_the_primary(port: int) -> None:
    with connect(port) as db:
        db.begin()
        assert server_id(db) == PRIMARY_ID
        db.cursor().execute("INSERT INTO items (v) VALUES ('in trx')")
        assert server_id(db) == PRIMARY_ID
        db.commit()
        assert server_id(db) == REPLICA_ID
        cursor = db.cursor()
        cursor.execute("START TRANSACTION")
        assert server_id(db) == PRIMARY_ID
        cursor.execute("ROLLBACK")
        assert server_id(db) == REPLICA_ID


def test_autocommit_off_keeps_everything_on_the_primary(port: int) -> None:
    with connect(port, autocommit=False) as db:
        assert server_id(db) == PRIMARY_ID
        db.cursor().execute("INSERT INTO items (v) VALUES ('manual')")
        db.commit()
        assert server_id(db) == PRIMARY_ID
        db.autocommit(True)
        assert server_id(db) == REPLICA_ID


def test_read_only_transaction_runs_on_a_replica(port: int) -> None:
    with connect(port) as db:
        cursor = db.cursor()
        cursor.execute("START TRANSACTION READ ONLY")
        assert server_id(db) == REPLICA_ID
        assert one(db, "SELECT @@in_transaction") == 1
        cursor.execute("COMMIT")
        assert server_id(db) == REPLICA_ID


def test_session_state_follows_the_session_to_the_replica(port: int) -> None:
    with connect(port) as db:
        cursor = db.cursor()
        cursor.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
        cursor.execute("SET time_zone = '+05:00'")
        assert one(db, "SELECT CONCAT(@@sql_mode, ' ', @@time_zone, ' ', @@server_id)") == (
            f"ANSI_QUOTES +05:00 {REPLICA_ID}"
        )
        db.select_db("mysql")  # COM_INIT_DB
        assert one(db, "SELECT CONCAT(DATABASE(), ' ', @@server_id)") == f"mysql {REPLICA_ID}"
        cursor.execute("USE app")
        assert one(db, "SELECT CONCAT(DATABASE(), ' ', @@server_id)") == f"app {REPLICA_ID}"


def test_session_state_is_replayed_on_a_connection_opened_later(port: int) -> None:
    # The state is set before the session ever reads: the replica connection opens after.
    with connect(port, init_command="SET @@session.group_concat_max_len = 4242") as db:
        assert one(db, "SELECT @@group_concat_max_len") == 4242
        assert server_id(db) == REPLICA_ID


@pytest.mark.parametrize(
    "pin",
    [
        "CREATE TEMPORARY TABLE scratch (x INT)",
        "SET @marker = 42",
        "LOCK TABLES items READ",
    ],
)
def test_pins_keep_the_session_on_the_primary(port: int, proxy: FastlbProcess, pin: str) -> None:
    with connect(port) as db:
        assert server_id(db) == REPLICA_ID
        db.cursor().execute(pin)
        assert mysql_stats(proxy)["pinned_sessions"] >= 1
        assert server_id(db) == PRIMARY_ID
        if pin.startswith("CREATE TEMPORARY"):
            assert one(db, "SELECT COUNT(*) FROM scratch") == 0
        if pin.startswith("SET @marker"):
            assert one(db, "SELECT @marker") == 42
        if pin.startswith("LOCK"):
            db.cursor().execute("UNLOCK TABLES")


def test_prepared_statements(port: int) -> None:
    connection = mysql.connector.connect(
        host="127.0.0.1",
        port=port,
        user=USER,
        password=PASSWORD,
        database="app",
        autocommit=True,
        use_pure=True,
    )
    try:
        cursor = connection.cursor(prepared=True)
        cursor.execute("SELECT @@server_id, ?, ?", (7, "seven"))
        assert cursor.fetchall() == [(REPLICA_ID, 7, "seven")]
        # Executed again with new values: the types were bound by the first execution.
        cursor.execute("SELECT @@server_id, ?, ?", (8, "eight"))
        assert cursor.fetchall() == [(REPLICA_ID, 8, "eight")]
        writer = connection.cursor(prepared=True)
        writer.execute("INSERT INTO items (v) VALUES (?)", ("prepared",))
        assert writer.lastrowid and writer.lastrowid > 0
        # The read statement now runs inside a transaction: prepared on the primary on demand.
        connection.start_transaction()
        cursor.execute("SELECT @@server_id, ?, ?", (9, "nine"))
        assert cursor.fetchall() == [(PRIMARY_ID, 9, "nine")]
        connection.commit()
        cursor.close()
        writer.close()
    finally:
        connection.close()


def test_multi_statements_and_results_on_the_primary(port: int) -> None:
    with connect(port, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS) as db:
        cursor = db.cursor()
        cursor.execute("SELECT @@server_id; SELECT 2")
        assert cursor.fetchall() == ((PRIMARY_ID,),)
        assert cursor.nextset()
        assert cursor.fetchall() == ((2,),)


def test_packets_over_16_mib_pass_intact(port: int) -> None:
    blob = "x" * (17 * 1024 * 1024) + "end"
    with connect(port) as db:
        cursor = db.cursor()
        cursor.execute("INSERT INTO items (v) VALUES (%s)", (blob,))
        new_id = cursor.lastrowid
        cursor.execute("SELECT v FROM items WHERE id = %s FOR UPDATE", (new_id,))
        (value,) = cursor.fetchone()
        assert len(value) == len(blob) and value.endswith("end")
        cursor.execute("DELETE FROM items WHERE id = %s", (new_id,))


def test_mariadb_cli(port: int) -> None:
    result = subprocess.run(
        [
            "mariadb",
            "-h",
            "127.0.0.1",
            "-P",
            str(port),
            "-u",
            USER,
            f"-p{PASSWORD}",
            "app",
            "--batch",
            "--skip-column-names",
            "-e",
            "SELECT @@server_id; INSERT INTO items (v) VALUES ('cli'); SELECT 'done'",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The CLI sends its statements one at a time: the SELECT is a plain read.
    assert result.stdout.split() == [str(REPLICA_ID), "done"]


def test_wrong_password_and_unknown_user_are_refused(port: int, proxy: FastlbProcess) -> None:
    before = mysql_stats(proxy)["auth_failures"]
    for user, password in ((USER, "wrong"), ("nobody", PASSWORD)):
        with pytest.raises(pymysql.err.OperationalError) as refused:
            connect(port, user=user, password=password)
        assert refused.value.args[0] == 1045
        assert f"Access denied for user '{user}'" in refused.value.args[1]
    assert mysql_stats(proxy)["auth_failures"] == before + 2


def test_unknown_database_is_the_servers_error(port: int) -> None:
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(port, database="no_such_db")
    assert refused.value.args[0] == 1049


@pytest.mark.parametrize(
    ("garbage", "answered"),
    [
        # Read as a packet header: a multi-megabyte length; the client then hangs up.
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),
        (b"\xff\xff\xff\x00" + b"A" * 64, False),
        # A complete packet, too short for a handshake response: "Bad handshake".
        (b"\x01\x00\x00\x01\x00", True),
    ],
)
def test_hostile_bytes_close_only_that_connection(
    port: int, proxy: FastlbProcess, garbage: bytes, answered: bool
) -> None:
    with connect(port) as bystander:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as hostile:
            assert hostile.recv(4096)[4:5] == b"\x0a"  # the greeting
            hostile.sendall(garbage)
            hostile.shutdown(socket.SHUT_WR)
            reply = _drain(hostile)  # a timeout here: the proxy kept the connection
            if answered:
                assert reply[4:5] == b"\xff" and b"Bad handshake" in reply, reply
        assert server_id(bystander) == REPLICA_ID
    with connect(port) as fresh:
        assert server_id(fresh) == REPLICA_ID


def test_malformed_command_after_login_gets_an_error_and_the_close(port: int) -> None:
    with connect(port) as db:
        sock: Any = db._sock
        sock.sendall(b"\x03\x00\x00\x00\x17\x01\x00")  # COM_STMT_EXECUTE, truncated id
        reply = _drain(sock)
        assert reply[4:5] == b"\xff", reply
        assert b"Malformed" in reply or b"Unknown prepared statement" in reply


def _drain(sock: socket.socket) -> bytes:
    data = b""
    sock.settimeout(5)
    while chunk := sock.recv(65536):
        data += chunk
    return data
