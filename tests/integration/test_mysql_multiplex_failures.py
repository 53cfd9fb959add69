"""A server dying under multiplexed traffic (`mysql.pool.multiplexing`), against real
MariaDB servers: many clients (reads and writes) share a few pooled server connections when
the primary's mariadbd is killed (SIGKILL, by its pid) and started again. Clients see a
clear error they can reconnect after — never a hang, never another client's answer; only
statements running on the primary when it died fail with "lost the connection" (a dead
pooled connection is never handed out: not once more to the session that held it, not to
another); once the server is back the pool refills, every client works again, and the
server holds no more than `max_per_server` connections."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from fastlb.harness.waiting import wait_for

from . import mariadb as mariadb_helpers
from .mariadb import Template
from .mysql_proxy import (
    PRIMARY_ID,
    REPLICA_ID,
    Pair,
    connect,
    global_status,
    mysql_stats,
    pooled_proxy,
    seeded_pair,
    sql_port,
)
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(180)

MAX_PER_SERVER = 3
CLIENTS = 8
# fastlb's answers while the primary is dead: the statement it ran died with its server
# connection (1158), or no primary takes the statement (1290).
LOST_DURING_STATEMENT, NO_PRIMARY = 1158, 1290
# The client library's own: fastlb closed the client's connection mid-answer.
CLIENT_LOST = (2006, 2013)
# A client's statement never takes this long here (a hang would).
BOUNDED = 10.0


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with seeded_pair(mariadb_template) as started:
        yield started


@pytest.fixture
def multiplexed(pair: Pair, tmp_path: Path) -> Iterator[FastlbProcess]:
    # Eight clients on three connections: a borrow may wait behind a few statements.
    with pooled_proxy(
        pair, tmp_path, MAX_PER_SERVER, multiplexing=True, connect_timeout="3s"
    ) as process:
        yield process


class Client:
    """A client that runs, until stopped, a read (the replica), a write and a read of that
    row bound to the primary, each carrying a marker of its own that the answer must carry
    back; after an error it reconnects, as an application does."""

    def __init__(self, port: int, number: int) -> None:
        self.port, self.number = port, number
        self.errors: list[tuple[int, str, float]] = []
        self.wrong_answers: list[Any] = []
        self.successes: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _round(self, session: pymysql.Connection[Any], marker: int) -> None:
        with session.cursor() as cursor:
            cursor.execute("SELECT %s, @@server_id", (marker,))
            row = cursor.fetchone()
            if row != (marker, REPLICA_ID):
                self.wrong_answers.append(("read", marker, row))
            cursor.execute("INSERT INTO app.items (v) VALUES (%s)", (str(marker),))
            cursor.execute(
                "SELECT v, @@server_id FROM app.items WHERE id = %s FOR UPDATE",
                (cursor.lastrowid,),
            )
            row = cursor.fetchone()
            # None: the primary died right after the write, and the read went to the
            # replica, which doesn't have the row (these servers don't replicate).
            if row not in ((str(marker), PRIMARY_ID), None):
                self.wrong_answers.append(("written row", marker, row))

    def _run(self) -> None:
        session: pymysql.Connection[Any] | None = None
        marker = self.number * 1_000_000
        while not self._stop.is_set():
            marker += 1
            start = time.monotonic()
            try:
                if session is None:
                    session = connect(self.port, read_timeout=BOUNDED + 5)
                self._round(session, marker)
            except pymysql.err.MySQLError as error:
                code = error.args[0] if error.args else 0
                self.errors.append((code, str(error), time.monotonic() - start))
                if session is not None:
                    session.close()
                session = None
                time.sleep(0.05)  # pacing: a client retrying, not spinning
                continue
            self.successes.append(time.monotonic())
        if session is not None:
            session.close()

    def succeeded_since(self, moment: float, count: int) -> bool:
        return sum(1 for at in self.successes if at > moment) >= count

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(BOUNDED + 30)
        assert not self._thread.is_alive(), f"client {self.number} hangs"


def test_primary_killed_and_restarted_under_multiplexed_clients(
    pair: Pair, multiplexed: FastlbProcess
) -> None:
    port = sql_port(multiplexed)
    clients = [Client(port, number) for number in range(1, CLIENTS + 1)]
    try:
        wait_for(lambda: all(c.succeeded_since(0, 20) for c in clients), 30, "clients started")
        wait_for(lambda: mysql_stats(multiplexed)["pool_open"] >= 2, 10, "pooled connections")
        pair.primary.kill()
        # The replica goes on serving reads; statements for the primary fail meanwhile.
        wait_for(
            lambda: sum(len(c.errors) for c in clients) >= CLIENTS, 30, "clients saw the death"
        )
        opened_before = mysql_stats(multiplexed)["pool_opened"]
        pair.primary.start()
        back = time.monotonic()
        wait_for(lambda: all(c.succeeded_since(back, 20) for c in clients), 60, "clients back")
    finally:
        for client in clients:
            client.stop()
    errors = [error for client in clients for error in client.errors]
    codes = Counter(code for code, _, _ in errors)
    # Nothing but a clear error a client can reconnect after, and each one quick.
    assert set(codes) <= {LOST_DURING_STATEMENT, NO_PRIMARY, *CLIENT_LOST}, errors
    assert max(elapsed for _, _, elapsed in errors) < BOUNDED, errors
    assert codes[NO_PRIMARY] >= 1, errors
    # Only a statement running on the primary when it died is lost with its connection:
    # at most one per pooled connection to it. A dead connection handed out again (to its
    # session or another) would fail one more statement each time.
    lost = codes[LOST_DURING_STATEMENT] + sum(codes[code] for code in CLIENT_LOST)
    assert lost <= MAX_PER_SERVER, errors
    # No client ever got another's answer, or one from the wrong server.
    assert [c.wrong_answers for c in clients] == [[]] * CLIENTS
    assert all(c.successes[-1] > back for c in clients)
    # The pool refilled with new logins to the restarted primary, within its limit.
    stats = mysql_stats(multiplexed)
    assert stats["pool_opened"] > opened_before
    assert stats["pool_open"] <= 2 * MAX_PER_SERVER
    for server in (pair.primary, pair.replica):
        # fastlb's connections, and the status query's own.
        assert global_status(server, "Threads_connected") <= MAX_PER_SERVER + 1


def test_idle_pooled_connections_of_a_restarted_server_are_never_handed_out(
    pair: Pair, multiplexed: FastlbProcess
) -> None:
    """The primary restarts while every pooled connection to it is idle: each of them is
    dead, and each is found so (when handed out, or by the background sweep) and replaced by
    a new login — the next writes all succeed, none fails on a dead connection."""
    port = sql_port(multiplexed)
    sessions = [connect(port) for _ in range(MAX_PER_SERVER)]
    try:
        # Three transactions at once hold three connections to the primary; once they end
        # the connections go back to the pool, idle.
        for session in sessions:
            with session.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("INSERT INTO app.items (v) VALUES ('before')")
        for session in sessions:
            session.commit()
        wait_for(lambda: mysql_stats(multiplexed)["pool_idle"] >= MAX_PER_SERVER, 10, "idle pool")
        opened_before = mysql_stats(multiplexed)["pool_opened"]
        pair.primary.kill()
        pair.primary.start()
        for round_ in range(3):
            for number, session in enumerate(sessions):
                with session.cursor() as cursor:
                    cursor.execute("INSERT INTO app.items (v) VALUES (%s)", (f"after {number}",))
                    cursor.execute(
                        "SELECT v, @@server_id FROM app.items WHERE id = %s FOR UPDATE",
                        (cursor.lastrowid,),
                    )
                    assert cursor.fetchone() == (f"after {number}", PRIMARY_ID), round_
    finally:
        for session in sessions:
            session.close()
    assert mysql_stats(multiplexed)["pool_opened"] > opened_before
    assert global_status(pair.primary, "Threads_connected") <= MAX_PER_SERVER + 1
