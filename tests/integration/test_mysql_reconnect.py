"""A server closing fastlb's idle connection (its `wait_timeout`, a restart) through a
`mode: mysql` frontend: with no transaction and nothing pinned, the next statement runs on a
new connection with the session's state replayed, and the client sees nothing; with a
transaction or pinned state, the client gets a clear error and its connection is closed."""

from __future__ import annotations

import time
from collections.abc import Iterator
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
    one,
    proxy_config,
    running_proxy,
    server_id,
    sql_port,
    standalone_pair,
)
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(120)

# The servers' wait_timeout in these tests, and how long a session idles past it.
WAIT_TIMEOUT = 1
IDLE = WAIT_TIMEOUT + 1.5


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with standalone_pair(mariadb_template) as started:
        yield started


@pytest.fixture(scope="module")
def proxy(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastlbProcess]:
    with running_proxy(proxy_config(pair), tmp_path_factory.mktemp("fastlb")) as process:
        yield process


@pytest.fixture
def short_wait_timeout(pair: Pair) -> Iterator[None]:
    """New server connections are closed after WAIT_TIMEOUT idle seconds."""
    for server in (pair.primary, pair.replica):
        server.sql(f"SET GLOBAL wait_timeout = {WAIT_TIMEOUT}")
    yield
    for server in (pair.primary, pair.replica):
        if server.running():
            server.sql("SET GLOBAL wait_timeout = 28800")


def session_with_state(port: int) -> pymysql.Connection[Any]:
    """A session with a server connection on each side and a setting to replay."""
    session = connect(port)
    one(session, "SET SESSION sql_mode = 'ANSI_QUOTES'")
    assert server_id(session) == REPLICA_ID
    one(session, "INSERT INTO items (v) VALUES ('first')")
    return session


def still_serves(session: pymysql.Connection[Any]) -> None:
    one(session, "INSERT INTO items (v) VALUES ('after')")
    assert server_id(session) == REPLICA_ID
    assert server_id(session, "SELECT @@server_id FROM items LIMIT 1 FOR UPDATE") == PRIMARY_ID
    # The setting was replayed on both new connections.
    assert one(session, "SELECT @@sql_mode") == "ANSI_QUOTES"
    assert one(session, "SELECT @@sql_mode FROM items LIMIT 1 FOR UPDATE") == "ANSI_QUOTES"


@pytest.mark.usefixtures("short_wait_timeout")
def test_wait_timeout_is_invisible_outside_transactions(port: int) -> None:
    with session_with_state(port) as session:
        time.sleep(IDLE)
        still_serves(session)
        # And again (the new connections time out as well).
        time.sleep(IDLE)
        assert server_id(session) == REPLICA_ID
        one(session, "INSERT INTO items (v) VALUES ('again')")


@pytest.mark.usefixtures("short_wait_timeout")
@pytest.mark.parametrize(
    ("setup", "word"),
    [
        (("BEGIN", "INSERT INTO items (v) VALUES ('lost')"), "transaction"),
        (("SET @kept = 1",), "session state"),
    ],
)
def test_wait_timeout_in_a_transaction_or_pinned_closes_the_client(
    port: int, setup: tuple[str, ...], word: str
) -> None:
    with connect(port) as session:
        for sql in setup:
            one(session, sql)
        time.sleep(IDLE)
        with pytest.raises(pymysql.err.OperationalError) as raised:
            one(session, "SELECT 1")
        code, message = raised.value.args
        assert code == 1927
        assert "fastlb:" in message and word in message, message
        with pytest.raises(pymysql.err.Error):
            one(session, "SELECT 1")


def test_server_restart_is_invisible_outside_transactions(pair: Pair, port: int) -> None:
    with session_with_state(port) as session:
        for server in (pair.primary, pair.replica):
            server.stop()
            server.start()
        still_serves(session)


@pytest.fixture
def port(proxy: FastlbProcess) -> int:
    return sql_port(proxy)
