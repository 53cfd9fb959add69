"""fastlb's own errors through a `mode: mysql` frontend carry server-side error codes with a
SQLSTATE (never 2013, a client-side code that clients don't expect from a server), so that
the mariadb CLI, PyMySQL and mysql-connector all show fastlb's message text: at login (no
server available) and mid-session (the server connection of a transaction lost)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import mysql.connector
import pymysql
import pytest

from . import mariadb as mariadb_helpers
from .mariadb import PASSWORD, USER, Template
from .mysql_proxy import Pair, connect, one, proxy_config, running_proxy, sql_port, standalone_pair
from .proc import FastlbProcess, free_port, port_of

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with standalone_pair(mariadb_template) as started:
        yield started


@pytest.fixture(scope="module")
def proxy(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastlbProcess]:
    """Frontend `sql` in front of the pair; frontend `nowhere` in front of a backend whose
    servers don't listen."""
    config = proxy_config(pair)
    nowhere = {**config["frontends"][0], "name": "nowhere", "backend": "gone"}
    nowhere["listen"] = f"127.0.0.1:{free_port()}"
    config["frontends"].append(nowhere)
    gone = {**config["backends"][0], "name": "gone"}
    gone["servers"] = [
        {"name": "p", "address": f"127.0.0.1:{free_port()}", "role": "primary"},
        {"name": "r", "address": f"127.0.0.1:{free_port()}", "role": "replica"},
    ]
    config["backends"].append(gone)
    with running_proxy(config, tmp_path_factory.mktemp("fastlb")) as process:
        yield process


def nowhere_port(proxy: FastlbProcess) -> int:
    return port_of(proxy.config["frontends"][1]["listen"])


def cli(pair: Pair, port: int, script: str) -> subprocess.CompletedProcess[str]:
    """The mariadb CLI through the proxy, running `script`."""
    return subprocess.run(
        pair.primary.client_command("-e", script, tcp_port=port),
        env=pair.primary.client_env(PASSWORD),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def kill_server_connections(pair: Pair) -> None:
    """The primary closes every connection of the test user (as wait_timeout would)."""
    rows = pair.primary.sql_rows(
        f"SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{USER}'"
    )
    for row in rows:
        pair.primary.sql(f"KILL CONNECTION {row['ID']}")


def test_login_without_a_server_shows_fastlbs_message(pair: Pair, proxy: FastlbProcess) -> None:
    port = nowhere_port(proxy)
    with pytest.raises(pymysql.err.MySQLError) as raised:
        connect(port)
    code, message = raised.value.args
    assert "fastlb: no server" in message
    assert 1000 <= code < 2000, code

    with pytest.raises(mysql.connector.Error) as error:
        mysql.connector.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD)
    assert "fastlb: no server" in str(error.value.msg)
    assert error.value.errno is not None and 1000 <= error.value.errno < 2000
    assert error.value.sqlstate is not None

    result = cli(pair, port, "SELECT 1")
    assert result.returncode != 0
    assert "fastlb: no server" in result.stderr, result.stderr
    assert "malformed" not in result.stderr.lower()


def test_transaction_lost_mid_session_shows_fastlbs_message(
    pair: Pair, proxy: FastlbProcess
) -> None:
    port = sql_port(proxy)
    with connect(port) as session:
        one(session, "BEGIN")
        one(session, "INSERT INTO items (v) VALUES ('lost')")
        kill_server_connections(pair)
        with pytest.raises(pymysql.err.MySQLError) as raised:
            one(session, "SELECT 1")
        code, message = raised.value.args
        assert "fastlb:" in message and "transaction" in message, message
        assert 1000 <= code < 2000, code

    connection = mysql.connector.connect(
        host="127.0.0.1", port=port, user=USER, password=PASSWORD, database="app"
    )
    cursor = connection.cursor()
    cursor.execute("BEGIN")
    cursor.execute("INSERT INTO items (v) VALUES ('lost')")
    kill_server_connections(pair)
    with pytest.raises(mysql.connector.Error) as error:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    assert "fastlb:" in str(error.value.msg), error.value
    assert error.value.errno is not None and 1000 <= error.value.errno < 2000
    connection.close()

    # The CLI, interactively: the kill happens between two statements of one session.
    process = subprocess.Popen(
        pair.primary.client_command(tcp_port=port),
        env=pair.primary.client_env(PASSWORD),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write("BEGIN; INSERT INTO app.items (v) VALUES ('lost'); SELECT 'in';\n")
    process.stdin.flush()
    deadline = time.monotonic() + 10
    while not pair.primary.sql_rows(
        "SELECT ID FROM information_schema.PROCESSLIST "
        f"WHERE USER = '{USER}' AND COMMAND = 'Sleep' AND TIME_MS > 0"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)
    kill_server_connections(pair)
    _, stderr = process.communicate("SELECT 'after';\n", timeout=30)
    assert "fastlb:" in stderr, stderr
    assert "malformed" not in stderr.lower()
