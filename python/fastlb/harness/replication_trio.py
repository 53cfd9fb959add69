"""A MariaDB primary and **two** GTID replicas, for the failover tests and benchmarks (built on
replication.py's options, accounts and database, and mariadb.py's private servers).

Servers are named `db1` (the primary at start, server_id 1), `db2` and `db3` (replicas,
server_id 2 and 3, read-only, replicating with MASTER_USE_GTID=slave_pos). Every server has
the binary log and `log_slave_updates`, so that any of them can be promoted.

Beside replication.py's accounts, the monitor user gets what failover needs (set read_only,
kill connections, manage replication), and replicas replicate as `REPL_USER`:

    trio = ReplicationTrio(template, workdir).start()
    trio.kill9("db1")                  # SIGKILL, by pid
    trio.start_server("db1")           # same port and datadir
    trio.checksums("fastlb.t")         # CHECKSUM TABLE on every running server
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .mariadb import MariaDB, Template
from .ports import free_port
from .replication import (
    APP_PASSWORD,
    APP_USER,
    COMMON_OPTIONS,
    DATABASE,
    MONITOR_PASSWORD,
    MONITOR_USER,
    REPLICATION_TIMEOUT,
    SETUP_SQL,
    ReplicationError,
    gtid_position,
    replicate_from,
    slave_status,
    wait_gtid,
)

NAMES = ("db1", "db2", "db3")
REPL_USER = "fastlb_repl"
REPL_PASSWORD = "fastlb-repl-secret"

FAILOVER_SQL = f"""
GRANT SUPER, RELOAD, READ_ONLY ADMIN, CONNECTION ADMIN, REPLICATION SLAVE ADMIN, PROCESS,
      BINLOG MONITOR, SLAVE MONITOR ON *.* TO '{MONITOR_USER}'@'%';
CREATE USER IF NOT EXISTS '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}';
GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%';
"""


def _options(server_id: int, read_only: bool) -> tuple[str, ...]:
    return (
        *COMMON_OPTIONS,
        f"--server-id={server_id}",
        f"--read-only={1 if read_only else 0}",
        "--relay-log=relay",
    )


class ReplicationTrio:
    def __init__(
        self,
        template: Template,
        workdir: Path,
        extra: tuple[str, ...] = (),
        host: str = "127.0.0.1",
    ) -> None:
        self.workdir = workdir
        self.servers = {
            name: MariaDB(
                template.binaries,
                template.datadir,
                workdir / name,
                options=(*_options(index + 1, index > 0), *extra),
                host=host,
            )
            for index, name in enumerate(NAMES)
        }
        self.semi_sync = "--rpl-semi-sync-slave-enabled=1" in extra
        self.database = DATABASE
        self.app_user, self.app_password = APP_USER, APP_PASSWORD
        self.monitor_user, self.monitor_password = MONITOR_USER, MONITOR_PASSWORD
        self.repl_user, self.repl_password = REPL_USER, REPL_PASSWORD

    def __getitem__(self, name: str) -> MariaDB:
        return self.servers[name]

    def start(self) -> ReplicationTrio:
        for server in self.servers.values():
            server.start()
        primary = self.servers["db1"]
        primary.sql(SETUP_SQL + FAILOVER_SQL)
        for name in ("db2", "db3"):
            replicate_from(self.servers[name], primary, REPL_USER, REPL_PASSWORD)
        self.wait_replicated("db1")
        if self.semi_sync:
            for name in ("db2", "db3"):
                self.wait_replicating_from(name, "db1")
            primary.sql("SET GLOBAL rpl_semi_sync_master_enabled = 1")
        return self

    def close(self) -> None:
        for server in self.servers.values():
            server.close()

    def log(self) -> str:
        return "\n".join(
            f"--- {name} {server.address} ---\n{server.log()}"
            for name, server in self.servers.items()
        )

    def kill9(self, name: str) -> None:
        self.servers[name].kill()

    def start_server(self, name: str) -> None:
        self.servers[name].start()

    def position(self, name: str) -> str:
        return gtid_position(self.servers[name])

    def read_only(self, name: str) -> bool:
        return self.servers[name].sql("SELECT @@read_only").strip() == "1"

    def slave_status(self, name: str) -> dict[str, str]:
        return slave_status(self.servers[name])

    def wait_replicated(self, primary: str, timeout: float = REPLICATION_TIMEOUT) -> str:
        """Waits until every other running server applied `primary`'s binlog position."""
        position = self.position(primary)
        for name, server in self.servers.items():
            if name == primary or not server.running():
                continue
            if not wait_gtid(server, position, timeout):
                raise ReplicationError(
                    f"{name} did not reach {position} within {timeout}s: {self.slave_status(name)}"
                )
        return position

    def wait_replicating_from(self, name: str, primary: str, timeout: float = 15.0) -> None:
        """Bounded poll until `name` replicates from `primary` with both threads running."""
        port = str(self.servers[primary].port)
        deadline = time.monotonic() + timeout
        status: dict[str, str] = {}
        while time.monotonic() < deadline:
            status = self.slave_status(name)
            if (
                status.get("Master_Port") == port
                and status.get("Slave_IO_Running") == "Yes"
                and status.get("Slave_SQL_Running") == "Yes"
            ):
                return
            time.sleep(0.1)
        raise ReplicationError(f"{name} does not replicate from {primary}: {status}")

    def checksums(self, table: str) -> dict[str, str]:
        """`CHECKSUM TABLE` on every running server."""
        return {
            name: server.sql(f"CHECKSUM TABLE {table}").split()[-1]
            for name, server in self.servers.items()
            if server.running()
        }


def fastlb_config(
    trio: ReplicationTrio,
    mode: str,
    *,
    interval: str = "200ms",
    failcount: int = 2,
    monitor_failcount: int = 1,
) -> dict[str, Any]:
    """`fastlb serve`'s config for `trio`: frontend `sql` (mode mysql) to backend `db` with
    the monitor and `mysql.failover` in `mode` (db2 preferred over db3 on ties)."""
    return {
        "workers": 2,
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "frontends": [
            {"name": "sql", "listen": f"127.0.0.1:{free_port()}", "mode": "mysql", "backend": "db"}
        ],
        "backends": [
            {
                "name": "db",
                "connect_timeout": "1s",
                "servers": [
                    {
                        "name": name,
                        "address": trio[name].address,
                        "role": "primary" if name == "db1" else "replica",
                    }
                    for name in NAMES
                ],
                "mysql": {
                    "users": [{"user": trio.app_user, "password": trio.app_password}],
                    "monitor": {
                        "user": trio.monitor_user,
                        "password": trio.monitor_password,
                        "interval": interval,
                        "timeout": "1s",
                        "failcount": monitor_failcount,
                    },
                    "failover": {
                        "mode": mode,
                        "failcount": failcount,
                        "replication_user": trio.repl_user,
                        "replication_password": trio.repl_password,
                        "promotion_order": ["db2", "db3"],
                        "switchover_timeout": "5s",
                    },
                },
            }
        ],
    }


# Semi-synchronous replication (built into MariaDB 10.3+): a commit is acknowledged to the
# client only once a replica has it (AFTER_SYNC), so a failover to the most advanced replica
# loses no acknowledged write. The long timeout keeps it from falling back to asynchronous.
# The primary side is enabled on db1 once its replicas are connected (a replica with it on
# would wait for acknowledgements of the events it applies); fastlb moves it with the primary.
SEMI_SYNC = (
    "--rpl-semi-sync-slave-enabled=1",
    "--rpl-semi-sync-master-wait-point=AFTER_SYNC",
    "--rpl-semi-sync-master-timeout=30000",
)
