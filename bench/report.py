"""Medians, ratios and the markdown report (BENCHMARKS.md).

Each scenario runs every load balancer at several thread counts; the headline compares each
side's best setting (highest median), as an operator would pick it, and the per-setting table
keeps the rest.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.ab import ratio, verdict
from bench.result import LoadResult
from bench.scenarios import Scenario


@dataclass
class SideRuns:
    """Every round of one load balancer at one thread count in one scenario."""

    label: str
    results: list[LoadResult] = field(default_factory=list)
    # The load balancer process's own CPU time (user + system) during each run.
    cpu_seconds: list[float] = field(default_factory=list)
    threads: int = 0
    # Why this side could not run the scenario at all (nothing measured), e.g. "h2 not built".
    unavailable: str = ""
    # Runs whose client output was no report (the first line of why); they count as errors.
    failures: list[str] = field(default_factory=list)
    # Connections the load balancer opened to the servers during each run (nginx's count):
    # shows the HTTP pool at work (Connection: close clients, few server connections).
    server_connections: list[int] = field(default_factory=list)

    @property
    def setting(self) -> str:
        return f"{self.label} @{self.threads}t" if self.threads else self.label

    @property
    def measured(self) -> bool:
        return bool(self.results) and not self.unavailable

    def costs(self, metric: str) -> list[float]:
        """CPU the load balancer spent per unit of work: seconds per request, or per GiB."""
        per_unit = []
        for run, cpu in zip(self.results, self.cpu_seconds, strict=False):
            work = run.bytes_read / 2**30 if metric == "bytes_per_s" else run.requests
            per_unit.append(cpu / work if work else 0.0)
        return per_unit

    def median_cost(self, metric: str) -> float:
        costs = self.costs(metric)
        return statistics.median(costs) if costs else 0.0

    def server_connections_per_1k(self) -> float | None:
        """Median over rounds of server connections opened per 1,000 requests."""
        pairs = zip(self.results, self.server_connections, strict=False)
        values = [1000 * opened / run.requests for run, opened in pairs if run.requests]
        return statistics.median(values) if values else None

    def values(self, metric: str) -> list[float]:
        return [float(getattr(r, metric)) for r in self.results]

    def median(self, metric: str) -> float:
        return statistics.median(self.values(metric)) if self.results else 0.0

    def median_latency(self, percentile: int) -> float | None:
        """Median over rounds of a latency percentile; None when the client gave none (h2load)."""
        values = [
            r.latency_percentiles_s[percentile]
            for r in self.results
            if percentile in r.latency_percentiles_s
        ]
        return statistics.median(values) if values else None

    def median_mean_latency(self) -> float:
        values = [r.latency_avg_s for r in self.results]
        return statistics.median(values) if values else 0.0

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.results) + len(self.failures)


@dataclass
class ScenarioResult:
    """One scenario: the candidate's and the baseline's runs, one SideRuns per thread count."""

    scenario: Scenario
    candidates: list[SideRuns]
    baselines: list[SideRuns]

    @property
    def candidate(self) -> SideRuns | None:
        """The candidate's best setting (highest median), None if nothing was measured."""
        return best(self.candidates, self.scenario.metric)

    @property
    def baseline(self) -> SideRuns | None:
        return best(self.baselines, self.scenario.metric)

    @property
    def ratio(self) -> float | None:
        cand, base = self.candidate, self.baseline
        if cand is None or base is None:
            return None
        metric = self.scenario.metric
        # A baseline that measured 0 gives 0, not "n/a": both sides ran, and it is a miss.
        return ratio(cand.median(metric), base.median(metric)) or 0.0

    @property
    def p99_met(self) -> bool | None:
        """Candidate p99 <= baseline p99 at their best settings; None if not a target here."""
        cand, base = self.candidate, self.baseline
        if not self.scenario.p99_target or cand is None or base is None:
            return None
        cand_p99, base_p99 = cand.median_latency(99), base.median_latency(99)
        if cand_p99 is None or base_p99 is None:
            return None
        return cand_p99 <= base_p99

    @property
    def errors(self) -> int:
        return sum(s.errors for s in (*self.candidates, *self.baselines))

    @property
    def verdict(self) -> str:
        return verdict(self.ratio, self.scenario.target, self.errors, self.p99_met)

    def unavailable(self) -> list[str]:
        """'fastlb: not available (why)' for each side that measured nothing."""
        lines = []
        for sides in (self.candidates, self.baselines):
            if sides and best(sides, self.scenario.metric) is None:
                why = "; ".join(sorted({s.unavailable or "every run failed" for s in sides}))
                lines.append(f"{sides[0].label}: not available ({why})")
        return lines


