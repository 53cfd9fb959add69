"""The A/B loop: start the topology, alternate candidate and baseline, report.

Every scenario runs on both load balancers at each thread count (`--threads 1,2`: HAProxy
`nbthread`, fastlb `workers`); a round is candidate then baseline at each count in turn
(A B A B ...), and the report takes medians over rounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench import configs, probes, report
from bench.ab import alternate
from bench.drivers import h2load, wrk
from bench.machine import cpu_model, first_line, git_commit, load_average
from bench.probes import ProbeFailed, check_serves
from bench.report import ScenarioResult, SideRuns
from bench.result import LoadParseError, LoadResult
from bench.scenarios import BY_NAME, HTTP_FRONTENDS, SCENARIOS, Scenario
from bench.topology import LoadBalancerProcess, Topology
from fastlb.harness.process import fastlb_command, find_tool

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="A/B benchmark: fastlb vs stock HAProxy (same nginx backends, weights 3:1).",
    )
    parser.add_argument("--rounds", type=int, default=5, help="A/B rounds per scenario")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per client run")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(BY_NAME), help="run only these (repeat)"
    )
    parser.add_argument(
        "--threads",
        type=thread_counts,
        default=[1, 2],
        help="I/O thread counts to run both load balancers at, e.g. 1,2 (default) or 2",
    )
    parser.add_argument(
        "--splice", choices=("auto", "always", "never"), default="auto", help="fastlb's splice"
    )
    parser.add_argument(
        "--haproxy-splice",
        choices=sorted(configs.HAPROXY_SPLICE),
        default="auto",
        help="HAProxy's (mode tcp): auto = option splice-auto (the reference), always ="
        " splice-request + splice-response, never = no splice option",
    )
    parser.add_argument(
        "--haproxy-reuse",
        choices=configs.HAPROXY_REUSE,
        default="safe",
        help="HAProxy's http-reuse for keep-alive and h2 clients (default safe)",
    )
    parser.add_argument(
        "--haproxy-close-reuse",
        choices=configs.HAPROXY_REUSE,
        default=configs.HAPROXY_CLOSE_REUSE,
        help="HAProxy's http-reuse for `Connection: close` clients (default always: safe never"
        " reuses a server connection for a client's first request)",
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
        "--keep-workdir", action="store_true", help="keep configs, logs and client reports"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds must be >= 1 and --duration > 0")
    return args


def thread_counts(text: str) -> list[int]:
    """`1,2` -> [1, 2]: distinct positive integers, in the order given."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not counts or any(c < 1 for c in counts) or len(set(counts)) != len(counts):
        raise argparse.ArgumentTypeError(f"distinct positive thread counts, e.g. 1,2: {text!r}")
    return counts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = [BY_NAME[n] for n in args.scenario] if args.scenario else list(SCENARIOS)
    http = any(s.frontend in HTTP_FRONTENDS for s in scenarios)
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-bench-"))
    os.chmod(workdir, 0o755)  # nginx workers run as nobody when we are root
    print(f"bench: work directory {workdir} (configs, logs, every client report)", flush=True)
    load_before = load_average()
    with Topology(workdir) as topo:
        servers = topo.start_backends()
        pairs: list[tuple[LoadBalancerProcess, LoadBalancerProcess]] = []
        for threads in args.threads:
            baseline = topo.start_haproxy(
                f"haproxy-{threads}t",
                servers,
                args.haproxy_splice,
                threads=threads,
                http=http,
                reuse=args.haproxy_reuse,
                close_reuse=args.haproxy_close_reuse,
            )
            if args.candidate == "fastlb":
                candidate = topo.start_fastlb(
                    f"fastlb-{threads}t", servers, args.splice, threads=threads, http=http
                )
            else:
                candidate = topo.start_haproxy(
                    f"haproxy-b-{threads}t",
                    servers,
                    args.haproxy_splice,
                    threads=threads,
                    http=http,
                    reuse=args.haproxy_reuse,
                    close_reuse=args.haproxy_close_reuse,
                )
            pairs.append((candidate, baseline))
        checks = {}
        for candidate, baseline in pairs:
            checks[candidate.label] = check_load_balancer(candidate, http, workdir, required=False)
            checks[baseline.label] = check_load_balancer(baseline, http, workdir, required=True)
        backend_ports = [server.port for server in servers]
        results = [
            run_scenario(scenario, pairs, args, workdir, backend_ports) for scenario in scenarios
        ]
        distribution = fastlb_distribution(topo)
        appendix = {
            f"Config: {lb.label}": (workdir / f"{lb.label}.{ext}").read_text()
            for lb, ext in (
                (pairs[0][1], "cfg"),
                (pairs[0][0], "yaml" if args.candidate == "fastlb" else "cfg"),
            )
        }
    if not args.keep_workdir:
        shutil.rmtree(workdir)  # on an exception it stays, with the logs that explain it
    print()
    print("\n".join(report.summary_lines(results)))
    if not args.no_write:
        meta = metadata(args, argv)
        meta["load average (1 min)"] = f"{load_before} before, {load_average()} after"
        meta.update({f"checks, {label}": text for label, text in checks.items() if text})
        if distribution:
            meta["fastlb connections per server"] = distribution
        text = report.markdown(results, meta, configs.CLIENT_THREADS, args.duration, appendix)
        args.output.write_text(text)
        print(f"\nwrote {args.output}")
    return 0


