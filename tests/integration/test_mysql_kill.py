"""`KILL` through a `mode: mysql` frontend: the ids a client sees (its greeting, CONNECTION_ID())
are fastlb's session ids, so `KILL [QUERY|CONNECTION] <id>` and COM_PROCESS_KILL are answered by
fastlb — allowed for the same user (or a `mysql.kill_admins` user), `1095` for another user's
session, `1094` for any other id — and never forwarded to a server, where that number is some
other thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiomysql
import pymysql
import pytest

from . import mariadb as mariadb_helpers
from .mariadb import PASSWORD, USER, Template
from .mysql_proxy import Pair, connect, one, proxy_config, running_proxy, sql_port, standalone_pair
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(90)

OTHER_USER, OTHER_PASSWORD = "other_app", "other-pw"
ADMIN_USER, ADMIN_PASSWORD = "dba", "dba-pw"
# A statement long enough to be interrupted, short enough that a test that fails doesn't wait.
SLEEP = 8.0
# Interrupted well before SLEEP ends (a loaded 2-core machine is slow, not this slow).
INTERRUPTED = SLEEP - 3.0


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with standalone_pair(mariadb_template) as started:
        for server in (started.primary, started.replica):
            for user, password in ((OTHER_USER, OTHER_PASSWORD), (ADMIN_USER, ADMIN_PASSWORD)):
                server.sql(
                    f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}';"
                    f"GRANT ALL ON app.* TO '{user}'@'%';"
                )
        yield started


@pytest.fixture(scope="module")
def proxy(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastlbProcess]:
    config = proxy_config(pair, kill_admins=[ADMIN_USER])
    config["backends"][0]["mysql"]["users"] += [
        {"user": OTHER_USER, "password": OTHER_PASSWORD},
        {"user": ADMIN_USER, "password": ADMIN_PASSWORD},
    ]
    with running_proxy(config, tmp_path_factory.mktemp("fastlb")) as process:
        yield process


@pytest.fixture
def port(proxy: FastlbProcess) -> int:
    return sql_port(proxy)


def session_id(connection: pymysql.Connection[Any]) -> int:
    """The connection id of the greeting (fastlb's session id)."""
    return int(connection.thread_id())  # type: ignore[no-untyped-call]


def error_code(call: Callable[[], Any]) -> int:
    with pytest.raises(pymysql.err.MySQLError) as raised:
        call()
    code: int = raised.value.args[0]
    return code


class Running:
    """`sql` run on `connection` in a thread; `.join()` says how long it took and how it
    ended (its first value, or the error code)."""

    def __init__(self, connection: pymysql.Connection[Any], sql: str) -> None:
        self.elapsed = 0.0
        self.outcome: Any = None
        self._thread = threading.Thread(target=self._run, args=(connection, sql), daemon=True)
        self._thread.start()

    def _run(self, connection: pymysql.Connection[Any], sql: str) -> None:
        start = time.monotonic()
        try:
            self.outcome = one(connection, sql)
        except pymysql.err.MySQLError as error:
            self.outcome = ("error", error.args[0])
        self.elapsed = time.monotonic() - start

    def join(self) -> Running:
        self._thread.join(SLEEP + 20)
        assert not self._thread.is_alive()
        return self


def wait_running(pair: Pair, sql_prefix: str, server: str = "primary") -> int:
    """The server thread id running a statement starting with `sql_prefix`, once it runs."""
    instance = pair.primary if server == "primary" else pair.replica
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = instance.sql_rows(
            "SELECT ID FROM information_schema.PROCESSLIST "
            f"WHERE INFO LIKE '{sql_prefix}%' AND COMMAND = 'Query'"
        )
        if rows:
            return int(rows[0]["ID"])
        time.sleep(0.05)
    raise AssertionError(f"{sql_prefix!r} never ran on the {server}")


def test_same_user_kill_query_interrupts_every_server_of_the_session(pair: Pair, port: int) -> None:
    with connect(port) as victim, connect(port) as killer:
        one(victim, "DO 1")  # the primary connection
        running = Running(victim, f"SELECT SLEEP({SLEEP})")  # a read: on the replica
        wait_running(pair, "SELECT SLEEP", "replica")
        with killer.cursor() as cursor:
            cursor.execute(f"KILL QUERY {session_id(victim)}")
        running.join()
        assert running.elapsed < INTERRUPTED, running.outcome
        # KILL QUERY leaves the session usable.
        assert one(victim, "SELECT 1") == 1


def test_another_users_query_is_not_killed(pair: Pair, port: int) -> None:
    with connect(port) as victim, connect(port, user=OTHER_USER, password=OTHER_PASSWORD) as other:
        running = Running(victim, "DO SLEEP(2)")
        wait_running(pair, "DO SLEEP")
        assert error_code(lambda: one(other, f"KILL QUERY {session_id(victim)}")) == 1095
        assert error_code(lambda: one(other, f"KILL {session_id(victim)}")) == 1095
        running.join()
        assert running.elapsed >= 1.9
        assert one(victim, "SELECT 1") == 1


def test_a_server_thread_id_is_never_forwarded(pair: Pair, port: int) -> None:
    """The attacker names the victim's *server* thread id: fastlb must not pass it on."""
    with (
        connect(port, user=OTHER_USER, password=OTHER_PASSWORD) as victim,
        connect(port) as attacker,
    ):
        running = Running(victim, f"DO SLEEP({SLEEP / 2})")
        thread_id = wait_running(pair, "DO SLEEP")
        assert error_code(lambda: one(attacker, f"KILL QUERY {thread_id}")) in (1094, 1095)
        running.join()
        assert running.outcome is None
        assert running.elapsed >= SLEEP / 2 - 0.1


def test_admin_may_kill_any_session(pair: Pair, port: int) -> None:
    with connect(port) as victim, connect(port, user=ADMIN_USER, password=ADMIN_PASSWORD) as admin:
        running = Running(victim, f"DO SLEEP({SLEEP})")
        wait_running(pair, "DO SLEEP")
        one(admin, f"KILL QUERY {session_id(victim)}")
        running.join()
        assert running.elapsed < INTERRUPTED


def test_kill_connection_closes_the_session(pair: Pair, port: int) -> None:
    with connect(port) as victim, connect(port) as killer:
        running = Running(victim, f"DO SLEEP({SLEEP})")
        wait_running(pair, "DO SLEEP")
        one(killer, f"KILL CONNECTION {session_id(victim)}")
        running.join()
        assert running.elapsed < INTERRUPTED
        assert running.outcome[0] == "error"
        with pytest.raises(pymysql.err.OperationalError):
            one(victim, "SELECT 1")
        # Its server connections are gone too.
        deadline = time.monotonic() + 5
        while pair.primary.sql_rows(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'DO SLEEP%'"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_unknown_ids_and_unsupported_forms(port: int) -> None:
    with connect(port) as session:
        assert error_code(lambda: one(session, "KILL 4000000000")) == 1094
        assert error_code(lambda: one(session, "KILL QUERY 4000000000")) == 1094
        assert error_code(lambda: one(session, "KILL USER fastlb_test")) == 1235
        assert error_code(lambda: one(session, "KILL QUERY ID 5")) == 1235
        assert error_code(lambda: one(session, "SELECT 1; KILL 5")) == 1235
        assert one(session, "SELECT 1") == 1


def test_connection_id_is_the_greetings(port: int) -> None:
    with connect(port) as session:
        assert one(session, "SELECT CONNECTION_ID()") == session_id(session)
        assert one(session, "select connection_id() AS id;") == session_id(session)
        with session.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            assert cursor.fetchone() == {"CONNECTION_ID()": session_id(session)}


def test_aiomysql_kill_uses_com_process_kill(pair: Pair, port: int) -> None:
    """aiomysql's `conn.kill(id)` sends COM_PROCESS_KILL (0x0c): same user kills, another
    user gets 1095."""

    async def scenario() -> None:
        options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "db": "app"}
        victim = await aiomysql.connect(user=USER, password=PASSWORD, **options)
        killer = await aiomysql.connect(user=USER, password=PASSWORD, **options)
        other = await aiomysql.connect(user=OTHER_USER, password=OTHER_PASSWORD, **options)
        try:
            cursor = await victim.cursor()
            start = time.monotonic()
            query = asyncio.ensure_future(cursor.execute(f"DO SLEEP({SLEEP})"))
            await asyncio.to_thread(wait_running, pair, "DO SLEEP")
            with pytest.raises(pymysql.err.MySQLError) as refused:
                await other.kill(victim.thread_id())
            assert refused.value.args[0] == 1095
            await killer.kill(victim.thread_id())
            with pytest.raises(pymysql.err.MySQLError):
                await query
            assert time.monotonic() - start < INTERRUPTED
        finally:
            for connection in (victim, killer, other):
                connection.close()

    asyncio.run(scenario())
