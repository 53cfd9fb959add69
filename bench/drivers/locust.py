"""One headless Locust run (one scenario against one target), watched while it runs, read back.

Locust runs as a subprocess in multi-process mode (`--processes`: a master and forked workers),
so that its gevent monkey-patching stays out of our process and its workers can use every core.
We sample the CPU of its process tree, of the load balancer and of the backends once a second,
print progress, and afterwards read Locust's JSON stats (`--json-file`) and failures CSV.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.locust.scenarios import Scenario
from bench.procstat import CpuSampler, CpuUse, Sample, cpu_between
from bench.result import LoadResult

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "bench" / "locust" / "locustfile.py"
# The response-time percentiles a run reports (LoadResult's keys).
PERCENTILES = (50, 95, 99)
# Samples dropped at the start of the window in which Locust's workers exist: connecting to the
# master and spawning the users (all in the first second) is not the steady state.
SETTLING_SAMPLES = 2
# Locust's own warning when one of its processes passes 90% CPU (locust/runners.py).
LOCUST_CPU_WARNING = "CPU usage above"


class LocustOutputError(ValueError):
    """Locust's stats output is missing or says nothing was measured."""


@dataclass(frozen=True)
class LocustStats:
    """Locust's request stats of one run, every request name summed."""

    requests: int
    failures: int
    duration_s: float  # from the first request after the stats reset to the last one
    content_bytes: int
    response_times_ms: dict[float, int]  # Locust's rounded response times -> count

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.content_bytes / self.duration_s if self.duration_s > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """The smallest response time that `fraction` of the requests did not exceed."""
        total = sum(self.response_times_ms.values())
        if total == 0:
            return 0.0
        needed = fraction * total
        seen = 0
        for value in sorted(self.response_times_ms):
            seen += self.response_times_ms[value]
            if seen >= needed:
                return value
        return max(self.response_times_ms)

    def as_load_result(self) -> LoadResult:
        """The run in the shape every driver returns (seconds, not Locust's milliseconds)."""
        total = sum(self.response_times_ms.values())
        mean_ms = sum(v * n for v, n in self.response_times_ms.items()) / total if total else 0.0
        return LoadResult(
            requests=self.requests,
            duration_s=self.duration_s,
            bytes_read=self.content_bytes,
            requests_per_s=self.requests_per_s,
            latency_avg_s=mean_ms / 1e3,
            latency_percentiles_s={p: self.percentile_ms(p / 100) / 1e3 for p in PERCENTILES},
            socket_errors={},
            non_2xx=0,
            failed_requests=self.failures,
        )


def parse_stats(entries: list[dict[str, Any]]) -> LocustStats:
    """Sum the per-name entries of Locust's `--json-file` output into one LocustStats."""
    if not entries:
        raise LocustOutputError("Locust's JSON stats list no request at all")
    histogram: dict[float, int] = {}
    for entry in entries:
        for value, count in entry["response_times"].items():
            histogram[float(value)] = histogram.get(float(value), 0) + int(count)
    start = min(float(e["start_time"]) for e in entries)
    end = max(float(e["last_request_timestamp"] or start) for e in entries)
    return LocustStats(
        requests=sum(int(e["num_requests"]) for e in entries),
        failures=sum(int(e["num_failures"]) for e in entries),
        duration_s=end - start,
        content_bytes=sum(int(e["total_content_length"]) for e in entries),
        response_times_ms=histogram,
    )


def read_failures(prefix: Path) -> list[str]:
    """Locust's failures CSV (failed requests) and exceptions CSV (errors in the user code) as
    "N x what" lines."""
    describe: dict[str, Callable[[dict[str, str]], str]] = {
        "failures": lambda row: (
            f"{row['Occurrences']} x {row['Error']} ({row['Method']} {row['Name']})"
        ),
        "exceptions": lambda row: f"{row['Count']} x exception in the user code: {row['Message']}",
    }
    lines = []
    for kind, line in describe.items():
        path = prefix.parent / f"{prefix.name}_{kind}.csv"
        if path.exists():
            with path.open(newline="") as handle:
                lines += [line(row) for row in csv.DictReader(handle)]
    return lines


def current_rate(history: Path) -> float | None:
    """The requests/s Locust reported last (its stats history CSV, written every second)."""
    try:
        lines = history.read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 2:
        return None
    row = next(csv.reader([lines[-1]]))
    header = next(csv.reader([lines[0]]))
    try:
        return float(row[header.index("Requests/s")])
    except (ValueError, IndexError):
        return None


