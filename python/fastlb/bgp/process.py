"""The speaker daemon as fastlb's child: it lives and dies with fastlb (so that a killed
fastlb never leaves a speaker announcing a node that cannot serve), and its output goes to
fastlb's log."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
from collections.abc import Callable, Mapping

from ..errors import FastLBError

__all__ = ["BgpError", "SpeakerProcess", "find_program"]

log = logging.getLogger("fastlb.bgp")

_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT = 5.0


class BgpError(FastLBError, OSError):
    """The BGP speaker cannot run here (program missing, control socket unreachable)."""


def find_program(name: str, package: str) -> str:
    """The daemon's path (PATH, then /usr/sbin, /sbin), or BgpError saying what to install."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise BgpError(
            f"bgp: {name} is not installed (Debian: apt-get install {package}); "
            "or choose the other speaker in bgp.speaker"
        )
    return found


def _die_with_parent() -> None:
    # Linux: SIGTERM when the thread that forked us ends, also on `kill -9` of fastlb: the
    # daemon closes its sessions with a Cease and the routers withdraw the routes at once,
    # instead of a speaker that keeps announcing a node whose load balancer is gone. Not
    # SIGKILL: with graceful restart negotiated, a session that ends without a NOTIFICATION
    # leaves the routes at the routers (stale) for the restart time; only an upgrade wants
    # that (`SpeakerProcess.kill()`). (ExaBGP closes silently on SIGTERM too: see exabgp.py.)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class SpeakerProcess:
    """One run of the daemon: `argv` started by `start()`, its output logged line by line
    (`on_line` sees each line first), `stop()` SIGTERM then SIGKILL, `kill()` SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env) if env is not None else None
        self._on_line = on_line
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **self.env} if self.env is not None else None,
                # Its own session: a Ctrl-C meant for fastlb must not kill the speaker before
                # fastlb has withdrawn its routes.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise BgpError(f"bgp: cannot start {self.argv[0]}: {exc}") from exc
        self._reader = asyncio.get_running_loop().create_task(self._read_output())
        log.info("bgp: %s started (pid %d)", self.name, self.process.pid)

    async def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            if self._on_line is not None:
                self._on_line(text)
            if text:
                log.info("bgp: %s: %s", self.name, text)

    async def wait(self) -> int:
        """Until the daemon exits; its status."""
        assert self.process is not None
        status = await self.process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        return status

    async def stop(self) -> None:
        """SIGTERM (BIRD and ExaBGP then close their sessions with a Cease), SIGKILL after
        STOP_TIMEOUT."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(self.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("bgp: %s did not stop within %gs: killed", self.name, STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await self.wait()

    async def kill(self) -> None:
        """SIGKILL: the kernel closes the sessions without a BGP NOTIFICATION, so routers
        that negotiated graceful restart keep the routes (an upgrade hands over)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await self.wait()
