"""`fastlb serve`'s side of a zero-downtime upgrade: hand the sockets to a new process when
one asks (upgrade.py), and start that new process on SIGUSR2 (`systemctl reload`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .upgrade import Inheritance, UpgradeListener, hand_over

if TYPE_CHECKING:
    from .balancer import LoadBalancer
    from .notify import Notifier

log = logging.getLogger("fastlb")

# How often the process that started an upgrade looks whether its child is still alive.
CHILD_POLL = 0.2


class Lifecycle:
    """The upgrade socket of one `fastlb serve` process, and what it inherited, if anything."""

    def __init__(self, args: argparse.Namespace, path: Path, inherited: Inheritance | None) -> None:
        self.args = args
        self.path = path
        self.inherited = inherited
        self.upgrade_requested = asyncio.Event()
        # Set once a new process took over: this one only drains from then on.
        self.handed_over = False
        self._listener: UpgradeListener | None = None

    def listen(self) -> None:
        """Accept upgrades at `path` (replacing the socket of the process this one upgraded)."""
        self._listener = UpgradeListener(self.path)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def serve_upgrades(self, balancer: LoadBalancer, stop_requested: asyncio.Event) -> None:
        """Hand everything to the first process that asks and completes the takeover, then
        ask this one to stop (it drains; `handed_over` tells the stop path)."""
        if self._listener is None:
            return
        while True:
            conn = await self._listener.accept()
            if conn is None:
                continue
            exported = balancer.export_listeners()
            api = balancer.export_api_socket()
            failover = balancer.failover_state()
            bgp = balancer.bgp_handover()
            if await asyncio.to_thread(hand_over, conn, exported, api, failover, bgp):
                log.info("upgrade: a new process serves now; this one stops accepting")
                self.handed_over = True
                stop_requested.set()
                return

    async def upgrade_on_signal(self, notifier: Notifier, status: str) -> None:
        """SIGUSR2: start `fastlb serve --upgrade` with this process's arguments. Under
        systemd the child sends MAINPID= and READY=1 once it serves (NotifyAccess=all)."""
        while True:
            await self.upgrade_requested.wait()
            self.upgrade_requested.clear()
            notifier.reloading("upgrading: a new process takes over")
            child = subprocess.Popen(self._child_argv(), start_new_session=True)
            log.info("SIGUSR2: started process %d to take over", child.pid)
            while child.poll() is None and not self.handed_over:
                await asyncio.sleep(CHILD_POLL)
            if not self.handed_over:
                log.error(
                    "upgrade: process %d exited (status %s) before taking over; still serving",
                    child.pid,
                    child.returncode,
                )
                notifier.ready("last upgrade failed, see the log; " + status)

    def _child_argv(self) -> list[str]:
        args = self.args
        return [
            sys.executable,
            "-m",
            "fastlb",
            "serve",
            "-c",
            os.fspath(args.config),
            "--log-level",
            args.log_level,
            "--log-format",
            args.log_format,
            "--upgrade-socket",
            os.fspath(self.path),
            "--upgrade",
        ]
