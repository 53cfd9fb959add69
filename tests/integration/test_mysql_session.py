"""`mode: mysql` session commands through a real `fastlb serve`: COM_CHANGE_USER,
COM_RESET_CONNECTION, LOAD DATA LOCAL INFILE, COM_PING and idle sessions, and the stats
and metrics a session leaves behind."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mysql.connector
import pytest

from . import mariadb as mariadb_helpers
from .clients import wait_until
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

OTHER_USER, OTHER_PASSWORD = "reporting", "report-pw"
# May change binary logging on the primary (BINLOG ADMIN, in ALL), not on the replica.
SPLIT_USER, SPLIT_PASSWORD = "ops", "ops-pw"


@pytest.fixture(scope="module")
def proxy(
    mariadb_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastlbProcess]:
    with standalone_pair(mariadb_template) as pair:
        for server in (pair.primary, pair.replica):
            server.sql(
                f"CREATE USER '{OTHER_USER}'@'%' IDENTIFIED BY '{OTHER_PASSWORD}';"
                f"GRANT SELECT ON *.* TO '{OTHER_USER}'@'%';"
                f"CREATE USER '{SPLIT_USER}'@'%' IDENTIFIED BY '{SPLIT_PASSWORD}';"
            )
        pair.primary.sql(f"GRANT ALL ON *.* TO '{SPLIT_USER}'@'%'")
        pair.replica.sql(f"GRANT SELECT ON *.* TO '{SPLIT_USER}'@'%'")
        config = proxy_config(pair)
        config["backends"][0]["mysql"]["users"] += [
            {"user": OTHER_USER, "password": OTHER_PASSWORD},
            {"user": SPLIT_USER, "password": SPLIT_PASSWORD},
        ]
        with running_proxy(config, tmp_path_factory.mktemp("fastlb")) as process:
            yield process


@pytest.fixture
def port(proxy: FastlbProcess) -> int:
    return sql_port(proxy)


def connector(port: int) -> mysql.connector.MySQLConnection:
    connection = mysql.connector.connect(
        host="127.0.0.1",
        port=port,
        user=USER,
        password=PASSWORD,
        database="app",
        autocommit=True,
        use_pure=True,
    )
    assert isinstance(connection, mysql.connector.MySQLConnection)
    return connection


def value(connection: mysql.connector.MySQLConnection, sql: str) -> object:
    cursor = connection.cursor()
    cursor.execute(sql)
    row = cursor.fetchone()
    cursor.close()
    assert row is not None
    return row[0]


def test_change_user_starts_over_as_the_new_user(port: int) -> None:
    connection = connector(port)
    try:
        cursor = connection.cursor()
        cursor.execute("SET @@session.sql_mode = 'ANSI_QUOTES'")
        connection.cmd_change_user(username=OTHER_USER, password=OTHER_PASSWORD, database="app")
        assert str(value(connection, "SELECT CURRENT_USER()")).startswith(OTHER_USER)
        assert value(connection, "SELECT @@server_id") == REPLICA_ID
        assert value(connection, "SELECT @@sql_mode") != "ANSI_QUOTES", "state was reset"
    finally:
        connection.close()


def test_change_user_with_a_wrong_password_is_refused(port: int) -> None:
    connection = connector(port)
    try:
        with pytest.raises(mysql.connector.Error) as refused:
            connection.cmd_change_user(username=OTHER_USER, password="wrong", database="app")
        assert refused.value.errno == 1045
    finally:
        connection.close()


def test_reset_connection_forgets_session_state(port: int, proxy: FastlbProcess) -> None:
    connection = connector(port)
    try:
        cursor = connection.cursor()
        cursor.execute("SET @pinned = 1")  # pins the session to the primary
        assert value(connection, "SELECT @@server_id") == PRIMARY_ID
        connection.cmd_reset_connection()
        assert value(connection, "SELECT @@server_id") == REPLICA_ID, "the pin is gone"
        assert value(connection, "SELECT @pinned") is None, "so is the variable"
    finally:
        connection.close()
    assert mysql_stats(proxy)["pinned_sessions"] == 0


@pytest.mark.parametrize("replica_connection", ["open", "not yet open"])
def test_a_setting_the_replica_refuses_moves_the_session_to_the_primary(
    port: int, proxy: FastlbProcess, replica_connection: str
) -> None:
    with connect(port, user=SPLIT_USER, password=SPLIT_PASSWORD) as session:
        if replica_connection == "open":
            assert server_id(session) == REPLICA_ID
        pinned = mysql_stats(proxy)["pinned_sessions"]
        with session.cursor() as cursor:
            cursor.execute("SET SESSION sql_log_bin = 0")  # the replica would refuse it
        # Replayed on the replica before the next read (on the open connection, or on a new
        # one as it opens), refused: the read runs on the primary instead of failing, and so
        # does every later one.
        assert server_id(session) == PRIMARY_ID
        assert server_id(session) == PRIMARY_ID
        assert one(session, "SELECT @@sql_log_bin") == 0
        assert mysql_stats(proxy)["pinned_sessions"] == pinned + 1
    assert wait_until(lambda: mysql_stats(proxy)["pinned_sessions"] == pinned, timeout=5)


def test_load_data_local_infile(port: int, tmp_path: Path) -> None:
    data = tmp_path / "rows.tsv"
    data.write_text("".join(f"infile-{i}\n" for i in range(500)))
    with connect(port, local_infile=True) as db:
        cursor = db.cursor()
        cursor.execute(f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE items (v)")
        assert cursor.rowcount == 500
        assert one(db, "SELECT COUNT(*) FROM items WHERE v LIKE 'infile-%' FOR UPDATE") == 500


def test_ping_and_a_long_idle_session(port: int) -> None:
    with connect(port) as db:
        db.ping(reconnect=False)
        assert server_id(db) == REPLICA_ID
        db.ping(reconnect=False)


def test_stats_and_metrics_show_the_routing(port: int, proxy: FastlbProcess) -> None:
    with connect(port) as db:
        server_id(db)
        db.cursor().execute("INSERT INTO items (v) VALUES ('metrics')")
    stats = proxy.stats()
    frontend = stats["frontends"]["sql"]
    assert frontend["mode"] == "mysql"
    assert frontend["mysql"]["sessions"] >= 1
    servers = stats["backends"]["db"]["servers"]
    assert servers["primary"]["mysql"]["role"] == "primary"
    assert servers["replica"]["mysql"]["role"] == "replica"
    assert servers["replica"]["mysql"]["queries"] >= 1
    assert servers["primary"]["mysql"]["queries"] >= 1
    assert proxy.api_url is not None
    with urllib.request.urlopen(f"{proxy.api_url}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert 'fastlb_mysql_queries_total{proxy="sql",route="replica"}' in metrics
    assert 'fastlb_mysql_server_role{proxy="db",role="primary",server="primary"} 1.0' in metrics
