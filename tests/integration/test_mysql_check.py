"""The `mysql` health check against a real, private MariaDB server (see mariadb.py): MariaDB is
UP while a non-MySQL service in the same backend goes DOWN; a stopped MariaDB goes DOWN and
comes back UP when restarted on the same port and datadir; a MariaDB that answers with an error
packet ("Too many connections") goes DOWN with the server's error text. Real MySQL clients
connect (and authenticate) through fastlb's frontend."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from fastlb.harness.background import BackgroundLoop

from . import mariadb as mariadb_helpers
from .mariadb import MariaDB, read_greeting
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer
from .traffic import server_stats, wait_server

# The fixtures `mariadb` and (session-scoped) `mariadb_template`.
mariadb_fixture = mariadb_helpers.mariadb_fixture
mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(30)

INTERVAL = 0.2
FALL = 2
RISE = 2
# `rise`/`fall` checks, process start and stop, API polling on a loaded 2-core machine.
SLACK = 5.0

# Not MySQL: an SSH server's banner, then the server closes.
BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


def not_mysql(conn: socket.socket, server: TcpServer) -> None:
    conn.sendall(BANNER)


def mysql_check() -> dict[str, Any]:
    return {
        "type": "mysql",
        "interval": f"{round(INTERVAL * 1000)}ms",
        "timeout": "1s",
        "rise": RISE,
        "fall": FALL,
    }


def start_lb(
    fastlb: Callable[[dict[str, Any]], FastlbProcess], servers: dict[str, str]
) -> tuple[FastlbProcess, dict[str, Any]]:
    config = make_config(
        [{"name": name, "address": address, "weight": 1} for name, address in servers.items()],
        retries=1,
    )
    config["backends"][0]["health_check"] = mysql_check()
    return fastlb(config), config


def checked_ok(stats: dict[str, Any]) -> bool:
    return bool(stats["status"] == "UP" and stats["check"]["status"] == "ok")


def checked_down(stats: dict[str, Any]) -> bool:
    return bool(stats["status"] == "DOWN" and stats["check"]["status"] == "failed")


def run_client(
    db: MariaDB, port: int, sql: str, *, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real `mariadb` client over TCP to 127.0.0.1:port as the test user."""
    return subprocess.run(
        db.client_command("--skip-column-names", "--connect-timeout=5", "-e", sql, tcp_port=port),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=15,
        env=db.client_env(password),
        check=False,
    )


def query_through(db: MariaDB, port: int, sql: str) -> str:
    result = run_client(db, port, sql)
    assert result.returncode == 0, f"mariadb client via port {port}: {result.stderr}"
    return result.stdout.strip()


