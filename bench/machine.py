"""What a report says about where it was measured: the machine, the commit, the tools' versions.

Both A/B runners (wrk/h2load and Locust) head their report with these, so that a figure can be
traced to the hardware, the load and the code that produced it.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def first_line(argv: list[str]) -> str:
    """The first line a command prints (stdout or stderr): a tool's version."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def git_commit() -> str:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return proc.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src", "python", "Cargo.toml", "Cargo.lock")
    return f"{commit} (+ uncommitted changes in src/python)" if dirty else commit


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"
