"""`make loadtest` / `python -m bench.locust`: Locust against fastlb and HAProxy, alternated.

The topology (two nginx backends with weights 3:1, HAProxy with `nbthread 2`, fastlb with
`workers: 2`) is `make bench`'s: bench/configs.py generates both load balancers' configs from
one description and bench/topology.py starts and stops the processes. The MySQL scenario has
its own (bench/locust/mysql_topology.py: a replicated MariaDB pair, fastlb's `mode: mysql`,
HAProxy's writer + reader ports), started only when it runs. Here each scenario runs
`--rounds` times against each target in alternation (A B A B ...), and the report gives the
medians and their ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench import configs
from bench.ab import alternate, median
from bench.drivers import locust as locust_driver
from bench.locust import charts, mysql_topology, report
from bench.locust.mysql_topology import MySQLTopology
from bench.locust.results_model import (
    BASELINE,
    CANDIDATE,
    RunRecord,
    problems,
    records_from_json,
    summarize,
)
from bench.locust.scenarios import BY_NAME, SCENARIOS, Scenario
from bench.machine import cpu_model, first_line, git_commit, load_average, memory
from bench.probes import check_serves
from bench.topology import Topology
from fastlb.harness.process import fastlb_command, find_tool

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"
OUTPUT_FILES = ("report.json", "report.md", *report.CHARTS)
# Locust's start (fork, workers connecting) and stop around the measured time, a first guess
# for the time-left estimate until a run has been timed.
RUN_OVERHEAD_S = 5.0


@dataclass(frozen=True)
class Frontend:
    """Where a scenario's users connect on one target, and the processes serving them."""

    url: str  # Locust's --host
    lb_pid: int
    backend_pids: list[int]
    stats: tuple[int, str] | None = None  # fastlb's API port and this frontend's name


@dataclass(frozen=True)
class Target:
    """A load balancer under test and each topology frontend on it."""

    label: str
    frontends: dict[str, Frontend] = field(default_factory=dict)


def parse_duration(text: str) -> int:
    """`30`, `30s`, `2m`, `1m30s` -> whole seconds (Locust's --run-time resolution)."""
    match = re.fullmatch(r"\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", text)
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 10s, 2m, 1m30s)")
    seconds = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
    if seconds < 1:
        raise argparse.ArgumentTypeError("the duration must be at least 1 s")
    return seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.locust",
        description="Locust load test: fastlb vs stock HAProxy, same nginx backends, A/B rounds.",
    )
    parser.add_argument("--rounds", type=int, default=5, help="A/B rounds per scenario")
    parser.add_argument(
        "--duration", type=parse_duration, default=15, help="measured time per run (15s, 1m)"
    )
    parser.add_argument(
        "--scenario", action="append", choices=sorted(BY_NAME), help="run only these (repeat)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="Locust worker processes (default: one per core)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="where the report goes (default: bench/locust/results, or beside --render's file)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="REPORT_JSON",
        help="run nothing: write report.md and the charts again from an existing report.json",
    )
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep configs, logs and Locust's CSV/JSON"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.processes < 1:
        parser.error("--rounds and --processes must be >= 1")
    if args.output_dir is None:
        args.output_dir = args.render.parent if args.render else DEFAULT_OUTPUT
    return args


class Progress:
    """Prints where the test is and how long it has left: a rewritten line on a terminal,
    a line every few seconds otherwise (CI logs)."""

    def __init__(self, total_runs: int, duration_s: int) -> None:
        self.total_runs = total_runs
        self.duration_s = duration_s
        self.finished_walls: list[float] = []
        self.interactive = sys.stdout.isatty()
        self._last_print = 0.0

    def seconds_left(self, elapsed_in_run: float) -> float:
        per_run = median(list(self.finished_walls)) or self.duration_s + RUN_OVERHEAD_S
        remaining = self.total_runs - len(self.finished_walls)
        return max(0.0, remaining * per_run - elapsed_in_run)

    def tick(self, where: str, elapsed: float, rate: float | None) -> None:
        now = time.monotonic()
        if not self.interactive and now - self._last_print < 5.0:
            return
        self._last_print = now
        run_left = max(0.0, self.duration_s + RUN_OVERHEAD_S - elapsed)
        line = (
            f"[{len(self.finished_walls) + 1}/{self.total_runs}] {where}"
            f"  ~{run_left:.0f} s left in this run, ~{clock(self.seconds_left(elapsed))} in all"
            + (f"  ({rate:,.0f} req/s now)" if rate else "")
        )
        if self.interactive:
            print(f"\r{line:<110}", end="", flush=True)
        else:
            print(f"  {line}", flush=True)

    def finished(self, wall_s: float, summary: str) -> None:
        self.finished_walls.append(wall_s)
        print(f"\r{summary:<110}" if self.interactive else f"  {summary}", flush=True)


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def fastlb_connections(stats: tuple[int, str] | None) -> int | None:
    """Connections fastlb's frontend accepted so far (its stats API), or None."""
    if stats is None:
        return None
    api_port, name = stats
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/stats", timeout=5) as r:
            return int(json.load(r)["frontends"][name]["total_connections"])
    except (OSError, ValueError, KeyError):
        return None


