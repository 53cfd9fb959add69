"""What happens to fastlb while the traffic runs, on a timeline planned from the duration:

- a reload every 10 s, SIGHUP and `fastlb ctl reload` in turn, each with a config file that
  changes one server's weight (checked in /api/stats afterwards);
- a weight change every 10 s (5 s after each reload), `fastlb ctl set-weight` and the API's
  PUT in turn (checked in /api/stats);
- a backend restart every duration/12 s (at least 15 s apart), web, tcp and mysql in turn;
- one upgrade (`fastlb serve --upgrade`) around half-time, when the build offers it.

The operations run one after the other on the caller's thread, each recorded with its start
and end (an `Operation`): the verdict explains client errors by those windows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

from bench.soak.model import Operation
from bench.soak.topology import RELOADED_SERVER, TCP, WEB, WEIGHTED_SERVER, SoakTopology
from bench.soak.upgrade import UpgradingFastlb
from fastlb.ctl import ApiError, call_api
from fastlb.harness.process import fastlb_command
from fastlb.harness.waiting import wait_until

RELOAD_EVERY_S = 10.0
RESTART_TARGETS = ("web", "tcp", "mysql")
FIRST_RESTART_S = 12.0
APPLIED_TIMEOUT_S = 5.0
UPGRADE_TIMEOUT_S = 60.0
# Nothing but traffic in the last seconds: the verdict's end window is the steady state.
QUIET_END_S = 15.0


@dataclass(frozen=True)
class Planned:
    t: float
    kind: str  # "reload" | "weight" | "restart" | "upgrade"
    target: str


def plan(duration: float) -> list[Planned]:
    """The timeline, sorted by time (pure: tests and the report can show it)."""
    last = duration - QUIET_END_S
    timeline: list[Planned] = []
    t, n = RELOAD_EVERY_S, 0
    while t <= last:
        timeline.append(Planned(t, "reload", "sighup" if n % 2 == 0 else "ctl"))
        timeline.append(Planned(t - RELOAD_EVERY_S / 2, "weight", "ctl" if n % 2 == 0 else "api"))
        t, n = t + RELOAD_EVERY_S, n + 1
    # Restarts from 12 s on, web, tcp and mysql in turn (each at least once in a minute); the
    # upgrade half-way between the two restarts around half-time, away from both.
    every = max(15.0, duration / 12)
    t, n = FIRST_RESTART_S, 0
    while t <= last:
        timeline.append(Planned(t, "restart", RESTART_TARGETS[n % len(RESTART_TARGETS)]))
        t, n = t + every, n + 1
    k = max(0, int((duration / 2 - FIRST_RESTART_S) // every))
    timeline.append(Planned(FIRST_RESTART_S + every * (k + 0.5), "upgrade", ""))
    return sorted(timeline, key=lambda p: p.t)


class Operator:
    """Carries out a plan against a topology; `operations` records what was done."""

    def __init__(self, topology: SoakTopology, started_at: float) -> None:
        self.topology = topology
        self.started_at = started_at
        self.operations: list[Operation] = []
        self._weight = 1

    def _now(self) -> float:
        return time.monotonic() - self.started_at

    def run(self, timeline: list[Planned], until: float) -> None:
        """Each planned operation at its time, then idles until `until` (soak seconds)."""
        for planned in timeline:
            time.sleep(max(0.0, planned.t - self._now()))
            self.do(planned)
            if not self.topology.process.alive():
                log = self.topology.process.log()[-500:]
                self.operations.append(
                    Operation("exit", "fastlb", self._now(), self._now(), ok=False, detail=log)
                )
                return
        time.sleep(max(0.0, until - self._now()))

    def do(self, planned: Planned) -> None:
        start = self._now()
        try:
            detail = {
                "reload": self._reload,
                "weight": self._set_weight,
                "restart": self._restart,
                "upgrade": self._upgrade,
            }[planned.kind](planned.target)
            ok = True
        except (ApiError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
            detail, ok = str(exc)[:500], False
        self.operations.append(
            Operation(planned.kind, planned.target, start, self._now(), ok, detail)
        )

    def _server_weight(self, backend: str, server: str) -> int:
        stats = call_api(self.topology.api_url, "GET", "/api/stats")
        return int(stats["backends"][backend]["servers"][server]["weight"])

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*fastlb_command(), "ctl", "--api", self.topology.api_url, *args],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def _reload(self, how: str) -> str:
        weight = self.topology.rewrite_config_for_reload()
        if how == "sighup":
            os.kill(self.topology.process.pid, signal.SIGHUP)
        else:
            self._ctl("reload")
        if not wait_until(
            lambda: self._server_weight(TCP, RELOADED_SERVER) == weight,
            APPLIED_TIMEOUT_S,
            interval=0.1,
        ):
            raise RuntimeError(f"{RELOADED_SERVER}'s weight is not {weight} after the reload")
        return f"{RELOADED_SERVER} weight {weight}"

    def _set_weight(self, how: str) -> str:
        self._weight = self._weight % 4 + 1  # 2, 3, 4, 1, 2 ...
        if how == "ctl":
            self._ctl("set-weight", WEB, WEIGHTED_SERVER, str(self._weight))
        else:
            path = f"/api/backends/{WEB}/servers/{WEIGHTED_SERVER}"
            call_api(self.topology.api_url, "PUT", path, body={"weight": self._weight})
        if self._server_weight(WEB, WEIGHTED_SERVER) != self._weight:
            raise RuntimeError(f"{WEIGHTED_SERVER}'s weight is not {self._weight}")
        return f"{WEIGHTED_SERVER} weight {self._weight}"

    def _restart(self, target: str) -> str:
        self.topology.restart_backend(target)
        return f"{target} backend restarted"

    def _upgrade(self, _: str) -> str:
        old = self.topology.process
        workdir = old.config_path.parent.with_name(f"fastlb-upgrade-{int(self._now())}")
        workdir.mkdir()
        new = UpgradingFastlb(old.config, workdir, old)
        self.topology.adopt(new.start())
        new.wait_taken_over(UPGRADE_TIMEOUT_S)
        return f"pid {old.pid} -> {new.pid}"
