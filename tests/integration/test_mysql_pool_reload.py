"""Reloading `mysql.pool` under traffic, against real MariaDB servers: clients keep running
through `fastlb serve` while the file turns multiplexing off -> on -> off and changes
`max_per_server`. No client sees an error or another client's state (each sets its own
time zone, some a user variable), the servers' `Threads_connected` follows each new limit
(the pool closes what a lower limit leaves over, even while sessions of the old settings
still run), and the stats say what happened (pool figures, `pins_by_reason`, borrows)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from fastlb.harness.waiting import wait_for

from . import mariadb as mariadb_helpers
from .mariadb import Template
from .mysql_proxy import (
    Pair,
    connect,
    global_status,
    mysql_stats,
    one,
    pooled_proxy,
    seeded_pair,
    sql_port,
)
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(240)

ON_PRIMARY = " FROM app.items LIMIT 1 FOR UPDATE"
SHORT_LIVED_CLIENTS = 3
# Bound of the polls on a loaded 2-core machine (the sweep closes idle connections each s).
SETTLE = 15.0


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with seeded_pair(mariadb_template) as started:
        yield started


def threads_connected(pair: Pair) -> list[int]:
    """Each server's own count of its client connections (fastlb's, and the asking one)."""
    return [global_status(server, "Threads_connected") for server in (pair.primary, pair.replica)]


def reload_pool(process: FastlbProcess, **pool: Any) -> None:
    """Rewrites the file's `mysql.pool` and reloads through the API."""
    config = yaml.safe_load(process.config_path.read_text())
    config["backends"][0]["mysql"]["pool"].update(pool)
    process.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    status, reply = process.api("POST", "/api/reload")
    assert status == 200, reply


class Traffic:
    """Clients until stopped: `SHORT_LIVED_CLIENTS` threads of short sessions (log in, set
    a time zone of their own, read it back on the replica and on the primary, every third
    session also a user variable (a pin), quit), and long-lived sessions added with
    `add_long_lived` (the same checks, on one session for as long as the traffic runs)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.errors: list[Any] = []
        self.sessions = 0
        self.pinned_sessions = 0
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._short_lived, daemon=True)
            for _ in range(SHORT_LIVED_CLIENTS)
        ]
        for thread in self._threads:
            thread.start()

    def add_long_lived(self) -> None:
        thread = threading.Thread(target=self._long_lived, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _check_own_state(self, session: pymysql.Connection[Any], zone: str, pin: bool) -> None:
        if pin:
            one(session, "SET @owner = %s", (zone,))
        for read in ("", ON_PRIMARY):
            seen = (one(session, f"SELECT @@time_zone{read}"), one(session, f"SELECT @owner{read}"))
            if seen != (zone, zone if pin else None):
                with self._lock:
                    self.errors.append(("state of another session", zone, read, seen))

    def _zone(self) -> str:
        # A time zone no other session uses at the same time: +00:00 .. +12:59. Not negative
        # ones: MariaDB 10.11 caches offset zones so that '-12:25' reads back as '-10:09'.
        number = next(self._numbers) % (13 * 60)
        return f"+{number // 60:02d}:{number % 60:02d}"

    def _short_lived(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(self.port, read_timeout=30) as session:
                    zone = self._zone()
                    with self._lock:
                        self.sessions += 1
                        pin = self.sessions % 3 == 0
                        self.pinned_sessions += pin
                    one(session, "SET time_zone = %s", (zone,))
                    self._check_own_state(session, zone, pin)
            except pymysql.err.MySQLError as error:
                with self._lock:
                    self.errors.append(error.args)
                return

    def _long_lived(self) -> None:
        try:
            with connect(self.port, read_timeout=30) as session:
                with self._lock:
                    self.sessions += 1
                zone = self._zone()
                one(session, "SET time_zone = %s", (zone,))
                while not self._stop.is_set():
                    self._check_own_state(session, zone, pin=False)
                    time.sleep(0.05)  # pacing: a client between requests
        except pymysql.err.MySQLError as error:
            with self._lock:
                self.errors.append(error.args)

    def wait_for_sessions(self, count: int) -> None:
        start = self.sessions
        wait_for(lambda: self.sessions >= start + count or self.errors, SETTLE, "traffic")
        assert self.errors == [], repr(self.errors)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(40)
            assert not thread.is_alive()


def test_reload_toggles_multiplexing_and_limits_under_traffic(pair: Pair, tmp_path: Path) -> None:
    # A borrow may wait behind the long-lived sessions' statements on a loaded machine.
    with pooled_proxy(pair, tmp_path, 4, connect_timeout="5s") as process:
        port = sql_port(process)

        def limits_hold(max_per_server: int) -> bool:
            # fastlb's connections, and the status query's own.
            servers = threads_connected(pair)
            pool_open = mysql_stats(process)["pool_open"]
            return max(servers) <= max_per_server + 1 and pool_open <= 2 * max_per_server

        traffic = Traffic(port)
        try:
            # Without multiplexing: each session holds its connections; 3 short-lived
            # sessions and a long-lived one fit in 4.
            traffic.add_long_lived()
            traffic.wait_for_sessions(30)
            assert max(threads_connected(pair)) >= 3
            before = mysql_stats(process)

            # Multiplexing on, and half the connections: the new sessions share 2, the
            # long-lived one keeps the settings it started with (its connections).
            reload_pool(process, multiplexing=True, max_per_server=2)
            traffic.add_long_lived()
            traffic.wait_for_sessions(30)
            wait_for(lambda: limits_hold(2), SETTLE, "Threads_connected <= 2 + 1")
            traffic.wait_for_sessions(30)
            assert limits_hold(2)
            multiplexed = mysql_stats(process)

            # Multiplexing off again, 3 connections: sessions hold theirs again.
            reload_pool(process, multiplexing=False, max_per_server=3)
            traffic.wait_for_sessions(30)
            wait_for(lambda: limits_hold(3), SETTLE, "Threads_connected <= 3 + 1")
        finally:
            traffic.stop()
        assert traffic.errors == [], "\n".join(map(repr, traffic.errors))
        after = mysql_stats(process)
        keys = ("sessions", "pool_borrows", "pool_returns", "pool_opened", "pool_resets")
        for name, stats in (("before", before), ("multiplexed", multiplexed), ("after", after)):
            print(name, {key: stats[key] for key in keys}, stats["pins_by_reason"])
        # More sessions were served at once than the 2 connections of the multiplexed
        # phase (two long-lived sessions and the short-lived ones): borrowed and given
        # back statement by statement.
        assert multiplexed["pool_borrows"] - before["pool_borrows"] > 2 * (
            multiplexed["sessions"] - before["sessions"]
        )
        assert multiplexed["pool_returns"] > before["pool_returns"]
        assert after["pool_full_errors"] == 0
        # Each pinning session counted once, under its reason.
        assert after["pins_by_reason"]["user_variable"] == traffic.pinned_sessions
        assert after["sessions"] == traffic.sessions
        # Everyone has left: what stays open is idle, within the last limit.
        wait_for(
            lambda: mysql_stats(process)["pool_idle"] == mysql_stats(process)["pool_open"],
            SETTLE,
            "connections back in the pool",
        )
        assert limits_hold(3)
