"""CPU use read from /proc: of process trees (Locust, a load balancer, nginx) and of the machine.

The A/B runners take each load balancer's CPU per request from here (`process_cpu_seconds`
before and after a wrk run; a `CpuSampler` once a second through a Locust run).

A load test on a 2-core machine has to say who used the CPU: if Locust's workers sat at a full
core each, the generator set the pace and the load balancers' throughput is not what was
measured. Sampling /proc once a second costs nothing measurable and needs no privileges for our
own processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fastlb.harness.process import cpu_seconds

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process (all its threads), or None once it is gone."""
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None


def parent_pids() -> dict[int, int]:
    """pid -> parent pid for every process visible now."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited while we looked
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def with_descendants(roots: list[int], parents: Mapping[int, int]) -> list[int]:
    """The roots and every process below them (Locust's forked workers, nginx's workers)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    pending = [pid for pid in roots if pid in parents]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (everything in /proc/stat's cpu line except
    idle and iowait), in seconds."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    # guest and guest_nice (fields 9 and 10) are already counted in user and nice.
    return (sum(values[:8]) - idle) / CLOCK_TICKS


@dataclass(frozen=True)
class Sample:
    """Cumulative CPU seconds per pid for each named group, and of the whole machine."""

    time_s: float
    groups: dict[str, dict[int, float]]
    machine_busy_s: float


@dataclass(frozen=True)
class CpuUse:
    """Average CPU over a window, in cores (1.0 = one core busy the whole window)."""

    cores: dict[str, float]  # per group
    busiest_process: dict[str, float]  # per group: its single busiest process
    machine_cores: float  # every process on the machine, ours and everyone else's
    window_s: float

    def other_cores(self) -> float:
        """What the rest of the machine used: other people's work sharing the cores."""
        return max(0.0, self.machine_cores - sum(self.cores.values()))


@dataclass
class CpuSampler:
    """Samples named process trees (root pids with their descendants) on demand."""

    roots: dict[str, list[int]]
    samples: list[Sample] = field(default_factory=list)

    def sample(self) -> Sample:
        parents = parent_pids()
        groups: dict[str, dict[int, float]] = {}
        for name, roots in self.roots.items():
            cpu: dict[int, float] = {}
            for pid in with_descendants(roots, parents):
                seconds = process_cpu_seconds(pid)
                if seconds is not None:
                    cpu[pid] = seconds
            groups[name] = cpu
        taken = Sample(time.monotonic(), groups, machine_busy_seconds())
        self.samples.append(taken)
        return taken


def cpu_between(first: Sample, last: Sample) -> CpuUse:
    """Average CPU use between two samples. A process born in between counts from zero; one
    that exited in between is left out (the windows we measure end before the workers quit)."""
    window = last.time_s - first.time_s
    if window <= 0:
        raise ValueError("the samples must be taken at different times")
    cores: dict[str, float] = {}
    busiest: dict[str, float] = {}
    for name, now in last.groups.items():
        before = first.groups.get(name, {})
        per_process = [(cpu - before.get(pid, 0.0)) / window for pid, cpu in now.items()]
        cores[name] = sum(per_process)
        busiest[name] = max(per_process, default=0.0)
    machine = (last.machine_busy_s - first.machine_busy_s) / window
    return CpuUse(cores, busiest, machine, window)
