"""Running a load generator (wrk, h2load) once: the part of each driver's `run` that is not
about the tool's own flags or report."""

from __future__ import annotations

import subprocess

from bench.result import LoadParseError

# How much longer than its own duration a tool may take (start-up, connecting, the report)
# before it counts as hung.
GRACE_S = 60.0


def run_load_generator(argv: list[str], duration_s: float, error: type[LoadParseError]) -> str:
    """Runs `argv`, which loads for `duration_s`; its stdout and stderr together (the report,
    and the warnings it prints beside it). Raises `error` (the driver's own, quoting the
    command and the output) when the tool exits non-zero: a failed run has no numbers."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + GRACE_S)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise error(f"{' '.join(argv)} exited with {proc.returncode}:\n{output}")
    return output
