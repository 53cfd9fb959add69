"""`fastlb demo`'s MySQL part: a private MariaDB primary and read-only replica with GTID
replication on localhost, for a `mode: mysql` frontend that splits reads from writes, with
`mysql.failover` (mode auto) so that a switchover (`fastlb ctl mysql switchover db`, or
`fastlb demo --switchover-after N`) and a failover can be shown.

Everything lives in one temporary directory (datadirs, unix sockets, logs) removed at the end.
The servers run with `--no-defaults` on free ports of 127.0.0.1, so they never read the
machine's option files nor touch its own MariaDB (port 3306, /var/lib/mysql, /run/mysqld);
they are stopped by pid. `mariadb-install-db` takes seconds, so it runs once, into a template
that both servers copy: accounts and the empty `demo.notes` table, identical on both before any
binary log exists. The seed rows are inserted on the primary and replicated.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "mariadb-install-db"

APP_USER = APP_PASSWORD = DATABASE = "demo"
MONITOR_USER, MONITOR_PASSWORD = "demo_monitor", "demo-monitor"
REPLICATION_USER, REPLICATION_PASSWORD = "demo_repl", "demo-repl"
PRIMARY_ID, REPLICA_ID = 1, 2

INSTALL_TIMEOUT = 60.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

# Small and quick (a handful of rows), the same at bootstrap and every start.
SERVER_OPTIONS = (
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=8M",
    "--loose-innodb-use-native-aio=0",
    "--character-set-server=utf8mb4",
)
# Row-based binary logs: `INSERT ... VALUES (@@server_id)` replicates the primary's value.
REPLICATION_OPTIONS = ("--log-bin=binlog", "--binlog-format=ROW", "--log-slave-updates=1")

# Run by mariadb-install-db's bootstrap, where the grant tables are not loaded yet: FLUSH
# PRIVILEGES loads them so that CREATE USER works. The app user has no global privilege (no
# READ_ONLY ADMIN): a write routed to the replica fails instead of silently diverging it.
# `written_on` shows a user that writes ran on the primary even when reading from the replica.
# The monitor user has what mysql.failover needs to switch over (README "Database failover").
TEMPLATE_SQL = f"""
FLUSH PRIVILEGES;
CREATE DATABASE {DATABASE};
CREATE TABLE {DATABASE}.notes (
  id INT AUTO_INCREMENT PRIMARY KEY,
  note VARCHAR(200) NOT NULL,
  written_on INT COMMENT '@@server_id of the server that ran the INSERT'
);
CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';
GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{APP_USER}'@'%';
CREATE USER '{MONITOR_USER}'@'%' IDENTIFIED BY '{MONITOR_PASSWORD}';
GRANT SLAVE MONITOR, BINLOG MONITOR, SUPER, RELOAD, READ_ONLY ADMIN, CONNECTION ADMIN,
      REPLICATION SLAVE ADMIN, PROCESS ON *.* TO '{MONITOR_USER}'@'%';
