"""The numbers of a load test: one record per Locust run, medians and ratios per scenario, and
who the bottleneck was. Pure data and arithmetic (report.py renders it, charts.py draws it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.ab import median, ratio
from bench.locust.scenarios import Scenario
from bench.result import LoadResult

CANDIDATE = "fastlb"
BASELINE = "haproxy"
DISPLAY_NAMES = {CANDIDATE: "fastlb", BASELINE: "HAProxy"}
PERCENTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}
# A Locust process is one gevent thread: at this share of a core it can't go faster.
SATURATED_PROCESS = 0.85
# The machine counts as saturated when its cores were this busy on average.
SATURATED_MACHINE = 0.90


@dataclass
class RunRecord:
    """One Locust run: one scenario, one target, one round."""

    scenario: str
    target: str
    round: int
    requests: int = 0
    failures: int = 0
    duration_s: float = 0.0
    requests_per_s: float = 0.0
    bytes_per_s: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    # Average CPU over the run's steady window, in cores; None when it could not be sampled.
    lb_cores: float | None = None
    locust_cores: float | None = None
    locust_busiest_process_cores: float | None = None
    backends_cores: float | None = None
    machine_cores: float | None = None
    other_cores: float | None = None  # the machine minus Locust, the LB and the backends
    locust_cpu_warnings: int = 0  # Locust's own "CPU usage above 90%" warnings
    fastlb_connections: int | None = None  # connections fastlb accepted during the run
    exit_code: int = 0
    failure_lines: list[str] = field(default_factory=list)
    problem: str | None = None  # set when the run produced no usable stats

    def record(self, result: LoadResult) -> None:
        """Take the client's figures of the run (Locust's, through the driver)."""
        self.requests, self.failures = result.requests, result.errors
        self.duration_s = result.duration_s
        self.requests_per_s, self.bytes_per_s = result.requests_per_s, result.bytes_per_s
        # Locust's response times are whole milliseconds: rounding undoes the float error of
        # the seconds in between, so report.json shows 12.0, not 12.000000000000002.
        self.p50_ms, self.p95_ms, self.p99_ms = (
            round(result.latency_percentiles_s[p] * 1e3, 6) for p in (50, 95, 99)
        )

    def rate(self, metric: str) -> float:
        return float(getattr(self, metric))

    def cpu_per_unit(self, cores: float | None, metric: str) -> float | None:
        """CPU seconds per request, or per GiB for byte-rate scenarios, of a process group that
        used `cores` on average during the run."""
        rate = self.rate(metric)
        if cores is None or rate <= 0:
            return None
        per_second = rate / 2**30 if metric == "bytes_per_s" else rate
        return cores / per_second

    def lb_cpu_per_unit(self, metric: str) -> float | None:
        return self.cpu_per_unit(self.lb_cores, metric)

    def locust_cpu_per_unit(self, metric: str) -> float | None:
        return self.cpu_per_unit(self.locust_cores, metric)


def unit_name(metric: str) -> str:
    return "GiB" if metric == "bytes_per_s" else "request"


def format_cost(value: float | None, metric: str) -> str:
    """CPU per request in microseconds, or per GiB in milliseconds."""
    if value is None:
        return "-"
    if metric == "bytes_per_s":
        return f"{value * 1e3:,.0f} ms/GiB"
    return f"{value * 1e6:,.0f} us/req"


@dataclass
class TargetSummary:
    """Medians over the rounds of one target in one scenario (failures summed)."""

    target: str
    runs: list[RunRecord]
    metric: str

    def median(self, name: str) -> float | None:
        return median([getattr(r, name) for r in self.runs if r.problem is None])

    @property
    def throughput(self) -> float | None:
        return self.median(self.metric)

    @property
    def lb_cpu_per_unit(self) -> float | None:
        return median([r.lb_cpu_per_unit(self.metric) for r in self.runs if r.problem is None])

    @property
    def failures(self) -> int:
        return sum(r.failures for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        fields = [
            "requests_per_s",
            "bytes_per_s",
            *PERCENTILES,
            "lb_cores",
            "locust_cores",
            "locust_busiest_process_cores",
            "backends_cores",
            "machine_cores",
            "other_cores",
        ]
        return {
            "median": {name: self.median(name) for name in fields}
            | {
                "lb_cpu_per_unit": self.lb_cpu_per_unit,
                "locust_cpu_per_unit": median(
                    [r.locust_cpu_per_unit(self.metric) for r in self.runs if r.problem is None]
                ),
            },
            "failures": self.failures,
            "requests": sum(r.requests for r in self.runs),
            "rounds": [asdict(r) for r in self.runs],
        }


@dataclass
class ScenarioSummary:
    scenario: Scenario
    candidate: TargetSummary
    baseline: TargetSummary
    cores: int  # of the machine
    lb_threads: int  # each load balancer's I/O threads

    @property
    def throughput_ratio(self) -> float | None:
        return ratio(self.candidate.throughput, self.baseline.throughput)

    def latency_ratio(self, name: str) -> float | None:
        return ratio(self.candidate.median(name), self.baseline.median(name))

    @property
    def round_ratios(self) -> list[float | None]:
        """fastlb / HAProxy throughput of each round (A then B of the same round)."""
        metric = self.scenario.metric
        return [
            ratio(a.rate(metric), b.rate(metric))
            if a.problem is None and b.problem is None
            else None
            for a, b in zip(self.candidate.runs, self.baseline.runs, strict=False)
        ]

    @property
    def median_round_ratio(self) -> float | None:
        """The median of the per-round ratios: each run against the other target's run next to
        it, which cancels slow drifts of the machine's load that the ratio of medians keeps."""
        return median(self.round_ratios)

    def bottleneck(self) -> tuple[str, str]:
        """(who limited the throughput, the CPU figures that say so), from both targets' runs.

        When something was saturated (a Locust worker at a full core, the machine's CPU, or
        the load balancer's threads), the side that needed more CPU per request set the pace:
        on a shared CPU, every request the generator makes costs more than relaying it."""
        metric = self.scenario.metric
        runs = [r for r in self.candidate.runs + self.baseline.runs if r.problem is None]
        busiest = median([r.locust_busiest_process_cores for r in runs])
        locust = median([r.locust_cores for r in runs])
        machine = median([r.machine_cores for r in runs])
        if busiest is None or locust is None or machine is None:
            return "unknown", "no CPU samples (runs too short?)"
        lbs = {t.target: t.median("lb_cores") or 0.0 for t in (self.candidate, self.baseline)}
        other = median([r.other_cores for r in runs]) or 0.0
        locust_cost = median([r.locust_cpu_per_unit(metric) for r in runs]) or 0.0
        lb_cost = median([r.lb_cpu_per_unit(metric) for r in runs]) or 0.0
        evidence = (
            f"CPU in cores: Locust {locust:.2f} (busiest process {busiest:.2f}), "
            + ", ".join(f"{DISPLAY_NAMES[name]} {cores:.2f}" for name, cores in lbs.items())
            + f", {self.scenario.backends} {median([r.backends_cores for r in runs]) or 0.0:.2f}, "
            f"everything else on the machine {other:.2f}; machine {machine:.2f} of"
            f" {self.cores} cores busy. CPU per {unit_name(metric)}: Locust"
            f" {format_cost(locust_cost, metric)}, load balancer {format_cost(lb_cost, metric)}"
        )
        saturated = (
            busiest >= SATURATED_PROCESS
            or machine >= SATURATED_MACHINE * self.cores
            or max(lbs.values()) >= SATURATED_PROCESS * self.lb_threads
        )
        if not saturated:
            return "none saturated", evidence
        who = "Locust" if locust_cost >= lb_cost else "load balancer"
        if other >= 0.5:
            who += " (CPU shared with other work)"
        return who, evidence

    def as_dict(self) -> dict[str, Any]:
        who, evidence = self.bottleneck()
        return {
            "title": self.scenario.title,
            "user_class": self.scenario.user_class,
            "users": self.scenario.users,
            "metric": self.scenario.metric,
            "targets": {
                CANDIDATE: self.candidate.as_dict(),
                BASELINE: self.baseline.as_dict(),
            },
            "ratios": {
                self.scenario.metric: self.throughput_ratio,
                **{name: self.latency_ratio(name) for name in PERCENTILES},
                "lb_cpu_per_unit": ratio(
                    self.candidate.lb_cpu_per_unit, self.baseline.lb_cpu_per_unit
                ),
            },
            "round_ratios": self.round_ratios,
            "median_round_ratio": self.median_round_ratio,
            "bottleneck": {"limited_by": who, "evidence": evidence},
        }