def run_once(
    scenario: Scenario,
    target: Target,
    round_no: int,
    args: argparse.Namespace,
    workdir: Path,
    progress: Progress,
) -> RunRecord:
    """One Locust run of `scenario` against `target`, as a RunRecord."""
    prefix = workdir / f"{scenario.name}-{target.label}-{round_no}"
    checks: dict[str, int | str] = {
        "small-path": "/",
        "small-bytes": len(configs.SMALL_BODY),
        "big-path": "/big",
        "big-bytes": configs.BIG_SIZE,
    }
    frontend = target.frontends[scenario.frontend]
    command = locust_driver.locust_command(
        scenario, frontend.url, args.duration, args.processes, prefix, checks
    )
    where = f"{target.label:<8} {scenario.name:<10} round {round_no}/{args.rounds}"
    connections_before = fastlb_connections(frontend.stats)
    started = time.monotonic()
    outcome = locust_driver.run(
        command,
        prefix,
        {"lb": [frontend.lb_pid], "backends": frontend.backend_pids},
        timeout_s=args.duration + 60,
        on_tick=lambda elapsed, rate: progress.tick(where, elapsed, rate),
    )
    connections_after = fastlb_connections(frontend.stats)
    record = RunRecord(scenario.name, target.label, round_no, exit_code=outcome.exit_code)
    record.failure_lines = outcome.failures
    record.problem = outcome.problem
    record.locust_cpu_warnings = outcome.locust_cpu_warnings
    if connections_before is not None and connections_after is not None:
        record.fastlb_connections = connections_after - connections_before
    if outcome.stats is not None:
        record.record(outcome.stats.as_load_result())
    if outcome.cpu is not None:
        cpu = outcome.cpu
        record.lb_cores = cpu.cores["lb"]
        record.locust_cores = cpu.cores["locust"]
        record.locust_busiest_process_cores = cpu.busiest_process["locust"]
        record.backends_cores = cpu.cores["backends"]
        record.machine_cores = cpu.machine_cores
        record.other_cores = cpu.other_cores()
    progress.finished(time.monotonic() - started, describe(record, scenario))
    return record


def describe(r: RunRecord, scenario: Scenario) -> str:
    text = (
        f"{scenario.name:<10} round {r.round} {r.target:<8}"
        f" {report.format_rate(r.rate(scenario.metric), scenario.metric):>14}"
        f"  p50 {report.format_ms(r.p50_ms)} p99 {report.format_ms(r.p99_ms)} ms"
        f"  failures {r.failures}"
    )
    if r.lb_cores is not None:
        text += (
            f"  CPU: LB {r.lb_cores:.2f}, Locust {r.locust_cores:.2f},"
            f" machine {r.machine_cores:.2f}/{os.cpu_count()}"
        )
    return text + (f"  PROBLEM: {r.problem}" if r.problem else "")


def metadata(args: argparse.Namespace, argv: list[str] | None) -> dict[str, str]:
    shown = " ".join(argv if argv is not None else sys.argv[1:])
    return {
        "command": f"python -m bench.locust {shown}".strip(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu_model()}, {memory()} RAM,"
        f" Linux {platform.release()}",
        "commit": git_commit(),
        "rounds x duration": f"{args.rounds} x {args.duration} s per target and scenario,"
        " A B A B alternated, medians",
        "Locust": f"{locust_version()},"
        f" headless, `--processes {args.processes}` (a master + {args.processes} workers),"
        " FastHttpUser, no think time, users spawned in 1 s then stats reset",
        "Python": platform.python_version(),
        "haproxy": first_line([find_tool("haproxy"), "-v"]),
        "nginx": first_line([find_tool("nginx"), "-v"]),
        "fastlb": f"{first_line([*fastlb_command(), 'version'])}, `workers: {configs.THREADS}`,"
        " `splice: auto`",
        "HAProxy config": f"`mode tcp`, `nbthread {configs.THREADS}`, `balance roundrobin`,"
        " `option splice-auto`",
        "backends": f"{len(configs.WEIGHTS)} x nginx (1 worker each), weights "
        + ":".join(map(str, configs.WEIGHTS))
        + f", `/` = {len(configs.SMALL_BODY)} B, `/big` = {configs.BIG_SIZE // 2**20} MiB",
        "MySQL": "MariaDB primary + read-only replica (GTID replication), PyMySQL users;"
        " fastlb `mode: mysql` splits one port, HAProxy `mode tcp` has a writer port (primary)"
        " and a reader port (replica) and the user picks the port",
    }


def locust_version() -> str:
    """`locust 2.x.y`: `locust --version` also names its install path."""
    return first_line([locust_driver.locust_executable(), "--version"]).split(" from ")[0]


def busy_note(records: list[RunRecord], load_before: str, load_after: str) -> str:
    """How much of the machine other work took while we measured (it is shared)."""
    others = median([r.other_cores for r in records])
    text = f"load average (1 min) {load_before} before, {load_after} after"
    if others is None:
        return text
    verdict = "busy with other work" if others >= 0.25 else "mostly quiet"
    return (
        f"{verdict}: processes outside this test used a median {others:.2f} of"
        f" {os.cpu_count()} cores during the runs; {text}"
    )