def best(sides: list[SideRuns], metric: str) -> SideRuns | None:
    measured = [s for s in sides if s.measured]
    return max(measured, key=lambda s: s.median(metric)) if measured else None


def format_metric(value: float, metric: str) -> str:
    if metric == "bytes_per_s":
        return f"{value / 2**20:,.0f} MiB/s"
    return f"{value:,.0f} req/s"


def format_cost(seconds: float, metric: str) -> str:
    if metric == "bytes_per_s":
        return f"{seconds * 1e3:.0f} ms/GiB"
    return f"{seconds * 1e6:.1f} us/req"


def format_latency(side: SideRuns | None) -> str:
    """p99 when the client measured it (wrk), else the mean, labelled (h2load)."""
    if side is None or not side.measured:
        return "-"
    p99 = side.median_latency(99)
    if p99 is not None:
        return f"{p99 * 1e3:.2f} ms"
    return f"mean {side.median_mean_latency() * 1e3:.2f} ms"


def _value(side: SideRuns | None, metric: str) -> str:
    if side is None or not side.measured:
        return "not available"
    return format_metric(side.median(metric), metric)


def _cost(side: SideRuns | None, metric: str) -> str:
    if side is None or not side.measured:
        return "-"
    return format_cost(side.median_cost(metric), metric)


def summary_lines(results: list[ScenarioResult]) -> list[str]:
    """The console summary: one line per scenario (best settings), then what was missing."""
    lines = []
    for r in results:
        metric = r.scenario.metric
        cand, base = r.candidate, r.baseline
        ratio = f"{r.ratio:5.2f}" if r.ratio is not None else "  n/a"
        line = (
            f"{r.scenario.name:<14} {_setting(cand, r.candidates)} {_value(cand, metric):>16}"
            f"  {_setting(base, r.baselines)} {_value(base, metric):>16}  ratio {ratio}"
            f"  target >= {r.scenario.target:.2f}  {r.verdict.upper()}"
            f"  (LB CPU {_cost(cand, metric)} vs {_cost(base, metric)};"
            f" latency {format_latency(cand)} vs {format_latency(base)})"
        )
        if r.verdict == "errors":
            line += (
                "  (ERRORS: "
                + ", ".join(
                    f"{s.setting} {s.errors}" for s in (*r.candidates, *r.baselines) if s.errors
                )
                + ")"
            )
        lines.append(line)
        lines += [f"{'':<14} {note}" for note in r.unavailable()]
    return lines


def _setting(side: SideRuns | None, sides: list[SideRuns]) -> str:
    if side is not None:
        return side.setting
    return sides[0].label if sides else "-"