def check_load_balancer(
    lb: LoadBalancerProcess, http: bool, workdir: Path, *, required: bool
) -> str:
    """Probe every frontend before timing; warm it up (page cache, pools, CPU frequency).

    A frontend of the candidate that fails its probe is marked unavailable (its scenarios
    report why, nothing is measured); the baseline must pass every probe.
    """
    check_serves(lb.label, lb.port)
    check_serves(lb.label, lb.tls_port, tls=True)
    found = []
    if http:
        probes_by_frontend: tuple[tuple[str, Callable[[int], str]], ...] = (
            ("http", probes.check_http),
            ("http_close", probes.check_reuse),
            ("https", probes.check_h2),
        )
        for frontend, probe in probes_by_frontend:
            if frontend == "http_close" and "http" in lb.unavailable:
                # fastlb serves both from one frontend: what failed for one fails for both.
                lb.unavailable.setdefault(frontend, lb.unavailable["http"])
            if frontend in lb.unavailable:
                continue
            try:
                found.append(probe(getattr(lb.ports, frontend)))
            except ProbeFailed as exc:
                if required:
                    raise SystemExit(f"error: {lb.label} {frontend}: {exc}") from None
                lb.unavailable[frontend] = str(exc)
        for frontend, why in sorted(lb.unavailable.items()):
            print(f"bench: {lb.label} {frontend}: not available ({why})", flush=True)
    ports = [lb.port] + ([lb.ports.http] if http and "http" not in lb.unavailable else [])
    for port in ports:
        wrk.run(
            f"http://127.0.0.1:{port}/",
            threads=configs.CLIENT_THREADS,
            connections=16,
            duration_s=1,
            script_dir=workdir,
        )
    return "; ".join(found)


def run_scenario(
    scenario: Scenario,
    pairs: list[tuple[LoadBalancerProcess, LoadBalancerProcess]],
    args: argparse.Namespace,
    workdir: Path,
    backend_ports: list[int],
) -> ScenarioResult:
    """`args.rounds` rounds of candidate then baseline at each thread count, every run kept."""
    result = ScenarioResult(scenario, [], [])
    sides: list[tuple[SideRuns, LoadBalancerProcess]] = []
    for candidate, baseline in pairs:
        for runs, lb in ((result.candidates, candidate), (result.baselines, baseline)):
            side = SideRuns(label(lb), threads=lb.threads)
            side.unavailable = lb.unavailable.get(scenario.frontend, "")
            runs.append(side)
            sides.append((side, lb))
    for round_no, (side, lb) in alternate(args.rounds, sides):
        if side.unavailable:
            continue
        record = workdir / f"{scenario.name}-{lb.label}-{round_no}"
        measure(scenario, side, lb, args.duration, record, backend_ports)
        time.sleep(0.5)  # let the previous run's sockets close before the next one
    return result


def label(lb: LoadBalancerProcess) -> str:
    """The report's name of a side: the process name without its thread count."""
    return lb.label.rsplit("-", 1)[0] if lb.label.endswith("t") else lb.label


def measure(
    scenario: Scenario,
    side: SideRuns,
    lb: LoadBalancerProcess,
    duration_s: float,
    record: Path,
    backend_ports: list[int],
) -> None:
    """One client run against `lb`: its result, the LB's CPU time and the server connections
    it opened (nginx's serials, asked before and after) appended to `side`."""
    try:
        serial_before = probes.server_connections(backend_ports)
        cpu_before = lb.cpu_seconds()
        run, raw = run_client(scenario, lb, duration_s, record.parent)
        cpu = lb.cpu_seconds() - cpu_before
        # The ask after the run opened one connection per backend itself; the one before
        # was counted in serial_before already.
        opened = probes.server_connections(backend_ports) - serial_before - len(backend_ports)
    except (LoadParseError, ProbeFailed, OSError) as exc:  # OSError: the LB is gone
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        side.failures.append(why)
        record.with_suffix(".txt").write_text(str(exc))
        print(f"  {scenario.name:<14} {side.setting:<14} FAILED: {why}", flush=True)
        return
    record.with_suffix(".txt").write_text(raw)
    side.results.append(run)
    side.cpu_seconds.append(cpu)
    side.server_connections.append(opened)
    value = report.format_metric(getattr(run, scenario.metric), scenario.metric)
    cost = report.format_cost(side.costs(scenario.metric)[-1], scenario.metric)
    flag = f"  ERRORS {run.socket_errors} non-2xx {run.non_2xx}" if run.errors else ""
    round_no = len(side.results) + len(side.failures)
    print(
        f"  {scenario.name:<14} round {round_no} {side.setting:<14} {value:>16}"
        f"  LB CPU {cost}  server connections {opened:,}{flag}",
        flush=True,
    )


