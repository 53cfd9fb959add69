"""What `fastlb check` verifies when it can reach the servers: the monitor user holds every
privilege a switchover or failover needs (MariaDB names; `SHOW GRANTS`)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

import aiomysql
import pymysql

from ..topology import ServerSpec

__all__ = ["REQUIRED", "missing_on_servers", "missing_privileges"]

#: Privilege -> what it is for.
REQUIRED = {
    "RELOAD": "RESET SLAVE ALL",
    "PROCESS": "SHOW PROCESSLIST of every user",
    "READ_ONLY ADMIN": "SET GLOBAL read_only",
    "CONNECTION ADMIN": "KILL of other users' connections",
    "REPLICATION SLAVE ADMIN": "STOP/START SLAVE, CHANGE MASTER TO",
    "BINLOG MONITOR": "reading gtid_binlog_pos",
    "SLAVE MONITOR": "SHOW SLAVE STATUS",
}
# Before MariaDB 11.0, SUPER grants these as well.
_SUPER_COVERS = frozenset(
    {
        "READ_ONLY ADMIN",
        "CONNECTION ADMIN",
        "REPLICATION SLAVE ADMIN",
        "BINLOG MONITOR",
        "SLAVE MONITOR",
    }
)
_GLOBAL_GRANT = re.compile(r"^GRANT (.+?) ON \*\.\* TO ", re.IGNORECASE)


def missing_privileges(grants: Iterable[str]) -> list[str]:
    """The privileges of REQUIRED that the `SHOW GRANTS` lines do not give on `*.*`."""
    held: set[str] = set()
    for line in grants:
        match = _GLOBAL_GRANT.match(line.strip())
        if match:
            held.update(p.strip().upper() for p in match.group(1).split(","))
    if "ALL PRIVILEGES" in held:
        return []
    if "SUPER" in held:
        held |= _SUPER_COVERS
    return [name for name in REQUIRED if name not in held]


async def _grants(spec: ServerSpec, user: str, password: str, timeout: float) -> list[str]:
    connection = await asyncio.wait_for(
        aiomysql.connect(
            host=spec.host,
            port=spec.port,
            user=user,
            password=password,
            connect_timeout=timeout,
        ),
        timeout,
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute("SHOW GRANTS")
            return [str(row[0]) for row in await cursor.fetchall()]
    finally:
        connection.close()


async def missing_on_servers(
    specs: Iterable[ServerSpec], user: str, password: str, timeout: float = 2.0
) -> dict[str, list[str]]:
    """Server name -> missing privileges, for the servers that answered (an unreachable
    server is not judged: `check` runs anywhere, the servers may be down)."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        try:
            grants = await _grants(spec, user, password, timeout)
        except (TimeoutError, OSError, pymysql.err.MySQLError):
            continue
        missing = missing_privileges(grants)
        if missing:
            out[spec.name] = missing
    return out