def summarize(
    scenarios: list[Scenario], records: list[RunRecord], cores: int, lb_threads: int
) -> list[ScenarioSummary]:
    summaries = []
    for scenario in scenarios:

        def side(target: str, scenario: Scenario = scenario) -> TargetSummary:
            runs = [r for r in records if r.scenario == scenario.name and r.target == target]
            return TargetSummary(target, sorted(runs, key=lambda r: r.round), scenario.metric)

        summaries.append(
            ScenarioSummary(scenario, side(CANDIDATE), side(BASELINE), cores, lb_threads)
        )
    return summaries


def problems(records: list[RunRecord]) -> list[str]:
    """Everything that makes the run a failure: unusable runs and failed requests."""
    found = []
    for r in records:
        where = f"{r.scenario} round {r.round} {r.target}"
        if r.problem:
            found.append(f"{where}: {r.problem}")
        elif r.failures or r.failure_lines:
            found.append(f"{where}: {r.failures} failed requests: " + "; ".join(r.failure_lines))
        elif r.requests == 0:
            found.append(f"{where}: no request completed")
    return found


def records_from_json(document: dict[str, Any]) -> list[RunRecord]:
    """The RunRecords a report.json was made from (to re-render it without a new run)."""
    return [
        RunRecord(**run)
        for scenario in document["scenarios"].values()
        for target in scenario["targets"].values()
        for run in target["rounds"]
    ]
