"""`fastlb demo`'s MySQL part: a private MariaDB primary and read-only replica with GTID
replication on localhost, for a `mode: mysql` frontend that splits reads from writes, with
`mysql.failover` (mode auto) so that a switchover (`fastlb ctl mysql switchover db`, or
`fastlb demo --switchover-after N`) and a failover can be shown.

The servers are the shared harness's (fastlb.harness.mariadb, .replication): everything lives
in one temporary directory (datadirs, unix sockets, logs) removed at the end; the servers run
with `--no-defaults` on free ports of 127.0.0.1, so they never read the machine's option files
nor touch its own MariaDB (port 3306, /var/lib/mysql, /run/mysqld); they are stopped by pid,
and run in sessions of their own, so that a Ctrl-C reaches only the demo, which stops fastlb
first and then them. `mariadb-install-db` takes seconds, so it runs once, into a template that
both servers copy: accounts and the empty `demo.notes` table, identical on both before any
binary log exists. The seed rows are inserted on the primary and replicated.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .harness.mariadb import (
    START_TIMEOUT,
    MariaDB,
    MariaDBMissingError,
    find_binaries,
    install_template,
)
from .harness.replication import gtid_position, replicate_from, wait_gtid

APP_USER = APP_PASSWORD = DATABASE = "demo"
MONITOR_USER, MONITOR_PASSWORD = "demo_monitor", "demo-monitor"
REPLICATION_USER, REPLICATION_PASSWORD = "demo_repl", "demo-repl"
PRIMARY_ID, REPLICA_ID = 1, 2

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
class MariaDBPair:
    """A started primary (server_id 1) and read-only replica (server_id 2)."""

    primary: MariaDB
    replica: MariaDB
    workdir: Path

    def backend(self, name: str) -> dict[str, Any]:
        """The fastlb backend in front of the pair (roles, users, monitor, causal reads,
        failover)."""
        return {
            "name": name,
            "health_check": {"type": "tcp", "interval": "1s"},
            "servers": [
                {"name": f"{name}-{role}", "address": server.address, "role": role}
                for server, role in ((self.primary, "primary"), (self.replica, "replica"))
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
    try:
        binaries = find_binaries()
    except MariaDBMissingError as error:
        raise MariaDBUnavailable(str(error)) from None
    # Short path: a unix socket path must stay under 108 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-demo-mysql-"))
    servers: list[MariaDB] = []
    try:
        try:
            install_template(binaries, workdir / "template", sql=TEMPLATE_SQL)
            for role, server_id, extra in (
                ("primary", PRIMARY_ID, ()),
                ("replica", REPLICA_ID, ("--read-only=1",)),
            ):
                options = (*REPLICATION_OPTIONS, f"--server-id={server_id}", *extra)
                servers.append(
                    MariaDB(
                        binaries,
                        workdir / "template",
                        workdir / role,
                        options=options,
                        own_session=True,
                    )
                )
            shutil.rmtree(workdir / "template")  # copied
            primary, replica = servers
            for server in servers:  # both boot at the same time
                server.spawn()
            for server in servers:
                server.wait_ready()
            _replicate(primary, replica)
        except MariaDBUnavailable:
            raise
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            raise MariaDBUnavailable(f"MariaDB did not start: {_one_line(error)}") from error
        yield MariaDBPair(primary, replica, workdir)
    finally:
        try:
            for server in reversed(servers):  # the replica first
                server.close()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _replicate(primary: MariaDB, replica: MariaDB) -> None:
    """Points the replica at the primary, writes the seed rows on the primary and waits
    (MASTER_GTID_WAIT, bounded) until the replica has applied them."""
    replicate_from(replica, primary, REPLICATION_USER, REPLICATION_PASSWORD)
    rows = ", ".join(f"('{note}', @@server_id)" for note in SEED_NOTES)
    primary.sql(f"INSERT INTO {DATABASE}.notes (note, written_on) VALUES {rows}")
    if not wait_gtid(replica, gtid_position(primary), START_TIMEOUT):
        raise MariaDBUnavailable(
            f"the replica did not catch up with the primary in {START_TIMEOUT:.0f}s: "
            f"{_one_line(replica.log())}"
        )


def _one_line(error: BaseException | str) -> str:
    """An error's (or a log's) last ERROR lines, else its last lines, joined into one line."""
    lines = str(error).splitlines() or ["(no details)"]
    return " | ".join(([line for line in lines if "ERROR" in line] or lines)[-3:])