def markdown(
    results: list[ScenarioResult],
    meta: dict[str, str],
    client_threads: int,
    duration_s: float,
    appendix: dict[str, str] | None = None,
) -> str:
    """BENCHMARKS.md: context, the headline table, per thread count, every round, configs."""
    out = ["# Benchmarks: fastlb vs HAProxy", ""]
    out += [
        f"Generated by `{meta['command']}`. Both load balancers ran side by side on the same",
        "machine, alternated A B A B (at each thread count in turn); the ratio of medians is",
        "the figure that matters, since absolute numbers on a shared 2-core machine move with",
        "whatever else runs on it. The headline compares each side's best thread count.",
        "",
    ]
    out += ["| | |", "| --- | --- |"]
    out += [f"| {key} | {value} |" for key, value in meta.items() if key != "command"]
    cand_label = _label(results, "candidates") or "candidate"
    base_label = _label(results, "baselines") or "baseline"
    out += ["", "## Results (medians, best thread count of each)", ""]
    out += [
        f"| scenario | client | {cand_label} | {base_label} | ratio | target | result |"
        f" LB CPU {cand_label} | LB CPU {base_label} | {cand_label} p99 | {base_label} p99 |"
        " client errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        s, metric, cand, base = r.scenario, r.scenario.metric, r.candidate, r.baseline
        target = f">= {s.target:.2f}" + (f", p99 <= {base_label}'s" if s.p99_target else "")
        out.append(
            f"| {s.title} | `{s.client_flags(client_threads, duration_s)}` |"
            f" {_best_cell(cand, metric)} | {_best_cell(base, metric)} |"
            f" {f'{r.ratio:.2f}' if r.ratio is not None else 'n/a'} | {target} |"
            f" **{r.verdict}** | {_cost(cand, metric)} | {_cost(base, metric)} |"
            f" {format_latency(cand)} | {format_latency(base)} | {r.errors} |"
        )
    notes = [f"- {r.scenario.name}: {note}" for r in results for note in r.unavailable()]
    if notes:
        out += ["", "Not measured:", "", *notes]
    out += [
        "",
        "A scenario where a client reported socket errors, non-2xx/3xx responses or no report",
        "at all, at any thread count, is flagged `errors` whatever its ratio. *LB CPU* is the",
        "load balancer process's own CPU time (user + system, all threads, from /proc) per",
        "request or per GiB relayed, median over rounds: it is less sensitive than throughput",
        "to what else runs on the machine. h2load prints no percentiles: its column is the",
        "mean time per request.",
        "",
        "The failover outage of a VIP pair (the master killed) is in",
        "[BENCHMARKS-failover.md](BENCHMARKS-failover.md) (`python -m bench.failover`).",
        "",
        "## By thread count",
        "",
        f"| scenario | threads | {cand_label} | {base_label} | ratio |"
        f" LB CPU {cand_label} | LB CPU {base_label} | {cand_label} latency |"
        f" {base_label} latency | server connections per 1k requests, {cand_label} /"
        f" {base_label} |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        metric = r.scenario.metric
        for cand, base in zip(r.candidates, r.baselines, strict=False):
            ratio = (
                f"{cand.median(metric) / base.median(metric):.2f}"
                if cand.measured and base.measured and base.median(metric)
                else "n/a"
            )
            out.append(
                f"| {r.scenario.name} | {cand.threads} | {_value(cand, metric)} |"
                f" {_value(base, metric)} | {ratio} | {_cost(cand, metric)} |"
                f" {_cost(base, metric)} | {format_latency(cand)} | {format_latency(base)} |"
                f" {_per_1k(cand)} / {_per_1k(base)} |"
            )
    out += ["", "## Every round", ""]
    out += [
        f"| scenario | threads | round | {cand_label} | {base_label} | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        metric = r.scenario.metric
        for cand, base in zip(r.candidates, r.baselines, strict=False):
            if not base.results:
                continue
            cand_values: list[float | None] = list(cand.values(metric)) if cand.measured else []
            cand_values += [None] * (len(base.results) - len(cand_values))
            for index, (a, b) in enumerate(zip(cand_values, base.values(metric), strict=False), 1):
                shown = format_metric(a, metric) if a is not None else "-"
                ratio = f"{a / b:.2f}" if a is not None and b else "n/a"
                out.append(
                    f"| {r.scenario.name} | {base.threads} | {index} | {shown} |"
                    f" {format_metric(b, metric)} | {ratio} |"
                )
    for title, text in (appendix or {}).items():
        out += ["", f"## {title}", "", "```", text.rstrip(), "```"]
    return "\n".join(out) + "\n"


def _per_1k(side: SideRuns) -> str:
    value = side.server_connections_per_1k() if side.measured else None
    return "-" if value is None else f"{value:,.1f}"


def _label(results: list[ScenarioResult], attribute: str) -> str:
    for r in results:
        sides: list[SideRuns] = getattr(r, attribute)
        if sides:
            return sides[0].label
    return ""


def _best_cell(side: SideRuns | None, metric: str) -> str:
    if side is None:
        return "not available"
    return f"{format_metric(side.median(metric), metric)} ({side.threads}t)"