def write_outputs(
    output_dir: Path,
    scenarios: list[Scenario],
    records: list[RunRecord],
    meta: dict[str, str],
) -> list[str]:
    """report.json, report.md and the charts; returns the outputs that are missing or empty."""
    output_dir.mkdir(parents=True, exist_ok=True)
    summaries = summarize(scenarios, records, os.cpu_count() or 1, configs.THREADS)
    report.write_json(output_dir / "report.json", report.report_json(summaries, records, meta))
    (output_dir / "report.md").write_text(report.markdown(summaries, records, meta))
    charts.throughput_chart(summaries, output_dir / "throughput.png")
    charts.latency_chart(summaries, output_dir / "latency.png")
    print()
    print("\n".join(report.summary_lines(summaries)))
    return [
        name
        for name in OUTPUT_FILES
        if not (output_dir / name).exists() or (output_dir / name).stat().st_size == 0
    ]


def render(report_json: Path, output_dir: Path) -> int:
    """Re-render report.md and the charts (and report.json) from a report.json's records."""
    document = json.loads(report_json.read_text())
    unknown = set(document["scenarios"]) - set(BY_NAME)
    if unknown:
        raise SystemExit(f"error: {report_json} has scenarios this version lacks: {unknown}")
    scenarios = [BY_NAME[name] for name in document["scenarios"]]
    missing = write_outputs(output_dir, scenarios, records_from_json(document), document["meta"])
    if missing:
        print(f"error: missing or empty output: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"\nwrote {', '.join(OUTPUT_FILES)} in {output_dir}")
    return 0


def start_targets(frontends: set[str], workdir: Path, processes: ExitStack) -> list[Target]:
    """fastlb and HAProxy serving each wanted frontend (`web`, `mysql`), their processes
    registered in `processes` to be stopped."""
    targets = [Target(CANDIDATE), Target(BASELINE)]
    if "web" in frontends:
        topo = processes.enter_context(Topology(workdir))
        servers = topo.start_backends()
        haproxy = topo.start_haproxy(BASELINE, servers)
        fastlb = topo.start_fastlb(CANDIDATE, servers, "auto")
        for target, lb in zip(targets, (fastlb, haproxy), strict=True):
            check_serves(lb.label, lb.port)
            stats = (topo.fastlb_api_port, "web") if lb is fastlb and topo.fastlb_api_port else None
            target.frontends["web"] = Frontend(
                f"http://127.0.0.1:{lb.port}", lb.pid, topo.backend_pids, stats
            )
    if "mysql" in frontends:
        mysql = processes.enter_context(MySQLTopology(workdir))
        print("loadtest: starting a MariaDB primary + replica", flush=True)
        mysql.start_servers()
        for target, side in zip(
            targets, (mysql.start_fastlb(CANDIDATE), mysql.start_haproxy(BASELINE)), strict=True
        ):
            stats = (side.api_port, mysql_topology.FRONTEND) if side.api_port else None
            target.frontends["mysql"] = Frontend(side.url, side.pid, mysql.server_pids(), stats)
    return targets


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args.render, args.output_dir)
    scenarios = [BY_NAME[n] for n in args.scenario] if args.scenario else list(SCENARIOS)
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-loadtest-"))
    os.chmod(workdir, 0o755)  # nginx workers run as nobody when we are root
    print(f"loadtest: work directory {workdir} (configs, logs, Locust's CSV/JSON)", flush=True)
    meta = metadata(args, argv)
    load_before = load_average()
    records: list[RunRecord] = []
    with ExitStack() as processes:
        targets = start_targets({s.frontend for s in scenarios}, workdir, processes)
        for target in targets:
            unserved = {s.frontend for s in scenarios} - set(target.frontends)
            if unserved:
                raise SystemExit(f"error: {target.label} serves no frontend {sorted(unserved)}")
        plan = [
            (scenario, round_no, target)
            for scenario in scenarios
            for round_no, target in alternate(args.rounds, targets)
        ]
        print(
            f"loadtest: {len(plan)} runs of {args.duration} s ({len(scenarios)} scenarios x"
            f" {args.rounds} rounds x fastlb, HAProxy), Locust with {args.processes} workers",
            flush=True,
        )
        progress = Progress(len(plan), args.duration)
        for scenario, round_no, target in plan:
            records.append(run_once(scenario, target, round_no, args, workdir, progress))
            time.sleep(1.0)  # let the previous run's sockets close before the next one
    meta["machine load"] = busy_note(records, load_before, load_average())
    missing = write_outputs(args.output_dir, scenarios, records, meta)
    found = problems(records) + [f"missing or empty output: {name}" for name in missing]
    print(f"\nwrote {', '.join(OUTPUT_FILES)} in {args.output_dir}")
    if found:
        print(
            f"\nloadtest FAILED ({len(found)} problems); logs kept in {workdir}:", file=sys.stderr
        )
        for line in found:
            print(f"  {line}", file=sys.stderr)
        return 1
    if args.keep_workdir:
        print(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir)
    return 0
