"""The user's `notify` command (keepalived's `notify`): run on a state change with the change
as arguments, for VRRP (`failover.notify`) and MySQL failover (`mysql.failover.notify`).

`NotifyCommand` runs one command per change, **in order** (a script appending to a file sees
`failover_started` before `promoted`), on a task of its own: the caller never waits for it,
so a slow or hung script cannot hold up VRRP adverts or a failover. A command that cannot
start, exits non-zero or outlives `NOTIFY_TIMEOUT` (then killed) is logged, never raised.
(Not to be confused with notify.py: systemd's sd_notify protocol.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
from collections.abc import Mapping, Sequence

from .config_types import field_error

__all__ = ["NOTIFY_TIMEOUT", "NotifyCommand", "check_notify_command"]

log = logging.getLogger("fastlb.notify")

#: keepalived's default `script_timeout` is 5 s; 30 s leaves room for a paging webhook.
NOTIFY_TIMEOUT = 30.0
# Changes waiting for their command: a flapping server must not queue commands without bound.
MAX_QUEUED = 100


def check_notify_command(value: str) -> str:
    """The config check shared by every `notify:` key (a pydantic AfterValidator)."""
    if not value.strip():
        raise field_error("must not be empty (remove the key to run no command)")
    try:
        shlex.split(value)
    except ValueError as exc:
        raise field_error(f"cannot be split into arguments: {exc}") from None
    return value


class NotifyCommand:
    """`command` (split like a shell would, no shell run) plus each change's arguments."""

    def __init__(self, command: str, what: str, timeout: float = NOTIFY_TIMEOUT) -> None:
        self.argv = shlex.split(command)
        #: Names the command in the log ("failover", "mysql db").
        self.what = what
        self.timeout = timeout
        self._queue: asyncio.Queue[tuple[list[str], dict[str, str]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def submit(self, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Queue a run with `args` after the command's own; call on the running event loop.
        Returns at once."""
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue(MAX_QUEUED)
            self._worker = asyncio.get_running_loop().create_task(self._drain(self._queue))
        try:
            self._queue.put_nowait(([*self.argv, *args], {**os.environ, **(env or {})}))
        except asyncio.QueueFull:
            log.error(
                "%s: notify command %s dropped %s: too many queued",
                self.what,
                self.argv[0],
                list(args),
            )

    async def wait_idle(self) -> None:
        """Until every queued run finished (tests, and a clean stop)."""
        if self._queue is not None:
            await self._queue.join()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    async def _drain(self, queue: asyncio.Queue[tuple[list[str], dict[str, str]]]) -> None:
        while True:
            argv, env = await queue.get()
            try:
                await self.run(argv, env)
            finally:
                queue.task_done()

    async def run(self, argv: list[str], env: Mapping[str, str]) -> int | None:
        """One run; its exit status, or None when it could not start or was killed."""
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, env=dict(env), stdin=asyncio.subprocess.DEVNULL
            )
        except OSError as exc:
            log.error("%s: notify command %s failed to start: %s", self.what, argv[0], exc)
            return None
        try:
            status = await asyncio.wait_for(process.wait(), self.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            log.error("%s: notify command %s killed after %gs", self.what, argv[0], self.timeout)
            return None
        if status != 0:
            log.warning("%s: notify command %s exited with %d", self.what, argv[0], status)
        return status