def run_client(
    scenario: Scenario, lb: LoadBalancerProcess, duration_s: float, workdir: Path
) -> tuple[LoadResult, str]:
    target = url(lb, scenario)
    if scenario.tool == "h2load":
        return h2load.run(
            target,
            threads=configs.CLIENT_THREADS,
            connections=scenario.connections,
            streams=scenario.streams,
            duration_s=duration_s,
            headers=scenario.headers,
        )
    return wrk.run(
        target,
        threads=configs.CLIENT_THREADS,
        connections=scenario.connections,
        duration_s=duration_s,
        headers=scenario.headers,
        script_dir=workdir,
    )


def url(lb: LoadBalancerProcess, scenario: Scenario) -> str:
    scheme = "https" if scenario.tls else "http"
    port = getattr(lb.ports, scenario.frontend)
    return f"{scheme}://127.0.0.1:{port}{scenario.path}"


def fastlb_distribution(topo: Topology) -> str:
    """Connections each fastlb gave each server over the whole run (~3:1), from its API: per
    backend, so `web-http` shows how few server connections the HTTP pool opened."""
    parts = []
    for name, api_port in topo.fastlb_api_ports.items():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/stats", timeout=5) as r:
                backends = json.load(r)["backends"]
            for backend, stats in backends.items():
                servers = stats["servers"]
                counts = ", ".join(f"{s} {v['total_connections']:,}" for s, v in servers.items())
                parts.append(f"{name} {backend}: {counts}")
        except (OSError, ValueError, KeyError) as exc:
            parts.append(f"{name}: unavailable ({exc})")
    return "; ".join(parts)


def metadata(args: argparse.Namespace, argv: list[str] | None) -> dict[str, str]:
    shown = " ".join(argv if argv is not None else sys.argv[1:])
    options = configs.HAPROXY_SPLICE[args.haproxy_splice]
    haproxy_splice = " + ".join(f"`{o}`" for o in options) or "no splice option"
    threads = "/".join(str(t) for t in args.threads)
    return {
        "command": f"python -m bench {shown}".strip(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu_model()}, Linux {platform.release()}",
        "commit": git_commit(),
        "rounds x duration": f"{args.rounds} x {args.duration:g} s, A/B alternated, medians",
        "thread counts": f"{threads} for both (HAProxy `nbthread`, fastlb `workers`);"
        f" clients always `-t{configs.CLIENT_THREADS}`",
        "haproxy": first_line([find_tool("haproxy"), "-v"]),
        "nginx": first_line([find_tool("nginx"), "-v"]),
        "wrk": first_line([find_tool("wrk"), "-v"]),
        "h2load": first_line([find_tool("h2load"), "--version"]),
        "fastlb": (
            f"{first_line([*fastlb_command(), 'version'])}, `workers: {threads}`,"
            f" `splice: {args.splice}`"
            if args.candidate == "fastlb"
            else "not measured (harness check: HAProxy vs HAProxy)"
        ),
        "HAProxy config, TCP/TLS": f"`mode tcp`, `balance roundrobin`, {haproxy_splice}",
        "HAProxy config, HTTP": "`mode http`, `option forwardfor`, `option http-keep-alive`,"
        f" `http-reuse {args.haproxy_reuse}` (keep-alive, h2), `http-reuse"
        f" {args.haproxy_close_reuse}` (`Connection: close` clients), `timeout http-request"
        f" {configs.HTTP_REQUEST_TIMEOUT}`, h2 by `alpn h2,http/1.1` on the TLS bind",
        "fastlb config, HTTP": "`mode: http`, `forwarded: {x_forwarded_for: true}`, backend"
        " `http: {server_reuse: true, max_idle: 1024}` (docs/http.md); the full configs are at"
        " the end",
        "backends": "2 x nginx (1 worker each), weights 3:1, `/` = 64 B, `/big` = 16 MiB",
        "TLS scenarios": "both terminate TLS with the same self-signed ECDSA P-256"
        " certificate, TLS 1.2 minimum (wrk and h2load negotiate 1.3), session resumption off"
        " on both (HAProxy `no-tls-tickets` + `tune.ssl.cachesize 0`, fastlb"
        " `session_resumption: false`): every new connection is a full handshake",
    }
