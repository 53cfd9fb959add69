"""fastlb's `mode: mysql` in front of real servers: two private MariaDB servers (server_id 1 =
primary, 2 = replica), a `fastlb serve` in front of them, and PyMySQL client shortcuts.

Routing tests don't need replication (each statement's destination shows in @@server_id);
the replication-dependent tests (causal reads, lag, sysbench) use the replicated pair of
`replication.py`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from .mariadb import PASSWORD, USER, MariaDB, Template
from .ports import free_port, port_of
from .process import FastlbProcess

PRIMARY_ID, REPLICA_ID = 1, 2
SCHEMA = (
    "CREATE DATABASE app; CREATE TABLE app.items (id INT AUTO_INCREMENT PRIMARY KEY, v LONGTEXT);"
)
# Large enough for the >16 MiB packet test.
SERVER_OPTIONS = ("--max-allowed-packet=64M",)


@dataclass
class Pair:
    primary: MariaDB
    replica: MariaDB


@contextlib.contextmanager
def standalone_pair(template: Template, options: tuple[str, ...] = ()) -> Iterator[Pair]:
    """Two independent servers with the same schema (no replication), started with
    `options` besides the usual ones."""
    root = Path(tempfile.mkdtemp(prefix="fastlb-mysql-pair-"))
    servers: list[MariaDB] = []
    try:
        for server_id in (PRIMARY_ID, REPLICA_ID):
            workdir = root / f"server{server_id}"
            workdir.mkdir()
            server_options = (*SERVER_OPTIONS, *options, f"--server-id={server_id}")
            server = MariaDB(template.binaries, template.datadir, workdir, options=server_options)
            servers.append(server)
            server.start()
            server.sql(SCHEMA)
        yield Pair(servers[0], servers[1])
    finally:
        for server in servers:
            server.close()
            print(f"--- mariadbd log ({server.address}) ---\n{server.log()}")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def seeded_pair(template: Template, rows: int = 1) -> Iterator[Pair]:
    """`standalone_pair` with `rows` rows ('seed') in app.items on each server, so that a
    point select or a `FOR UPDATE` read has a row to find."""
    values = ", ".join(["('seed')"] * rows)
    with standalone_pair(template) as pair:
        for server in (pair.primary, pair.replica):
            server.sql(f"INSERT INTO app.items (v) VALUES {values}")
        yield pair


def proxy_config(pair: Pair, **mysql: Any) -> dict[str, Any]:
    """fastlb in front of `pair`: frontend `sql` (mode mysql) -> backend `db`."""
    return {
        "workers": 2,
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "frontends": [
            {
                "name": "sql",
                "listen": f"127.0.0.1:{free_port()}",
                "mode": "mysql",
                "backend": "db",
                "idle_timeout": "30s",
            }
        ],
        "backends": [
            {
                "name": "db",
                "connect_timeout": "1s",
                "servers": [
                    {"name": "primary", "address": pair.primary.address, "role": "primary"},
                    {"name": "replica", "address": pair.replica.address, "role": "replica"},
                ],
                "mysql": {"users": [{"user": USER, "password": PASSWORD}], **mysql},
            }
        ],
    }


def pooled_config(
    pair: Pair,
    max_per_server: int,
    *,
    multiplexing: bool = False,
    connect_timeout: str | None = None,
) -> dict[str, Any]:
    """`proxy_config` with the server-connection pool on: at most `max_per_server`
    connections to each server, given back between statements when `multiplexing`.
    `connect_timeout` (e.g. "3s") replaces the backend's 1s; it is also how long a session
    waits for a pooled connection before it is answered 1040, which the tests that put many
    clients on few connections lengthen."""
    pool = {"enabled": True, "max_per_server": max_per_server, "multiplexing": multiplexing}
    config = proxy_config(pair, pool=pool)
    if connect_timeout is not None:
        config["backends"][0]["connect_timeout"] = connect_timeout
    return config


@contextlib.contextmanager
def running_proxy(config: dict[str, Any], workdir: Path) -> Iterator[FastlbProcess]:
    """`fastlb serve` with `config`, stopped (by pid) at the end, its log printed (shown when
    a test fails)."""
    process = FastlbProcess(config, workdir)
    try:
        yield process.start()
    finally:
        process.close()
        print(f"--- fastlb serve log ---\n{process.log()}")


@contextlib.contextmanager
def pooled_proxy(
    pair: Pair,
    workdir: Path,
    max_per_server: int,
    *,
    multiplexing: bool = False,
    connect_timeout: str | None = None,
) -> Iterator[FastlbProcess]:
    """`running_proxy` of `pooled_config(...)`."""
    config = pooled_config(
        pair, max_per_server, multiplexing=multiplexing, connect_timeout=connect_timeout
    )
    with running_proxy(config, workdir) as process:
        yield process


def sql_port(process: FastlbProcess) -> int:
    return port_of(process.config["frontends"][0]["listen"])


def connect(port: int, **options: Any) -> pymysql.Connection[Any]:
    """A PyMySQL client session through the proxy (autocommit on, database `app`)."""
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "user": USER,
        "password": PASSWORD,
        "database": "app",
        "autocommit": True,
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    settings.update(options)
    return pymysql.connect(**settings)


def one(connection: pymysql.Connection[Any], sql: str, args: Any = None) -> Any:
    """The first value of the first row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        row = cursor.fetchone()
    return None if row is None else row[0]


def server_id(connection: pymysql.Connection[Any], sql: str = "SELECT @@server_id") -> int:
    return int(one(connection, sql))


def mysql_stats(process: FastlbProcess) -> dict[str, Any]:
    stats: dict[str, Any] = process.stats()["frontends"]["sql"]["mysql"]
    return stats


def global_status(server: MariaDB, name: str) -> int:
    """A counter of the server's own (`SHOW GLOBAL STATUS`), e.g. Threads_connected: what
    the pool really holds open, seen from the server's side."""
    rows = server.sql_rows(f"SHOW GLOBAL STATUS LIKE '{name}'")
    return int(rows[0]["Value"])
