"""A real MariaDB primary + read-only replica with GTID replication (MySQL routing tests,
benchmarks, load tests and the demo), and the replication steps they are built of.

Two private mariadbd instances (see mariadb.py: copies of the session's template datadir, free
ports on 127.0.0.1, `--no-defaults`, stopped by pid) are started as

- the primary: `server_id=1`, binary log, `gtid_strict_mode`;
- the replica: `server_id=2`, `read_only=1`, binary log with `log_slave_updates` (so that it
  can be promoted), replicating from the primary with `MASTER_USE_GTID=slave_pos`.

Both have the template's accounts plus, created on the primary and replicated:

- `APP_USER` with the privileges of an application on `DATABASE` (no SUPER, no READ_ONLY
  ADMIN): a write that reaches the replica fails with "running with the --read-only option",
  so a routing mistake shows instead of silently diverging the servers;
- `MONITOR_USER` with only what a topology monitor needs (SLAVE MONITOR, BINLOG MONITOR).

The pytest fixtures `replication_pair` and `replication` (tests/integration/replication.py)
wrap it:

    replication.primary.sql("INSERT INTO fastlb.t VALUES (1)")
    replication.wait_replicated()
    replication.set_delay(5)          # the replica applies events 5 s late
    replication.stop_replica()        # by pid; start_replica() restarts it
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .mariadb import MariaDB, Template

PRIMARY_SERVER_ID = 1
REPLICA_SERVER_ID = 2

DATABASE = "fastlb"
APP_USER = "fastlb_app"
APP_PASSWORD = "fastlb-app-secret"
MONITOR_USER = "fastlb_monitor"
MONITOR_PASSWORD = "fastlb-monitor-secret"

REPLICATION_TIMEOUT = 15.0

# Binary log + GTIDs on both; `--skip-log-bin` of mariadb.SERVER_OPTIONS comes first and is
# overridden by `--log-bin`. A short `slave_net_timeout` and `MASTER_CONNECT_RETRY=1` make
# the replica notice a restarted primary within a second or two, not a minute.
COMMON_OPTIONS = (
    "--log-bin=binlog",
    "--binlog-format=ROW",
    "--gtid-strict-mode=1",
    "--log-slave-updates=1",
    "--slave-net-timeout=5",
)
PRIMARY_OPTIONS = (*COMMON_OPTIONS, f"--server-id={PRIMARY_SERVER_ID}", "--read-only=0")
REPLICA_OPTIONS = (
    *COMMON_OPTIONS,
    f"--server-id={REPLICA_SERVER_ID}",
    "--read-only=1",
    "--relay-log=relay",
)

SETUP_SQL = f"""
CREATE DATABASE IF NOT EXISTS {DATABASE};
CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES,
      LOCK TABLES, EXECUTE, CREATE ROUTINE, ALTER ROUTINE, CREATE VIEW, SHOW VIEW, TRIGGER
      ON {DATABASE}.* TO '{APP_USER}'@'%';
CREATE USER IF NOT EXISTS '{MONITOR_USER}'@'%' IDENTIFIED BY '{MONITOR_PASSWORD}';
GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO '{MONITOR_USER}'@'%';
"""


class ReplicationError(RuntimeError):
    pass


# --- the steps -----------------------------------------------------------------------------


def replicate_from(replica: MariaDB, primary: MariaDB, user: str, password: str) -> None:
    """Points `replica` at `primary` (GTID, as `user`) and starts replicating."""
    replica.sql(
        f"CHANGE MASTER TO MASTER_HOST='{primary.host}', MASTER_PORT={primary.port}, "
        f"MASTER_USER='{user}', MASTER_PASSWORD='{password}', MASTER_USE_GTID=slave_pos, "
        "MASTER_CONNECT_RETRY=1; START SLAVE"
    )


def gtid_position(server: MariaDB) -> str:
    """The server's current GTID position (`@@gtid_binlog_pos`)."""
    return server.sql("SELECT @@gtid_binlog_pos").strip()


