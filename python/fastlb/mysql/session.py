"""`Router.transaction()` and `Router.session()` blocks: one pooled connection held for the
block, every statement of the block run there in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomysql

from .classify import classify
from .connections import ExecuteResult, Fetch, run_statement

__all__ = ["BLOCK_KINDS", "Held", "Session", "statement_summary"]

# Kinds that only make sense on a connection the caller holds.
BLOCK_KINDS = {"begin", "begin_read_only", "end", "set_autocommit"}


def statement_summary(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Held:
    """A pooled connection held by the router: which server, which pool."""

    name: str
    connection: aiomysql.Connection


class Session:
    """One pooled connection held for an `async with` block (`Router.transaction()` or
    `Router.session()`); its statements all run there, in order."""

    def __init__(
        self,
        held: Held,
        *,
        transaction: bool,
        count: Callable[[str], None],
        track_gtid: Callable[[aiomysql.Connection], Awaitable[None]],
    ) -> None:
        self._held = held
        self._count = count
        self._track_gtid = track_gtid
        self._transaction = transaction
        #: Set when a statement left state on the connection: it is closed, not pooled.
        self.dirty = False
        self.wrote = False

    @property
    def server(self) -> str:
        """The name of the server this block runs on."""
        return self._held.name

    async def execute(self, sql: str, args: Any = None) -> ExecuteResult:
        result = await self._run(sql, args, "none")
        assert isinstance(result, ExecuteResult)
        return result

    async def fetchall(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        return list(await self._run(sql, args, "all"))

    async def fetchone(self, sql: str, args: Any = None) -> tuple[Any, ...] | None:
        row = await self._run(sql, args, "one")
        return None if row is None else tuple(row)

    async def _run(self, sql: str, args: Any, fetch: Fetch) -> Any:
        statement = classify(sql)
        if self._transaction and statement.kind in BLOCK_KINDS:
            raise ValueError(
                f"{statement_summary(sql)!r} inside `router.transaction()`: the block "
                "commits on success and rolls back on an exception by itself"
            )
        if statement.kind in BLOCK_KINDS or statement.kind == "session_state":
            self.dirty = True
        self.dirty |= statement.pins_primary
        result = await run_statement(self._held.connection, sql, args, fetch)
        self._count(self._held.name)
        if statement.kind != "read":
            self.wrote = True
            if not self._transaction:
                await self._track_gtid(self._held.connection)
        return result
