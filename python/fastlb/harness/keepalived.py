"""Stock keepalived (VRRP only) in a network namespace, as the peer fastlb's own VRRP speaker is
measured and tested against: the classic pair of keepalived for the virtual IP beside a load
balancer for the data path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fastlb.harness.netns import Lab
from fastlb.harness.waiting import wait_for

START_TIMEOUT = 40.0


@dataclass(frozen=True)
class VirtualRouter:
    """One VRRP instance: its id, the virtual IP (/24 on eth0), this node's priority, and the
    advertisement interval in seconds."""

    vrid: int
    vip: str
    priority: int
    advert: float


class DataPath(Protocol):
    """The load balancer beside keepalived (a `fastlb serve` without `failover:`)."""

    def start(self) -> object: ...
    def stats(self) -> dict[str, object]: ...
    def log(self) -> str: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...


KEEPALIVED_CONF = """\
global_defs {{
    router_id {host}
    vrrp_version 3
    # Nothing else of keepalived's runs here: no scripts, no checkers.
    vrrp_garp_master_delay 5
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    priority {priority}
    advert_int {advert}
    virtual_ipaddress {{
        {vip}/24
    }}
}}
"""


class KeepalivedNode:
    """Stock keepalived (VRRP only) for the virtual IP, and `fastlb serve` without failover
    for the data path: the classic pair, as a peer of a fastlb node."""

    def __init__(
        self, lab: Lab, workdir: Path, host: str, router: VirtualRouter, data_path: DataPath
    ) -> None:
        self.lab = lab
        self.host = host
        self.conf = workdir / f"{host}-keepalived.conf"
        self.conf.write_text(
            KEEPALIVED_CONF.format(
                host=host,
                vrid=router.vrid,
                priority=router.priority,
                vip=router.vip,
                advert=f"{router.advert:g}",
            )
        )
        self.log_path = workdir / f"{host}-keepalived.log"
        self.pid_file = workdir / f"{host}-keepalived.pid"
        self.vrrp_pid_file = workdir / f"{host}-keepalived-vrrp.pid"
        self.data_path = data_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> KeepalivedNode:
        # A killed keepalived leaves its pid files (and maybe an unreaped zombie child that
        # they name): it would refuse to start as "already running".
        for pid_file in (self.pid_file, self.vrrp_pid_file):
            pid_file.unlink(missing_ok=True)
        self.data_path.start()
        argv = [
            "keepalived",
            "--dont-fork",
            "--log-console",
            "--vrrp",
            "--use-file",
            str(self.conf),
            "--pid",
            str(self.pid_file),
            "--vrrp_pid",
            str(self.vrrp_pid_file),
        ]
        self.proc = self.lab.spawn(self.host, argv, self.log_path)
        return self

    def wait_ready(self) -> KeepalivedNode:
        def ready() -> bool:
            return "Entering BACKUP STATE" in self.log() or "Entering MASTER STATE" in self.log()

        wait_for(ready, START_TIMEOUT, f"keepalived on {self.host} started")
        wait_for(self._data_path_ready, START_TIMEOUT, f"fastlb data path on {self.host}")
        return self

    def _data_path_ready(self) -> bool:
        try:
            self.data_path.stats()
        except (OSError, ValueError):
            return False
        return True

    def log(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = "(no log)"
        return f"--- keepalived on {self.host} ---\n{text}\n{self.data_path.log()}"

    def kill(self) -> None:
        """SIGKILL to keepalived (both processes) and to the data path: the machine died."""
        self._kill_vrrp_child()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.data_path.kill()

    def stop(self) -> None:
        """SIGTERM: keepalived's clean stop (a master sends priority 0)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(15)

    def close(self) -> None:
        # SIGTERM lets keepalived stop its VRRP child; kill that child by pid if it stayed.
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._kill_vrrp_child()
        self.data_path.close()

    def _kill_vrrp_child(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            child = int(self.vrrp_pid_file.read_text().strip())
            # Only while it is still keepalived (the pid file may be stale).
            if "keepalived" in Path(f"/proc/{child}/comm").read_text():
                os.kill(child, signal.SIGKILL)
