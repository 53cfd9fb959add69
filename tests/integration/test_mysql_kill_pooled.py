"""`KILL` through a `mode: mysql` frontend with the pool and multiplexing on (`mysql.pool`),
against real MariaDB servers. A multiplexed session's server connection is lent to other
sessions between its statements, so a `KILL [QUERY] <id>` (fastlb's session id) must reach
that session's statement and never another session's that runs, now or later, on a
connection the victim used: the victim is interrupted or disconnected, bystanders never."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from fastlb.harness.waiting import wait_for

from . import mariadb as mariadb_helpers
from .mariadb import Template
from .mysql_proxy import Pair, connect, one, pooled_proxy, sql_port, standalone_pair
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(120)

# Long enough to be interrupted, short enough that a test that fails doesn't wait.
SLEEP = 5.0
# Interrupted well before SLEEP ends (a loaded 2-core machine is slow, not this slow).
INTERRUPTED = SLEEP - 2.0
# What an interrupted SLEEP() answers: 1 (MySQL) or error 1317 (MariaDB's "Query execution
# was interrupted"); 0 when it ran to its end.
INTERRUPTIONS = (1, ("error", 1317))
# What a bystander sleeps per statement.
BYSTANDER_SLEEP = 0.2


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with standalone_pair(mariadb_template) as started:
        yield started


@pytest.fixture
def pool_of_1(pair: Pair, tmp_path: Path) -> Iterator[FastlbProcess]:
    """One server connection per server, multiplexed: every session's statements run on the
    same two connections, lent from session to session."""
    # Sessions wait for the one connection while another's SLEEP runs on it.
    with pooled_proxy(pair, tmp_path, 1, multiplexing=True, connect_timeout="10s") as process:
        yield process


def session_id(connection: pymysql.Connection[Any]) -> int:
    """The connection id of the greeting: fastlb's session id."""
    return int(connection.thread_id())  # type: ignore[no-untyped-call]


class Bystander:
    """A client that runs `SELECT SLEEP(0.2)` again and again on its own session until
    stopped, keeping every outcome that shows an interruption (an answer of 1, an error, a
    statement that ended early)."""

    def __init__(self, port: int) -> None:
        self.connection = connect(port, read_timeout=30)
        self.statements = 0
        self.interrupted: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                answer = one(self.connection, f"SELECT SLEEP({BYSTANDER_SLEEP})")
            except pymysql.err.MySQLError as error:
                self.interrupted.append(("error", error.args))
                return
            elapsed = time.monotonic() - start
            if answer != 0 or elapsed < BYSTANDER_SLEEP:
                self.interrupted.append((answer, elapsed))
            self.statements += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()
        self.connection.close()


def timed(connection: pymysql.Connection[Any], sql: str) -> tuple[Any, float]:
    """(the first value, or ("error", code)), and how long the statement took."""
    start = time.monotonic()
    try:
        outcome = one(connection, sql)
    except pymysql.err.MySQLError as error:
        outcome = ("error", error.args[0])
    return outcome, time.monotonic() - start


def wait_running(pair: Pair, sql: str) -> None:
    """Returns once `sql` runs on the replica (reads go there)."""
    running = (
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        f"WHERE INFO = '{sql}' AND COMMAND = 'Query'"
    )
    wait_for(lambda: pair.replica.sql(running).split()[-1] != "0", 10, f"{sql} running")


def test_kill_query_and_kill_reach_the_victim_only(pair: Pair, pool_of_1: FastlbProcess) -> None:
    port = sql_port(pool_of_1)
    bystander = Bystander(port)
    victim = connect(port, read_timeout=30)
    killer = connect(port)
    try:
        # KILL QUERY: the victim's SLEEP stops early, the session lives on.
        running: list[tuple[Any, float]] = []
        thread = threading.Thread(
            target=lambda: running.append(timed(victim, f"SELECT SLEEP({SLEEP})"))
        )
        thread.start()
        wait_running(pair, f"SELECT SLEEP({SLEEP})")
        one(killer, f"KILL QUERY {session_id(victim)}")
        thread.join(SLEEP + 20)
        (answer, elapsed) = running[0]
        assert elapsed < INTERRUPTED, running
        assert answer in INTERRUPTIONS, running
        assert one(victim, "SELECT 1") == 1
        # KILL: the victim's statement stops and its session is closed.
        running.clear()
        thread = threading.Thread(
            target=lambda: running.append(timed(victim, f"SELECT SLEEP({SLEEP})"))
        )
        thread.start()
        wait_running(pair, f"SELECT SLEEP({SLEEP})")
        one(killer, f"KILL {session_id(victim)}")
        thread.join(SLEEP + 20)
        (outcome, elapsed) = running[0]
        assert elapsed < INTERRUPTED, running
        assert outcome[0] == "error", running
        with pytest.raises(pymysql.err.OperationalError):
            one(victim, "SELECT 1")
        # The connections the victim used serve the next sessions, and no KILL meant for
        # the victim reaches them.
        for _ in range(3):
            with connect(port) as next_session:
                outcome, elapsed = timed(next_session, f"SELECT SLEEP({BYSTANDER_SLEEP})")
                assert outcome == 0 and elapsed >= BYSTANDER_SLEEP, (outcome, elapsed)
    finally:
        bystander.stop()
        killer.close()
        victim.close()
    assert bystander.statements >= 3
    assert bystander.interrupted == []


def test_a_kill_storm_never_interrupts_the_sessions_sharing_the_connection(
    pool_of_1: FastlbProcess,
) -> None:
    """The victim runs short statements on the one replica connection, which the bystander
    borrows between them; KILL QUERY after KILL QUERY races the victim's statements ending
    and the connection changing hands. A KILL that arrived late (the victim's statement
    done, the connection lent on) would interrupt the bystander."""
    port = sql_port(pool_of_1)
    bystander = Bystander(port)
    victim = connect(port, read_timeout=30)
    killer = connect(port)
    stop = threading.Event()
    victim_statements = 0

    def victim_loop() -> None:
        nonlocal victim_statements
        while not stop.is_set():
            # Its own statements may be interrupted (SLEEP answers 1) or fail: the KILLs
            # are meant for it.
            timed(victim, "SELECT SLEEP(0.01)")
            victim_statements += 1

    victim_thread = threading.Thread(target=victim_loop, daemon=True)
    victim_thread.start()
    kills = 0
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            one(killer, f"KILL QUERY {session_id(victim)}")
            kills += 1
    finally:
        stop.set()
        victim_thread.join(30)
        bystander.stop()
        killer.close()
        victim.close()
    assert bystander.interrupted == []
    assert kills > 50 and victim_statements > 20, (kills, victim_statements)
    # The two take turns on the connection (about 40 statements each in 8 s here): the
    # victim, whose interrupted statements keep it for the next one, doesn't starve the
    # bystander, and a session that borrows again queues behind the one waiting already.
    assert bystander.statements > 20, (bystander.statements, victim_statements)
