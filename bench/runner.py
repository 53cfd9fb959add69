"""The A/B loop: start the topology, alternate candidate and baseline, report."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import configs, report, wrk
from bench.report import ScenarioResult, SideRuns
from bench.scenarios import BY_NAME, SCENARIOS, Scenario
from bench.topology import LoadBalancerProcess, Topology, fastlb_command, find_tool

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="A/B benchmark: fastlb vs stock HAProxy (same nginx backends, weights 3:1).",
    )
    parser.add_argument("--rounds", type=int, default=5, help="A/B rounds per scenario")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(BY_NAME), help="run only these (repeat)"
    )
    parser.add_argument(
        "--splice", choices=("auto", "always", "never"), default="auto", help="fastlb's splice"
    )
    parser.add_argument(
        "--haproxy-splice",
        choices=sorted(configs.HAPROXY_SPLICE),
        default="auto",
        help="HAProxy's: auto = option splice-auto (the reference), always = splice-request"
        " + splice-response, never = no splice option",
    )
    parser.add_argument(
        "--candidate",
        choices=("fastlb", "haproxy"),
        default="fastlb",
        help="side A; `haproxy` runs a second HAProxy to check the harness (ratio ~1.0)",
    )
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only, keep BENCHMARKS.md")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep configs, logs and wrk reports"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds must be >= 1 and --duration > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = [BY_NAME[n] for n in args.scenario] if args.scenario else list(SCENARIOS)
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-bench-"))
    os.chmod(workdir, 0o755)  # nginx workers run as nobody when we are root
    print(f"bench: work directory {workdir} (configs, logs, every wrk report)", flush=True)
    load_before = load_average()
    with Topology(workdir) as topo:
        servers = topo.start_backends()
        baseline = topo.start_haproxy("haproxy", servers, args.haproxy_splice)
        if args.candidate == "fastlb":
            candidate = topo.start_fastlb("fastlb", servers, args.splice)
        else:
            candidate = topo.start_haproxy("haproxy-b", servers, args.haproxy_splice)
        for lb in (candidate, baseline):
            check_serves(lb.label, lb.port)
            check_serves(lb.label, lb.tls_port, tls=True)
            # Warm-up: page cache for /big, lazily created pools, CPU frequency.
            wrk.run(
                f"http://127.0.0.1:{lb.port}/",
                threads=configs.THREADS,
                connections=16,
                duration_s=1,
                script_dir=workdir,
            )
        results = [
            run_scenario(scenario, candidate, baseline, args, workdir) for scenario in scenarios
        ]
        distribution = fastlb_distribution(topo.fastlb_api_port)
    if not args.keep_workdir:
        shutil.rmtree(workdir)  # on an exception it stays, with the logs that explain it
    print()
    print("\n".join(report.summary_lines(results)))
    if not args.no_write:
        meta = metadata(args, argv)
        meta["load average (1 min)"] = f"{load_before} before, {load_average()} after"
        if distribution:
            meta["fastlb connections per server"] = distribution
        args.output.write_text(report.markdown(results, meta, configs.THREADS, args.duration))
        print(f"\nwrote {args.output}")
    return 0


def run_scenario(
    scenario: Scenario,
    candidate: LoadBalancerProcess,
    baseline: LoadBalancerProcess,
    args: argparse.Namespace,
    workdir: Path,
) -> ScenarioResult:
    """`args.rounds` rounds of candidate then baseline (A B A B ...), every run kept."""
    result = ScenarioResult(scenario, SideRuns(candidate.label), SideRuns(baseline.label))
    for round_no in range(1, args.rounds + 1):
        for side, lb in ((result.candidate, candidate), (result.baseline, baseline)):
            cpu_before = lb.cpu_seconds()
            run, raw = wrk.run(
                url(lb, scenario),
                threads=configs.THREADS,
                connections=scenario.connections,
                duration_s=args.duration,
                headers=scenario.headers,
                script_dir=workdir,
            )
            (workdir / f"{scenario.name}-{side.label}-{round_no}.txt").write_text(raw)
            side.results.append(run)
            side.cpu_seconds.append(lb.cpu_seconds() - cpu_before)
            value = report.format_metric(getattr(run, scenario.metric), scenario.metric)
            cost = report.format_cost(side.costs(scenario.metric)[-1], scenario.metric)
            flag = f"  ERRORS {run.socket_errors} non-2xx {run.non_2xx}" if run.errors else ""
            print(
                f"  {scenario.name:<10} round {round_no} {side.label:<9} {value:>16}"
                f"  LB CPU {cost}{flag}",
                flush=True,
            )
            time.sleep(0.5)  # let the previous run's sockets close before the next one
    return result


def url(lb: LoadBalancerProcess, scenario: Scenario) -> str:
    if scenario.tls:
        return f"https://127.0.0.1:{lb.tls_port}{scenario.path}"
    return f"http://127.0.0.1:{lb.port}{scenario.path}"


def check_serves(label: str, port: int, *, tls: bool = False) -> None:
    """One request through the load balancer must reach nginx before anything is timed."""
    context = ssl.create_default_context()
    # The benchmark's self-signed certificate: what is checked here is that it relays.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    scheme = "https" if tls else "http"
    address = f"{scheme}://127.0.0.1:{port}/"
    with urllib.request.urlopen(address, timeout=5, context=context if tls else None) as response:
        body = response.read().decode()
    if body != configs.SMALL_BODY:
        raise SystemExit(f"error: {label} on port {port} answered {body!r}")


def fastlb_distribution(api_port: int | None) -> str:
    """Connections fastlb gave each server over the whole run (should be ~3:1), from its API."""
    if api_port is None:
        return ""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/stats", timeout=5) as r:
            servers = json.load(r)["backends"]["web"]["servers"]
        return ", ".join(f"{name} {s['total_connections']:,}" for name, s in servers.items())
    except (OSError, ValueError, KeyError) as exc:
        return f"unavailable ({exc})"


def metadata(args: argparse.Namespace, argv: list[str] | None) -> dict[str, str]:
    shown = " ".join(argv if argv is not None else sys.argv[1:])
    options = configs.HAPROXY_SPLICE[args.haproxy_splice]
    haproxy_splice = " + ".join(f"`{o}`" for o in options) or "no splice option"
    return {
        "command": f"python -m bench {shown}".strip(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu_model()}, Linux {platform.release()}",
        "commit": git_commit(),
        "rounds x duration": f"{args.rounds} x {args.duration:g} s, A/B alternated, medians",
        "haproxy": first_line([find_tool("haproxy"), "-v"]),
        "nginx": first_line([find_tool("nginx"), "-v"]),
        "wrk": first_line([find_tool("wrk"), "-v"]),
        "fastlb": (
            f"{first_line([fastlb_command(), 'version'])}, `workers: {configs.THREADS}`,"
            f" `splice: {args.splice}`"
            if args.candidate == "fastlb"
            else "not measured (harness check: HAProxy vs HAProxy)"
        ),
        "HAProxy config": f"`mode tcp`, `nbthread {configs.THREADS}`, `balance roundrobin`,"
        f" {haproxy_splice} in every scenario",
        "backends": "2 x nginx (1 worker each), weights 3:1, `/` = 64 B, `/big` = 16 MiB",
        "TLS scenarios": "both terminate TLS in TCP mode with the same self-signed ECDSA P-256"
        " certificate, TLS 1.2 minimum (wrk negotiates 1.3), session resumption off on both"
        " (HAProxy `no-tls-tickets` + `tune.ssl.cachesize 0`, fastlb"
        " `session_resumption: false`): every new connection is a full handshake",
    }


def first_line(argv: list[str]) -> str:
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
