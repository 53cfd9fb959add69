"""sysbench against a MySQL port: one run, and the queries per second it printed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from fastlb.harness.mariadb import sysbench_command


def run(
    script: str,
    port: int,
    command: str,
    seconds: float,
    options: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """sysbench `script` `command` (prepare, run) for `seconds`, its output; exits with its
    output when it fails. `cwd` is where sysbench looks for its TLS files (fixed names)."""
    argv = sysbench_command(script, port, command, *options, f"--time={max(1, round(seconds))}")
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 120, cwd=cwd, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"sysbench {script} {command} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def queries_per_second(output: str) -> float:
    """sysbench's `queries: N (Q per sec.)`; exits when it reports ignored errors."""
    match = re.search(r"queries:\s+\d+\s+\(([\d.]+) per sec\.\)", output)
    errors = re.search(r"ignored errors:\s+(\d+)", output)
    if not match:
        raise SystemExit(f"no queries/s in sysbench output:\n{output}")
    if errors and int(errors.group(1)):
        raise SystemExit(f"sysbench saw errors:\n{output}")
    return float(match.group(1))