def locust_executable() -> str:
    """The `locust` entry point installed beside the running interpreter (the venv's)."""
    candidate = Path(sys.executable).parent / "locust"
    if not candidate.exists():
        raise SystemExit(f"error: {candidate} not found; run `make install` first")
    return str(candidate)


def locust_command(
    scenario: Scenario,
    url: str,
    duration_s: int,
    processes: int,
    prefix: Path,
    checks: Mapping[str, int | str],
) -> list[str]:
    """Headless, all users spawned in the first second, stats reset once they are, then
    `duration_s` measured. `checks` are the locustfile's own options (--small-bytes ...)."""
    users = str(scenario.users)
    command = [
        locust_executable(),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        users,
        "--spawn-rate",
        users,
        "--run-time",
        f"{duration_s}s",
        "--processes",
        str(processes),
        "--host",
        url,
        "--reset-stats",
        "--only-summary",
        "--csv",
        str(prefix),
        "--json-file",
        str(prefix),
        "--exit-code-on-error",
        "1",
    ]
    for option, value in checks.items():
        command += [f"--{option}", str(value)]
    return [*command, scenario.user_class]


@dataclass(frozen=True)
class LocustRun:
    """What one run left: stats (None when Locust wrote none), its exit code, the failures it
    recorded, CPU use over the steady window, and how often Locust warned about its own CPU."""

    stats: LocustStats | None
    exit_code: int
    failures: list[str]
    cpu: CpuUse | None
    locust_cpu_warnings: int
    log: Path
    problem: str | None  # why the run is unusable, when it is


def steady_window(samples: list[Sample]) -> tuple[Sample, Sample] | None:
    """First and last sample of the stretch in which all of Locust's processes (the master and
    every worker) were running: not before the workers are forked, not once one has quit."""
    sizes = [len(s.groups.get("locust", {})) for s in samples]
    complete = max(sizes, default=0)
    if complete < 2:
        return None
    running = [s for s, size in zip(samples, sizes, strict=True) if size == complete]
    usable = running[SETTLING_SAMPLES:]
    if len(usable) < 2:
        usable = running
    if len(usable) < 2:
        return None
    return usable[0], usable[-1]


def locust_environment() -> dict[str, str]:
    """Ours, with the repo root importable: Locust puts only the locustfile's own directory on
    sys.path, and the locustfile imports `bench.locust.mysql_workload`."""
    path = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def run(
    command: list[str],
    prefix: Path,
    other_roots: dict[str, list[int]],
    timeout_s: float,
    on_tick: Callable[[float, float | None], None],
) -> LocustRun:
    """Run Locust, sampling CPU of its tree and of `other_roots` once a second and calling
    `on_tick(elapsed_s, current_requests_per_s)`; kill it if it outlives `timeout_s`."""
    log = prefix.with_suffix(".log")
    with log.open("wb") as out:
        # Its own session, so the forked workers can be signalled with it if it hangs.
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=locust_environment(),
        )
    sampler = CpuSampler({"locust": [proc.pid], **other_roots})
    started = time.monotonic()
    problem = None
    try:
        while proc.poll() is None:
            sampler.sample()
            elapsed = time.monotonic() - started
            on_tick(elapsed, current_rate(prefix.parent / f"{prefix.name}_stats_history.csv"))
            if elapsed > timeout_s:
                problem = f"Locust was still running after {timeout_s:.0f} s; killed"
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we created: Locust and its workers
            proc.wait()
    window = steady_window(sampler.samples)
    cpu = cpu_between(*window) if window else None
    log_text = log.read_text(errors="replace")
    stats = None
    json_path = prefix.parent / f"{prefix.name}.json"
    try:
        stats = parse_stats(json.loads(json_path.read_text()))
    except FileNotFoundError:
        problem = problem or f"Locust wrote no {json_path.name} (exit code {proc.returncode})"
    except (ValueError, KeyError, TypeError) as exc:
        problem = problem or f"unreadable {json_path.name}: {exc}"
    failures = read_failures(prefix)
    # Exit code 1 is Locust's "some requests failed or the user code raised": reported as
    # failures. Anything else, or 1 with nothing recorded, is a broken run.
    if problem is None and (proc.returncode not in (0, 1) or (proc.returncode and not failures)):
        problem = f"Locust exited with code {proc.returncode} (see {log})"
    return LocustRun(
        stats=stats,
        exit_code=proc.returncode,
        failures=failures,
        cpu=cpu,
        locust_cpu_warnings=log_text.count(LOCUST_CPU_WARNING),
        log=log,
        problem=problem,
    )
