"""`fastlb serve` inside one host of a namespace lab (netns.py), driven through its API from
inside that namespace: the node both the VRRP pair (vrrp_pair.py) and the BGP fleet
(bgp_fleet.py) run, each adding its own section (`failover:`, `bgp:`) and readiness.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import yaml

from fastlb.harness.netns import Lab
from fastlb.harness.process import fastlb_command
from fastlb.harness.waiting import wait_for

# Every node listens on the same loopback address in its own namespace.
API = "http://127.0.0.1:9100"
# Starting inside a namespace lab, beside the other nodes and daemons, is slower than a
# plain process's start (process.START_TIMEOUT).
START_TIMEOUT = 40.0


class NamespacedFastlb:
    """`fastlb serve -c FILE` in `host`'s namespace with `config` (written at `start()`); its
    log in `workdir`. `log_tail` keeps only the end of long logs in failure messages;
    `close_gracefully` makes `close()` send SIGTERM (a drain) before SIGKILL."""

    log_tail: int | None = None
    close_gracefully = False

    def __init__(self, lab: Lab, workdir: Path, host: str, config: dict[str, Any]) -> None:
        self.lab = lab
        self.host = host
        self.config = config
        self.config_path = workdir / f"{host}-fastlb.yaml"
        self.log_path = workdir / f"{host}-fastlb.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Spawn the process (without waiting for it to answer)."""
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        argv = [*fastlb_command(), "serve", "-c", str(self.config_path)]
        self.proc = self.lab.spawn(self.host, argv, self.log_path)
        return self

    def require_running(self) -> None:
        """AssertionError with the log when the process has exited."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is not None:
            raise AssertionError(f"fastlb on {self.host} exited:\n{self.log()}")

    def wait_answering(self, ready: Callable[[], bool], what: str) -> None:
        """Until `ready()` (an API question) is true: AssertionError with the log if the
        process exits first; an API that doesn't answer yet (or answers without the
        section asked for) counts as not ready."""

        def answered() -> bool:
            self.require_running()
            try:
                return ready()
            except (OSError, ValueError, KeyError):
                return False

        wait_for(answered, START_TIMEOUT, f"fastlb on {self.host} {what}")

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        """(status, body) of one API call made from inside the node's namespace."""
        data = None if body is None else json.dumps(body).encode()

        def call() -> tuple[int, str]:
            request = urllib.request.Request(API + path, data=data, method=method)
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=3) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                with error:
                    return error.code, error.read().decode()

        return self.lab.run_in(self.host, call)

    def stats(self) -> dict[str, Any]:
        status, body = self.api("GET", "/api/stats")
        if status != 200:
            raise ValueError(f"/api/stats answered {status}")
        stats: dict[str, Any] = json.loads(body)
        return stats

    def kill(self) -> None:
        """SIGKILL: no goodbye (no VRRP priority 0, no BGP notification); its speaker dies
        with it (PR_SET_PDEATHSIG)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM: the clean stop; returns the exit status."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(15)

    def log(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = "(no log)"
        if self.log_tail is not None:
            text = text[-self.log_tail :]
        return f"--- fastlb on {self.host} ---\n{text}"

    def close(self) -> None:
        """Stop the process if it still runs (SIGKILL, or SIGTERM first: `close_gracefully`)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM if self.close_gracefully else signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
