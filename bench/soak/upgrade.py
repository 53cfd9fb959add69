"""The soak's one upgrade: a new `fastlb serve -c FILE --upgrade` takes the running process's
listening sockets over and the old one drains and exits.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastlb.harness.process import FastlbProcess, fastlb_command, spawn
from fastlb.upgrade import default_socket_path


class UpgradingFastlb(FastlbProcess):
    """`fastlb serve -c FILE --upgrade`: while the old process still holds the ports, they
    listen and the API answers before this one serves, so ready means "the old one exited and
    this one is alive and answers"."""

    def __init__(self, config: dict[str, Any], workdir: Path, old: FastlbProcess) -> None:
        super().__init__(config, workdir)
        self.old = old

    def start(self) -> UpgradingFastlb:
        self.config_path.write_text(self.old.config_path.read_text())
        self.proc = spawn(
            [
                *fastlb_command(),
                "serve",
                "-c",
                str(self.config_path),
                "--upgrade",
                # The running process listens where its own config file's path says; this
                # one reads a copy under another name.
                "--upgrade-socket",
                str(default_socket_path(self.old.config_path)),
            ],
            self.log_path,
        )
        return self

    def wait_taken_over(self, timeout: float) -> None:
        """Waits until the old process has exited (it drains first), then until this one is
        ready; RuntimeError with both logs when either misbehaves."""
        deadline = time.monotonic() + timeout
        while self.old.alive():
            if (code := self.popen.poll()) is not None:
                raise RuntimeError(f"the upgrading process exited with {code}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the old process still runs after {timeout}s")
            time.sleep(0.1)
        if (status := self.old.popen.returncode) != 0:
            raise RuntimeError(f"the old process exited with {status}:\n{self.old.log()[-2000:]}")
        self.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