def test_mysql_check_tells_mariadb_from_a_non_mysql_service_and_clients_pass_through(
    mariadb: Callable[..., MariaDB],
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    db = mariadb()
    junk = backend(not_mysql, "junk")
    lb, config = start_lb(fastlb, {"db": db.address, "junk": junk.address})

    up = wait_server(lb, "db", checked_ok, RISE * INTERVAL + SLACK, what="UP, checked ok")
    check = up.stats["check"]
    assert check["type"] == "mysql", check
    assert check["last_error"] is None, check
    assert check["consecutive_successes"] >= 1, check
    assert up.stats["health"] == "up", up.stats
    assert up.stats["down_transitions"] == 0, up.stats

    down = wait_server(lb, "junk", checked_down, FALL * INTERVAL + SLACK, what="DOWN by checks")
    check = down.stats["check"]
    print(f"non-MySQL service: last_error={check['last_error']!r}")
    assert check["type"] == "mysql", check
    assert check["last_error"], check
    assert check["consecutive_failures"] >= FALL, check
    assert junk.accepted >= FALL, junk.accepted  # really checked, not just unreachable
    assert down.stats["active"] is False, down.stats

    # The L4 path carries MySQL: the handshake greeting arrives through the frontend, and the
    # real client logs in (mysql_native_password against the real grant tables) and queries.
    port = frontend_port(config)
    greeting = read_greeting("127.0.0.1", port, timeout=5)
    assert greeting[:1] == b"\x0a", greeting[:40]
    assert b"MariaDB" in greeting, greeting[:40]
    assert query_through(db, port, "SELECT 1") == "1"
    assert query_through(db, port, "SELECT CURRENT_USER()") == f"{db.user}@%"
    for n in range(3):  # the DOWN server takes none of them
        assert query_through(db, port, f"SELECT {n} + 40") == str(n + 40)
    denied = run_client(db, port, "SELECT 1", password="wrong")
    assert denied.returncode != 0, denied
    assert "Access denied" in denied.stderr, denied.stderr
    served = server_stats(lb, "db")
    assert served["total_connections"] >= 6, served
    assert server_stats(lb, "junk")["total_connections"] == 0


def test_stopped_mariadb_goes_down_and_comes_back_up_when_restarted(
    mariadb: Callable[..., MariaDB],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    db = mariadb()
    lb, config = start_lb(fastlb, {"db": db.address})
    wait_server(lb, "db", checked_ok, RISE * INTERVAL + SLACK, what="UP, checked ok")

    stopped_at = time.monotonic()
    assert db.stop() == 0, db.log()
    down = wait_server(lb, "db", checked_down, FALL * INTERVAL + SLACK, what="DOWN after stop")
    print(f"stop -> DOWN within {down.answered - stopped_at:.3f}s: {down.stats['check']}")
    assert down.stats["down_transitions"] == 1, down.stats
    assert down.stats["check"]["last_error"], down.stats
    assert down.stats["check"]["consecutive_failures"] >= FALL, down.stats

    # Same port, same datadir.
    db.start()
    restarted = time.monotonic()
    up = wait_server(lb, "db", checked_ok, RISE * INTERVAL + SLACK, what="UP after restart")
    print(f"restart (ready) -> UP within {up.answered - restarted:.3f}s")
    assert up.stats["down_transitions"] == 1, up.stats
    assert up.stats["check"]["consecutive_successes"] >= RISE, up.stats
    assert up.stats["check"]["last_error"] is None, up.stats
    assert query_through(db, frontend_port(config), "SELECT 'back'") == "back"


class ConnectionHog(BackgroundLoop):
    """Takes every free connection slot of a MariaDB server with raw TCP connections that
    read the greeting and never answer it (the server keeps them until `connect_timeout`).
    A background thread keeps grabbing slots freed by anyone else (e.g. a health check that
    got in first), so once full the server stays full until the `with` block ends."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__("hog")
        self.host, self.port = host, port
        self.held: list[socket.socket] = []
        self.refusals: list[bytes] = []
        self._lock = threading.Lock()

    def _grab(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=2)
        try:
            header = sock.recv(4, socket.MSG_WAITALL)
            length = int.from_bytes(header[:3], "little")
            payload = sock.recv(length, socket.MSG_WAITALL) if len(header) == 4 else b""
        except OSError:
            sock.close()
            raise
        with self._lock:
            if payload[:1] == b"\x0a":
                self.held.append(sock)
                return
            self.refusals.append(payload)
        sock.close()

    def run(self, worker: int) -> None:
        while not self.stopping:
            with contextlib.suppress(OSError):
                self._grab()
            self.pause(0.01)

    def full(self) -> bool:
        """The server has refused this hog at least once since it last took a slot."""
        with self._lock:
            return bool(self.refusals)

    def stop(self) -> None:
        """Stops grabbing, then frees every slot held."""
        super().stop()
        with self._lock:
            for sock in self.held:
                sock.close()
            self.held.clear()


def test_mariadb_answering_with_an_error_packet_goes_down_with_its_error_text(
    mariadb: Callable[..., MariaDB],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    # MariaDB's minimum max_connections is 10; it accepts one more (for a SUPER user) and
    # answers any further connection with error 1040 instead of a handshake. Connections
    # that never answer the handshake are dropped only after connect_timeout.
    db = mariadb(options=["--max-connections=10", "--connect-timeout=60"])
    lb, config = start_lb(fastlb, {"db": db.address})
    wait_server(lb, "db", checked_ok, RISE * INTERVAL + SLACK, what="UP, checked ok")

    with ConnectionHog(db.host, db.port) as hog:
        deadline = time.monotonic() + 5
        while not hog.full() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hog.full(), f"MariaDB still accepting after {len(hog.held)} held connections"
        print(f"held {len(hog.held)} connections; refused with {hog.refusals[0]!r}")
        assert b"Too many connections" in hog.refusals[0], hog.refusals[0]

        down = wait_server(
            lb, "db", checked_down, FALL * INTERVAL + SLACK, what="DOWN on an error packet"
        )
        error = down.stats["check"]["last_error"]
        print(f"DOWN with last_error={error!r}")
        assert "Too many connections" in error, down.stats
        assert down.stats["check"]["consecutive_failures"] >= FALL, down.stats

    up = wait_server(lb, "db", checked_ok, RISE * INTERVAL + SLACK, what="UP once slots free")
    assert up.stats["down_transitions"] == 1, up.stats
    assert query_through(db, frontend_port(config), "SELECT @@max_connections") == "10"


def aborted_connects(db: MariaDB) -> int:
    return int(db.sql("SHOW GLOBAL STATUS LIKE 'Aborted_connects'").split()[-1])


def test_check_user_logs_in_and_quits_instead_of_aborting(
    mariadb: Callable[..., MariaDB],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    """Greeting-only checks count as aborted connects on the server (enough of them get the
    load balancer's host blocked, `max_connect_errors`); with `user` the check logs in
    (empty password) and quits, and the count stays put. A user the server refuses takes
    the server DOWN with the server's message."""
    db = mariadb()
    db.sql("CREATE USER 'fastlb_check'@'%'")  # no password, no privileges
    # What a greeting-only check does, once: the server counts it as aborted.
    baseline = aborted_connects(db)
    host, port = db.address.rsplit(":", 1)
    read_greeting(host, int(port))
    deadline = time.monotonic() + 5
    while aborted_connects(db) == baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert aborted_connects(db) == baseline + 1

    config = make_config([{"name": "db", "address": db.address, "weight": 1}])
    config["backends"][0]["health_check"] = {**mysql_check(), "user": "fastlb_check"}
    lb = fastlb(config)
    wait_server(lb, "db", checked_ok, RISE * INTERVAL + SLACK, what="UP, checked ok")
    before = aborted_connects(db)
    checks_before = server_stats(lb, "db")["check"]["consecutive_successes"]

    def checked_five_more(stats: dict[str, Any]) -> bool:
        return bool(stats["check"]["consecutive_successes"] >= checks_before + 5)

    wait_server(lb, "db", checked_five_more, 5 * INTERVAL + SLACK, what="5 more checks")
    assert aborted_connects(db) == before
    lb.stop()

    config["backends"][0]["health_check"]["user"] = "nobody_here"
    refused = fastlb(config)
    down = wait_server(refused, "db", checked_down, FALL * INTERVAL + SLACK, what="DOWN")
    assert "Access denied" in down.stats["check"]["last_error"], down.stats["check"]
