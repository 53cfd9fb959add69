"""The soak's report: `report.md` (verdict, resources start -> end, traffic, errors, operations),
`resources.png` (RSS, descriptors, threads and connections over time, operations marked) and
`samples.csv` (every sample, for a closer look)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed (CI, ssh)

import matplotlib.pyplot as plt

from bench.soak.model import BACKEND_OF_TRAFFIC, Operation, ResourceSample
from bench.soak.verdict import Bounds, MiB, Verdict

COLORS = {"restart": "#d98c1f", "upgrade": "#b0302a", "reload": "#bbbbbb"}


@dataclass(frozen=True)
class SoakRun:
    duration_s: float
    bounds: Bounds
    samples: list[ResourceSample]
    operations: list[Operation]
    served: dict[str, int]
    keepalive_retries: int
    verdict: Verdict


def start_end(samples: Sequence[ResourceSample], warmup_s: float) -> list[str]:
    """`RSS a -> b MiB, fds a -> b, threads a -> b` from the first sample after warm-up to
    the last one (of whichever process ran then)."""
    steady = [s for s in samples if s.t >= warmup_s] or list(samples)
    if not steady:
        return ["no samples"]
    first, last = steady[0], steady[-1]
    return [
        f"RSS {first.rss_bytes / MiB:.1f} -> {last.rss_bytes / MiB:.1f} MiB",
        f"open fds {first.fds} -> {last.fds}",
        f"threads {first.threads} -> {last.threads}",
    ]


def plot(run: SoakRun, path: Path) -> None:
    samples = run.samples
    t = [s.t for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    top.plot(t, [s.rss_bytes / MiB for s in samples], color="#2a7ab0", label="RSS")
    top.set_ylabel("RSS (MiB)")
    top.set_ylim(bottom=0)
    bottom.plot(t, [s.fds for s in samples], color="#2a7ab0", label="open fds")
    bottom.plot(t, [s.threads for s in samples], color="#3a9a4a", label="threads")
    connections = [(s.t, s.connections) for s in samples if s.connections is not None]
    bottom.plot(
        [c[0] for c in connections], [c[1] for c in connections],
        color="#999999", linewidth=0.8, label="live connections",
    )  # fmt: skip
    bottom.set_ylabel("count")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("seconds")
    for ax in (top, bottom):
        ax.axvspan(0, run.bounds.warmup_s, color="#eeeeee", label="warm-up")
        for op in run.operations:
            if op.kind in ("restart", "upgrade"):
                ax.axvline(op.start, color=COLORS[op.kind], linewidth=0.8, linestyle="--")
        ax.grid(alpha=0.3)
    top.plot([], [], color=COLORS["restart"], linestyle="--", label="backend restart")
    if any(op.kind == "upgrade" for op in run.operations):
        top.plot([], [], color=COLORS["upgrade"], linestyle="--", label="upgrade")
    top.legend(loc="lower right", fontsize=8)
    bottom.legend(loc="lower right", fontsize=8)
    top.set_title(f"fastlb soak, {run.duration_s:.0f} s: " + ", ".join(
        start_end(samples, run.bounds.warmup_s)))  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_samples(samples: Sequence[ResourceSample], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t", "pid", "rss_bytes", "fds", "threads", "connections"])
        for s in samples:
            writer.writerow([f"{s.t:.2f}", s.pid, s.rss_bytes, s.fds, s.threads, s.connections])


def markdown(run: SoakRun) -> str:
    v = run.verdict
    lines = [
        "# fastlb soak test",
        "",
        f"**{'PASS' if v.passed else 'FAIL'}** after {run.duration_s:.0f} s "
        f"(warm-up {run.bounds.warmup_s:.0f} s). `make soak` wrote this (bench/soak/).",
        "",
    ]
    lines += [f"- {failure}" for failure in v.failures] + ([""] if v.failures else [])
    lines += [
        "## Resources of the fastlb process",
        "",
        "Start -> end (first sample after warm-up -> last sample): "
        + ", ".join(start_end(run.samples, run.bounds.warmup_s)) + ".",
        "",
        f"Judged: the median of the first {run.bounds.window} samples of each process's steady "
        f"state against the median of its last {run.bounds.window}; bounds "
        f"RSS +{run.bounds.rss_bytes / MiB:.0f} MiB, fds +{run.bounds.fds}, "
        f"threads +{run.bounds.threads}.",
        "",
        "| pid | metric | baseline | end | growth | bound |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    for g in v.growth:
        scale, unit = (MiB, " MiB") if g.metric == "rss_bytes" else (1, "")
        lines.append(
            f"| {g.pid} | {g.metric} | {g.baseline / scale:,.1f}{unit} | {g.end / scale:,.1f}"
            f"{unit} | {g.grew / scale:+,.1f}{unit} | {g.limit / scale:,.0f}{unit} |"
        )
    lines += [f"- {note}" for note in v.notes]
    lines += ["", "![RSS and descriptors over time](resources.png)", ""]
    lines += traffic_section(run) + operations_section(run)
    return "\n".join(lines) + "\n"


def traffic_section(run: SoakRun) -> list[str]:
    v = run.verdict
    expected = Counter((e.traffic, e.kind) for e in v.expected_errors)
    unexpected = Counter((e.traffic, e.kind) for e in v.unexpected_errors)
    lines = [
        "## Traffic",
        "",
        "| traffic | served | expected errors | unexpected errors |",
        "| --- | ---: | --- | --- |",
    ]
    for traffic in BACKEND_OF_TRAFFIC:

        def listed(counts: Counter[tuple[str, str]], traffic: str = traffic) -> str:
            kinds = [f"{n} {kind}" for (t, kind), n in sorted(counts.items()) if t == traffic]
            return ", ".join(kinds) or "0"

        lines.append(
            f"| {traffic} | {run.served.get(traffic, 0):,} | {listed(expected)} "
            f"| {listed(unexpected)} |"
        )
    lines += [
        "",
        f"Keep-alive GETs retried on a new connection after a close: {run.keepalive_retries}.",
        "Expected errors are those `bench/soak/verdict.py` explains: during the restart of the "
        "backend behind that traffic (+" + f"{run.bounds.grace_s:.0f} s), of the kinds it "
        "lists; a reload or a weight change explains none.",
        "",
    ]
    for e in v.unexpected_errors[:20]:
        lines.append(f"- {e.t:.1f}s {e.traffic} {e.kind}: `{e.detail}`")
    return lines + ([""] if v.unexpected_errors else [])


def operations_section(run: SoakRun) -> list[str]:
    lines = ["## Operations", "", "| operation | how | count | failed | longest |",
             "| --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    groups: dict[tuple[str, str], list[Operation]] = {}
    for op in run.operations:
        groups.setdefault((op.kind, op.target), []).append(op)
    for (kind, target), ops in sorted(groups.items()):
        failed = sum(not op.ok for op in ops)
        longest = max(op.end - op.start for op in ops)
        lines.append(f"| {kind} | {target or '-'} | {len(ops)} | {failed} | {longest:.1f} s |")
    upgrades = [op for op in run.operations if op.kind == "upgrade"]
    lines.append("")
    for op in upgrades:
        lines.append(f"upgrade at {op.start:.1f}s: {'ok' if op.ok else 'FAILED'}, {op.detail}")
    return [*lines, ""]


def write(run: SoakRun, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    write_samples(run.samples, out / "samples.csv")
    if run.samples:
        plot(run, out / "resources.png")
    path = out / "report.md"
    path.write_text(markdown(run))
    return path
