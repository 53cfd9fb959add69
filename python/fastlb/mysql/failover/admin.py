"""The SQL of each failover step, on one server (MariaDB; the statements are MariaDB's:
`MASTER_GTID_WAIT`, `MASTER_USE_GTID`, `RESET SLAVE ALL`).

Every function takes an open aiomysql connection (autocommit) of a user that may set
read_only, kill connections and manage replication (SUPER, or on 10.5+ READ_ONLY ADMIN,
CONNECTION ADMIN, REPLICATION SLAVE ADMIN, BINLOG MONITOR, SLAVE MONITOR), and is bounded by
the caller's timeouts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiomysql

from ..topology import ServerSpec

__all__ = [
    "Admin",
    "ReplicationLogin",
    "applied_position",
    "binlog_position",
    "is_read_only",
    "kill_client_connections",
    "promote",
    "repoint",
    "restart_replication",
    "set_read_only",
    "stop_io_and_drain",
    "try_lock",
    "wait_applied",
]


@dataclass(frozen=True)
class ReplicationLogin:
    user: str
    password: str


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Admin:
    """Opens short-lived administrative connections (never the monitor's own: a failover
    step must not block a monitoring round)."""

    def __init__(self, user: str, password: str, timeout: float, ssl: Any = None) -> None:
        self.user = user
        self.password = password
        self.timeout = timeout
        self.ssl = ssl

    async def connect(self, spec: ServerSpec) -> aiomysql.Connection:
        return await asyncio.wait_for(
            aiomysql.connect(
                host=spec.host,
                port=spec.port,
                user=self.user,
                password=self.password,
                connect_timeout=self.timeout,
                autocommit=True,
                ssl=self.ssl,
            ),
            self.timeout,
        )


class _QuietCursor(aiomysql.Cursor):  # type: ignore[misc]
    """A cursor that does not turn the server's notes ("Slave already has been stopped")
    into Python warnings: the steps are idempotent on purpose."""

    async def _show_warnings(self, conn: Any) -> None:
        return None


async def _execute(connection: aiomysql.Connection, sql: str) -> None:
    async with connection.cursor(_QuietCursor) as cursor:
        await cursor.execute(sql)


async def is_read_only(connection: aiomysql.Connection) -> bool:
    return str(await _scalar(connection, "SELECT @@read_only")) == "1"


async def _scalar(connection: aiomysql.Connection, sql: str) -> Any:
    async with connection.cursor() as cursor:
        await cursor.execute(sql)
        row = await cursor.fetchone()
    return row[0] if row else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


async def set_read_only(connection: aiomysql.Connection, on: bool) -> None:
    await _execute(connection, f"SET GLOBAL read_only = {1 if on else 0}")


async def binlog_position(connection: aiomysql.Connection) -> str:
    """Everything this server wrote to its binary log (its own writes and replicated)."""
    return _text(await _scalar(connection, "SELECT @@gtid_binlog_pos"))


async def applied_position(connection: aiomysql.Connection) -> str:
    return _text(await _scalar(connection, "SELECT @@gtid_current_pos"))


async def kill_client_connections(connection: aiomysql.Connection, keep_users: set[str]) -> int:
    """Ends every client connection but this one, replication's (Binlog Dump) and the
    server's own threads: the sessions that could still write to an old primary. Their
    clients see an error (an open transaction is never silently retried elsewhere)."""
    own = await _scalar(connection, "SELECT CONNECTION_ID()")
    async with connection.cursor(aiomysql.DictCursor) as cursor:
        await cursor.execute("SHOW FULL PROCESSLIST")
        rows = await cursor.fetchall()
    killed = 0
    for row in rows:
        command = _text(row.get("Command"))
        user = _text(row.get("User"))
        if (
            int(row["Id"]) == int(own)
            or command in ("Binlog Dump", "Binlog Dump GTID", "Daemon", "Slave_IO", "Slave_SQL")
            or user in ("system user", "event_scheduler", "")
            or user in keep_users
        ):
            continue
        try:
            await _execute(connection, f"KILL CONNECTION {int(row['Id'])}")
            killed += 1
        except Exception:
            continue
    return killed


async def wait_applied(connection: aiomysql.Connection, position: str, timeout: float) -> bool:
    """Whether the replica applied `position` within `timeout` seconds."""
    if not position:
        return True
    async with connection.cursor() as cursor:
        await cursor.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (position, timeout))
        row = await cursor.fetchone()
    return row is not None and int(row[0]) == 0


async def stop_io_and_drain(connection: aiomysql.Connection, timeout: float) -> str:
    """After the primary died: stop fetching, apply what the relay log already holds, and
    return the position then applied (what this replica could offer as a new primary)."""
    await _execute(connection, "STOP SLAVE IO_THREAD")
    async with connection.cursor(aiomysql.DictCursor) as cursor:
        await cursor.execute("SHOW SLAVE STATUS")
        row = await cursor.fetchone()
    received = _text(row.get("Gtid_IO_Pos")) if row else ""
    if received:
        await wait_applied(connection, received, timeout)
    return await applied_position(connection)


async def try_lock(connection: aiomysql.Connection, name: str) -> bool:
    """`GET_LOCK(name, 0)`: whether this connection now holds the server's named lock (until
    it closes; MariaDB never replicates it). Never waits: a lock held elsewhere is an answer."""
    return bool(await _scalar(connection, f"SELECT GET_LOCK({_quote(name)}, 0)") == 1)


async def restart_replication(connection: aiomysql.Connection) -> None:
    """Undoes `stop_io_and_drain` (a failover that did not happen)."""
    await _execute(connection, "START SLAVE")


async def promote(connection: aiomysql.Connection) -> str:
    """Makes the server a writable primary with no replication; returns its position."""
    await _execute(connection, "STOP SLAVE")
    await _execute(connection, "RESET SLAVE ALL")
    # Semi-sync moves with the primary: a server that acknowledged as a semi-sync replica
    # waits for its replicas' acknowledgements as the primary.
    await _execute(
        connection, "SET GLOBAL rpl_semi_sync_master_enabled = @@rpl_semi_sync_slave_enabled"
    )
    await set_read_only(connection, False)
    return await applied_position(connection)


async def repoint(
    connection: aiomysql.Connection,
    primary: ServerSpec,
    login: ReplicationLogin,
    *,
    former_primary: bool = False,
) -> None:
    """Replicates from `primary` by GTID. A former primary first takes its own binary log
    as its replication position (its writes are in gtid_binlog_pos, not gtid_slave_pos)."""
    await _execute(connection, "STOP SLAVE")
    # A replica waiting for acknowledgements of what it applies would stall replication.
    await _execute(connection, "SET GLOBAL rpl_semi_sync_master_enabled = 0")
    if former_primary:
        await _execute(connection, "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos")
    await _execute(
        connection,
        f"CHANGE MASTER TO MASTER_HOST={_quote(primary.host)}, MASTER_PORT={primary.port}, "
        f"MASTER_USER={_quote(login.user)}, MASTER_PASSWORD={_quote(login.password)}, "
        "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
    )
    await _execute(connection, "START SLAVE")
