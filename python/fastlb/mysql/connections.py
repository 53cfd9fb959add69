"""What the Router does on one aiomysql connection: run a statement, tell a broken connection
from a failed statement, read the GTID of the last write, wait for a GTID on a replica; and
the per-context causal position.

MariaDB and MySQL differ here: MariaDB gives a session's last GTID as `@@last_gtid` and waits
with `MASTER_GTID_WAIT(pos, timeout)` (0, or -1 on timeout); MySQL has `@@gtid_executed` and
`WAIT_FOR_EXECUTED_GTID_SET(set, timeout)` (0, or 1 on timeout). NOTE: fastlb's tests run
MariaDB only; the MySQL branch follows MySQL's documentation and is untested.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Literal

import aiomysql
import pymysql

from . import gtid

__all__ = [
    "CausalPosition",
    "ExecuteResult",
    "Fetch",
    "describe",
    "is_connection_error",
    "last_gtid",
    "run_statement",
    "wait_for_gtid",
]

Fetch = Literal["none", "one", "all"]

# Client-side error codes (CR_*) that mean the connection failed, not the statement:
# can't connect (2002, 2003), server gone away (2006), lost connection (2013), out of sync
# (2014), connection broken (2055).
_CONNECTION_ERROR_CODES = frozenset({2002, 2003, 2006, 2013, 2014, 2055})


@dataclass(frozen=True)
class ExecuteResult:
    """What `execute` returns: as a DB-API cursor has them after the statement."""

    rowcount: int
    lastrowid: int | None


async def run_statement(connection: aiomysql.Connection, sql: str, args: Any, fetch: Fetch) -> Any:
    """Runs `sql` with `args`; the rows (`all`), the first row (`one`) or an ExecuteResult."""
    async with connection.cursor() as cursor:
        await cursor.execute(sql, args)
        if fetch == "all":
            return await cursor.fetchall()
        if fetch == "one":
            return await cursor.fetchone()
        return ExecuteResult(cursor.rowcount, cursor.lastrowid)


def is_connection_error(exc: BaseException) -> bool:
    """The connection failed (the server is down, restarted, unreachable), as opposed to a
    statement the server refused."""
    if isinstance(exc, pymysql.err.OperationalError):
        return bool(exc.args) and exc.args[0] in _CONNECTION_ERROR_CODES
    return isinstance(exc, (pymysql.err.InterfaceError, OSError))


def describe(exc: BaseException) -> str:
    """`(2003, "Can't connect ...")` -> `Can't connect ... (2003)`."""
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) == 2:
        return f"{exc.args[1]} ({exc.args[0]})"
    return str(exc) or type(exc).__name__


def _is_mariadb(connection: aiomysql.Connection) -> bool:
    return "mariadb" in str(connection.get_server_info()).lower()


async def _scalar(connection: aiomysql.Connection, sql: str, args: Any = None) -> Any:
    async with connection.cursor() as cursor:
        await cursor.execute(sql, args)
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def last_gtid(connection: aiomysql.Connection) -> str:
    """The GTID of the last transaction this connection wrote ("" when none)."""
    if _is_mariadb(connection):
        value = await _scalar(connection, "SELECT @@last_gtid")
    else:
        value = await _scalar(connection, "SELECT @@GLOBAL.gtid_executed")
    return str(value or "")


async def wait_for_gtid(connection: aiomysql.Connection, position: str, timeout: float) -> bool:
    """Waits on this (replica) connection until the server has applied `position`; False when
    `timeout` seconds pass first."""
    if _is_mariadb(connection):
        result = await _scalar(connection, "SELECT MASTER_GTID_WAIT(%s, %s)", (position, timeout))
    else:
        result = await _scalar(
            connection, "SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s)", (position, timeout)
        )
    return result is not None and int(result) == 0


# One variable for every Router: a mapping of router token -> position, replaced (never
# mutated) on each write, so that each asyncio context (task) sees its own writes and the ones
# of the context it was started from.
_POSITIONS: contextvars.ContextVar[dict[object, str]] = contextvars.ContextVar(
    "fastlb_mysql_causal_positions"
)


class CausalPosition:
    """The GTID position a context's reads must see (its writes so far), for one Router."""

    def __init__(self) -> None:
        self._token = object()

    def get(self) -> str:
        return _POSITIONS.get({}).get(self._token, "")

    def advance(self, written: str) -> None:
        """After a write whose GTID is `written`: later reads of this context wait for it."""
        if not written:
            return
        positions = _POSITIONS.get({})
        current = positions.get(self._token, "")
        try:
            merged = gtid.merge(current, written) if current else written
        except ValueError:
            merged = written  # MySQL GTID sets: the latest executed set covers the earlier
        _POSITIONS.set({**positions, self._token: merged})