CREATE USER '{REPLICATION_USER}'@'127.0.0.1' IDENTIFIED BY '{REPLICATION_PASSWORD}';
GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'127.0.0.1';
"""
SEED_NOTES = ("hello from the demo", "reads go to the replica", "writes go to the primary")


class MariaDBUnavailable(RuntimeError):
    """The MySQL part cannot run; the message is one line saying why (and what to do)."""


@dataclass
class Server:
    """One mariadbd with its own directory (datadir, socket, logs) and a free TCP port."""

    role: str  # "primary" or "replica"
    workdir: Path
    options: tuple[str, ...]
    port: int = field(default_factory=lambda: _free_port())
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, template: Path) -> None:
        shutil.copytree(template, self.workdir / "data", symlinks=True)
        command = [
            MARIADBD,
            *_common_options(self.workdir / "data", self.workdir / "tmp"),
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.workdir / 'mariadb.sock'}",
            f"--pid-file={self.workdir / 'mariadb.pid'}",
            f"--log-error={self.workdir / 'error.log'}",
            *self.options,
        ]
        self.proc = _spawn(command, self.workdir / "output.log")

    def admin(self, timeout: float = 1.0) -> pymysql.Connection[Any]:
        """root over the private unix socket (the template's root has no password)."""
        sock = str(self.workdir / "mariadb.sock")
        return pymysql.connect(
            unix_socket=sock, user="root", autocommit=True, connect_timeout=timeout
        )

    def wait_ready(self, deadline: float) -> None:
        """Bounded poll until root can log in over the socket."""
        assert self.proc is not None
        while self.proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(pymysql.err.OperationalError):
                self.admin().close()
                return
            time.sleep(0.05)
        state = "is not ready in time" if self.proc.poll() is None else "exited"
        log = _errors_in(self.workdir / "error.log")
        raise MariaDBUnavailable(f"the {self.role} mariadbd {state}: {log}")

    def stop(self) -> None:
        """SIGTERM by pid (a clean shutdown), a bounded wait, then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc)


@dataclass
class MariaDBPair:
    """A started primary (server_id 1) and read-only replica (server_id 2)."""

    primary: Server
    replica: Server
    workdir: Path

    def backend(self, name: str) -> dict[str, Any]:
        """The fastlb backend in front of the pair (roles, users, monitor, causal reads,
        failover)."""
        return {
            "name": name,
            "health_check": {"type": "tcp", "interval": "1s"},
            "servers": [
                {"name": f"{name}-{s.role}", "address": s.address, "role": s.role}
                for s in (self.primary, self.replica)
            ],
            "mysql": {
                "users": [{"user": APP_USER, "password": APP_PASSWORD}],
                "monitor": {"user": MONITOR_USER, "password": MONITOR_PASSWORD, "interval": "1s"},
                "causal_reads": "session",
                "failover": {
                    "mode": "auto",
                    "replication_user": REPLICATION_USER,
                    "replication_password": REPLICATION_PASSWORD,
                    "switchover_timeout": "2s",
                },
            },
        }


@contextlib.contextmanager
def mariadb_pair() -> Iterator[MariaDBPair]:
    """Starts the pair, yields it, then stops both servers by pid and removes their directory.
    MariaDBUnavailable (one line) when MariaDB is not installed or does not start; whatever did
    start is stopped and removed first."""
    found = ((MARIADBD, os.access(MARIADBD, os.X_OK)), (INSTALL_DB, shutil.which(INSTALL_DB)))
    if missing := [program for program, there in found if not there]:
        raise MariaDBUnavailable(
            f"{' and '.join(missing)} not found (`make install` installs them: Debian's "
            "mariadb-server)"
        )
    # Short path: a unix socket path must stay under 108 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-demo-mysql-"))
    servers: list[Server] = []
    try:
        try:
            primary_options = (*REPLICATION_OPTIONS, f"--server-id={PRIMARY_ID}")
            replica_options = (*REPLICATION_OPTIONS, f"--server-id={REPLICA_ID}", "--read-only=1")
            servers += [
                Server("primary", workdir / "primary", primary_options),
                Server("replica", workdir / "replica", replica_options),
            ]
            primary, replica = servers
            _install_template(workdir / "template")
            for server in (primary, replica):  # both boot at the same time
                server.start(workdir / "template")
            shutil.rmtree(workdir / "template")  # copied
            deadline = time.monotonic() + START_TIMEOUT
            for server in (primary, replica):
                server.wait_ready(deadline)
            _replicate(primary, replica)
        except (OSError, subprocess.SubprocessError, pymysql.err.Error) as error:
            raise MariaDBUnavailable(f"MariaDB did not start: {error}") from error
        yield MariaDBPair(primary, replica, workdir)
    finally:
        try:
            for server in reversed(servers):  # the replica first
                server.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _install_template(datadir: Path) -> None:
    """mariadb-install-db into `datadir`, with TEMPLATE_SQL (bounded; killed on Ctrl-C)."""
    sql = datadir.parent / "template.sql"
    sql.write_text(TEMPLATE_SQL)
    command = [
        INSTALL_DB,
        *_common_options(datadir, datadir.parent / "tmp"),
        "--auth-root-authentication-method=normal",  # root without a password
        "--skip-test-db",
        f"--extra-file={sql}",
    ]
    installer = _spawn(command, datadir.parent / "install.log")
    try:
        status = installer.wait(INSTALL_TIMEOUT)
    except BaseException:  # a timeout, or Ctrl-C
        _kill_group(installer)
        raise
    if status != 0:
        log = _errors_in(datadir.parent / "install.log")
        raise MariaDBUnavailable(f"{INSTALL_DB} exited with {status}: {log}")


def _replicate(primary: Server, replica: Server) -> None:
    """Points the replica at the primary, writes the seed rows on the primary and waits
    (MASTER_GTID_WAIT, bounded) until the replica has applied them."""
    with replica.admin() as db, db.cursor() as cursor:
        cursor.execute(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, "
            f"MASTER_USER='{REPLICATION_USER}', MASTER_PASSWORD='{REPLICATION_PASSWORD}', "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1"
        )
        cursor.execute("START SLAVE")
    with primary.admin() as db, db.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {DATABASE}.notes (note, written_on) VALUES (%s, @@server_id)",
            SEED_NOTES,
        )
        cursor.execute("SELECT @@gtid_binlog_pos")
        (position,) = cursor.fetchone() or ("",)
    with replica.admin(timeout=START_TIMEOUT) as db, db.cursor() as cursor:
        cursor.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (position, START_TIMEOUT))
        if (cursor.fetchone() or (-1,))[0] != 0:
            raise MariaDBUnavailable(
                f"the replica did not catch up with the primary in {START_TIMEOUT:.0f}s: "
                f"{_errors_in(replica.workdir / 'error.log')}"
            )


def _common_options(datadir: Path, tmpdir: Path) -> list[str]:
    """The options mariadb-install-db and mariadbd share. `--no-defaults` must come first. A
    private tmpdir, as a starting mariadbd deletes the `#sql*` files in its tmpdir. As root,
    mariadbd refuses to run unless told to (for anyone else `--user` is moot)."""
    tmpdir.mkdir()
    user = ["--user=root"] if os.geteuid() == 0 else []
    return ["--no-defaults", f"--datadir={datadir}", f"--tmpdir={tmpdir}", *user, *SERVER_OPTIONS]


def _free_port() -> int:
    # An ephemeral port from the kernel: never 3306, which the machine's own server holds.
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def _errors_in(log: Path) -> str:
    """The log's last ERROR lines (else its last lines), joined into one line."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else ["(no log)"]
    return " | ".join(([line for line in lines if "ERROR" in line] or lines)[-3:])


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Starts `command` (output into `log`) in a session of its own: a Ctrl-C in the terminal
    reaches only the demo, which stops fastlb first and then the servers; and its process group
    can be killed as a whole (mariadb-install-db runs `mariadbd --bootstrap` as a child)."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True
        )


def _kill_group(leader: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process group of `leader` (started by `_spawn`), then a bounded wait
    until none of its members is left to write into the directory about to be removed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGKILL)
    leader.wait()
    deadline = time.monotonic() + STOP_TIMEOUT
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(leader.pid, 0)
            time.sleep(0.05)