def wait_gtid(replica: MariaDB, position: str, timeout: float = REPLICATION_TIMEOUT) -> bool:
    """MASTER_GTID_WAIT on `replica`: True once it has applied `position`, False after
    `timeout`."""
    if not position:
        return True
    result = replica.sql(
        f"SELECT MASTER_GTID_WAIT('{position}', {timeout})", timeout=timeout + 5
    ).strip()
    return result == "0"


def slave_status(server: MariaDB) -> dict[str, str]:
    """`SHOW SLAVE STATUS` as a column -> value dict ({} when none)."""
    rows = server.sql_rows("SHOW SLAVE STATUS")
    return rows[0] if rows else {}


# --- the pair ------------------------------------------------------------------------------


class ReplicationPair:
    """A primary and its replica. `primary` and `replica` are `mariadb.MariaDB` instances (their
    `sql()` runs as root over the unix socket, their `address` is `127.0.0.1:PORT`)."""

    def __init__(self, template: Template, workdir: Path) -> None:
        self.workdir = workdir
        self.primary = MariaDB(
            template.binaries, template.datadir, workdir / "primary", options=PRIMARY_OPTIONS
        )
        self.replica = MariaDB(
            template.binaries, template.datadir, workdir / "replica", options=REPLICA_OPTIONS
        )
        self.database = DATABASE
        self.app_user, self.app_password = APP_USER, APP_PASSWORD
        self.monitor_user, self.monitor_password = MONITOR_USER, MONITOR_PASSWORD
        self.server_ids = {PRIMARY_SERVER_ID: "primary", REPLICA_SERVER_ID: "replica"}

    def fastlb_backend(
        self, name: str = "db", monitor_interval: str = "1s", **mysql: Any
    ) -> dict[str, Any]:
        """fastlb's `mode: mysql` backend in front of this pair: both servers with their roles,
        the application user, the topology monitor; `mysql` adds keys to its `mysql` section."""
        return {
            "name": name,
            "servers": [
                {"name": "primary", "address": self.primary.address, "role": "primary"},
                {"name": "replica", "address": self.replica.address, "role": "replica"},
            ],
            "mysql": {
                "users": [{"user": self.app_user, "password": self.app_password}],
                "monitor": {
                    "user": self.monitor_user,
                    "password": self.monitor_password,
                    "interval": monitor_interval,
                },
                **mysql,
            },
        }

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> ReplicationPair:
        """Starts both servers, points the replica at the primary, creates the database and
        users on the primary and waits until the replica has them."""
        self.primary.start()
        self.replica.start()
        replicate_from(self.replica, self.primary, self.primary.user, self.primary.password)
        self.wait_replication_running()
        self.primary.sql(SETUP_SQL)
        self.wait_replicated()
        return self

    def close(self) -> None:
        """Teardown: both servers stopped (by pid), their output closed."""
        try:
            self.replica.close()
        finally:
            self.primary.close()

    def log(self) -> str:
        return (
            f"--- primary {self.primary.address} ---\n{self.primary.log()}\n"
            f"--- replica {self.replica.address} ---\n{self.replica.log()}"
        )

    def stop_primary(self) -> None:
        self.primary.stop()

    def start_primary(self) -> None:
        """Restarts the primary (same port and datadir); the replica reconnects by itself."""
        self.primary.start()

    def stop_replica(self) -> None:
        self.replica.stop()

    def start_replica(self) -> None:
        """Restarts the replica; replication resumes by itself (its master.info persists)."""
        self.replica.start()
        self.wait_replication_running()

    # --- replication control ---------------------------------------------------------------

    def replica_status(self) -> dict[str, str]:
        """`SHOW SLAVE STATUS` of the replica as a column -> value dict ({} when none)."""
        return slave_status(self.replica)

    def wait_replication_running(self, timeout: float = REPLICATION_TIMEOUT) -> None:
        """Bounded poll until both replication threads run; ReplicationError with the last
        error the replica reported otherwise."""
        deadline = time.monotonic() + timeout
        status: dict[str, str] = {}
        while time.monotonic() < deadline:
            status = self.replica_status()
            if status.get("Slave_IO_Running") == "Yes" and (
                status.get("Slave_SQL_Running") == "Yes"
            ):
                return
            time.sleep(0.05)
        raise ReplicationError(
            f"replication not running after {timeout}s: IO={status.get('Slave_IO_Running')} "
            f"SQL={status.get('Slave_SQL_Running')} io_error={status.get('Last_IO_Error')!r} "
            f"sql_error={status.get('Last_SQL_Error')!r}"
        )

    def primary_gtid(self) -> str:
        """The primary's current GTID position (`@@gtid_binlog_pos`)."""
        return gtid_position(self.primary)

    def wait_replicated(self, timeout: float = REPLICATION_TIMEOUT) -> str:
        """Waits (MASTER_GTID_WAIT on the replica) until the replica has applied everything
        the primary has written so far; returns that GTID position."""
        position = self.primary_gtid()
        if not wait_gtid(self.replica, position, timeout):
            raise ReplicationError(
                f"replica did not reach {position} within {timeout}s "
                f"(at {self.replica.sql('SELECT @@gtid_slave_pos').strip()}): "
                f"{self.replica_status()}"
            )
        return position

    def set_delay(self, seconds: int) -> None:
        """`CHANGE MASTER TO MASTER_DELAY=seconds`: the replica applies each event that much
        after the primary wrote it (0 = no delay)."""
        self.replica.sql(f"STOP SLAVE; CHANGE MASTER TO MASTER_DELAY={int(seconds)}; START SLAVE")
        self.wait_replication_running()

    def stop_replication(self) -> None:
        """`STOP SLAVE` on the replica (it keeps serving reads, ever staler)."""
        self.replica.sql("STOP SLAVE")

    def start_replication(self) -> None:
        self.replica.sql("START SLAVE")
        self.wait_replication_running()

    def promote_replica(self) -> None:
        """The replica stops replicating and becomes writable (read_only=0), as a failover
        tool would do it."""
        self.replica.sql("STOP SLAVE; SET GLOBAL read_only = 0")

    # --- between tests ---------------------------------------------------------------------

    def reset(self) -> bool:
        """Back to the standard topology after a test: both running, primary writable,
        replica read-only, replicating without delay and caught up, `DATABASE` emptied.
        False when that fails (the caller then builds a new pair)."""
        try:
            if not self.primary.running():
                self.primary.start()
            if not self.replica.running():
                self.replica.start()
            self.primary.sql("SET GLOBAL read_only = 0")
            self.replica.sql(
                "STOP SLAVE; SET GLOBAL read_only = 1; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE"
            )
            self.wait_replication_running()
            self.primary.sql(f"DROP DATABASE IF EXISTS {DATABASE}; {SETUP_SQL}")
            self.wait_replicated()
        except (OSError, RuntimeError, TimeoutError, subprocess.SubprocessError):
            return False
        return True


# --- a pair shared by several users (the tests of one module) ------------------------------


def new_pair(template: Template) -> tuple[ReplicationPair, Path]:
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-repl-"))
    pair = ReplicationPair(template, workdir)
    try:
        pair.start()
    except BaseException:
        with contextlib.suppress(Exception):
            print(pair.log())
        pair.close()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return pair, workdir


class SharedPair:
    """One pair handed out again and again (a test module's), reset before each use and
    rebuilt from the template when a user left it unrecoverable."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.pair: ReplicationPair | None = None
        self.workdir: Path | None = None

    def get(self) -> ReplicationPair:
        if self.pair is not None and not self.pair.reset():
            self.close()
        if self.pair is None:
            self.pair, self.workdir = new_pair(self.template)
        return self.pair

    def close(self) -> None:
        if self.pair is not None:
            try:
                self.pair.close()
            finally:
                if self.workdir is not None:
                    shutil.rmtree(self.workdir, ignore_errors=True)
                self.pair = None
                self.workdir = None
