"""fastlb's HTTP stack vs a hyper 1.x proxy vs HAProxy, all at one I/O thread (docs/http-stack.md).

Same two nginx backends (64-byte responses, weights 3:1) as `python -m bench`; fastlb and
HAProxy get the benchmark's own `mode http` configs (bench/configs.py), the hyper proxy
(bench/http_stack/src/main.rs, built with `cargo build --release` there) the same upstreams
and weights. Rounds are A B C A B C ...; the table is medians over rounds: req/s, p99 and the
proxy process's CPU time (user + system, /proc/<pid>/stat) per request.

Run from the repository root after `make install`:
    .venv/bin/python -m bench.http_stack.run --rounds 3 --duration 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench import configs
from bench.configs import Server
from bench.drivers import wrk
from bench.topology import Topology
from fastlb.harness.ports import free_ports
from fastlb.harness.process import stop
from fastlb.harness.waiting import wait_listening

HERE = Path(__file__).resolve().parent
HYPER_BINARY = HERE / "target" / "release" / "hyper-proxy-bench"
CONNECTIONS = 64
SCENARIOS = {"keep-alive": (), "close": ("Connection: close",)}


@dataclass
class Proxy:
    """One proxy under test: its label, its HTTP port (keep-alive and close), its pid."""

    label: str
    port: int
    close_port: int
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process so far (proc(5): fields 14, 15)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK"))


@dataclass
class Runs:
    """Every run of one proxy in one scenario."""

    rps: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_us_per_request: list[float] = field(default_factory=list)
    load1: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)


def start_hyper(
    stack: ExitStack, workdir: Path, servers: list[Server], preserve_case: bool = False
) -> Proxy:
    """The hyper proxy: one thread, the same upstreams and weights; `preserve_case` turns on
    hyper's preserve_header_case both sides (fastlb keeps the case by construction)."""
    if not HYPER_BINARY.exists():
        raise SystemExit(f"{HYPER_BINARY} missing: cargo build --release in {HERE}")
    (port,) = free_ports(1)
    upstreams = [f"127.0.0.1:{s.port}={s.weight}" for s in servers]
    flags = ["--preserve-case"] if preserve_case else []
    label = "hyper+case" if preserve_case else "hyper 1.x"
    log = workdir / f"{label.replace(' ', '-')}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(HYPER_BINARY), *flags, f"127.0.0.1:{port}", "1", *upstreams],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    stack.callback(stop, proc)
    wait_listening(proc, port, log, 15.0)
    return Proxy(label, port, port, proc.pid)


def probe(proxy: Proxy) -> None:
    """Before timing: the 64-byte body comes through, and X-Forwarded-For reaches nginx."""
    for port in {proxy.port, proxy.close_port}:
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/", timeout=5) as resp:
            body = resp.read()
        if len(body) != len(configs.SMALL_BODY):
            raise SystemExit(f"{proxy.label}: / answered {body!r}")
        with urllib.request.urlopen(base + "/xff", timeout=5) as resp:
            xff = resp.read().decode().strip()
        if "127.0.0.1" not in xff:
            raise SystemExit(f"{proxy.label}: nginx saw X-Forwarded-For {xff!r}")


def load1() -> float:
    """The machine's 1-minute load average (it is shared: recorded with every run)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def measure(proxy: Proxy, scenario: str, duration: float, workdir: Path, runs: Runs) -> None:
    port = proxy.close_port if scenario == "close" else proxy.port
    cpu_before = proxy.cpu_seconds()
    result, _ = wrk.run(
        f"http://127.0.0.1:{port}/",
        threads=configs.CLIENT_THREADS,
        connections=CONNECTIONS,
        duration_s=duration,
        headers=SCENARIOS[scenario],
        script_dir=workdir,
    )
    cpu = proxy.cpu_seconds() - cpu_before
    runs.rps.append(result.requests_per_s)
    runs.p99_ms.append(result.latency_percentiles_s.get(99, 0.0) * 1e3)
    runs.cpu_us_per_request.append(cpu / max(result.requests, 1) * 1e6)
    runs.load1.append(load1())
    runs.errors.append(sum(result.socket_errors.values()) + result.non_2xx)
    print(
        f"  {scenario:10} {proxy.label:10} {result.requests_per_s:10.0f} req/s"
        f"  p99 {runs.p99_ms[-1]:7.2f} ms  {runs.cpu_us_per_request[-1]:6.2f} us CPU/req"
        f"  load {runs.load1[-1]:.2f}  errors {runs.errors[-1]}",
        flush=True,
    )


def table(results: dict[str, dict[str, Runs]]) -> str:
    """Markdown: medians over rounds per scenario and proxy."""
    med: Callable[[list[float]], float] = statistics.median
    lines = [
        "| scenario | proxy | req/s | p99 ms | CPU µs/req | load avg (1 min) | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario, by_proxy in results.items():
        for label, runs in by_proxy.items():
            lines.append(
                f"| {scenario} | {label} | {med(runs.rps):.0f} | {med(runs.p99_ms):.2f}"
                f" | {med(runs.cpu_us_per_request):.2f} | {med(runs.load1):.1f}"
                f" | {sum(runs.errors)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--hyper-preserve-case",
        action="store_true",
        help="also run the hyper proxy with preserve_header_case on (a fourth proxy)",
    )
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    scenarios = args.scenario or list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="fastlb-http-stack-") as tmp:
        workdir = Path(tmp)
        with Topology(workdir) as topo, ExitStack() as stack:
            servers = topo.start_backends()
            fastlb = topo.start_fastlb("fastlb", servers, "auto", threads=1, http=True)
            if fastlb.unavailable:
                raise SystemExit(f"fastlb refused mode http: {fastlb.unavailable}")
            haproxy = topo.start_haproxy("haproxy", servers, threads=1, http=True)
            proxies = [
                Proxy("fastlb", fastlb.ports.http, fastlb.ports.http_close, fastlb.pid),
                start_hyper(stack, workdir, servers),
                Proxy("HAProxy", haproxy.ports.http, haproxy.ports.http_close, haproxy.pid),
            ]
            if args.hyper_preserve_case:
                proxies.insert(2, start_hyper(stack, workdir, servers, preserve_case=True))
            for proxy in proxies:
                probe(proxy)
            results = {s: {p.label: Runs() for p in proxies} for s in scenarios}
            for scenario in scenarios:
                for proxy in proxies:  # warm-up, not recorded: pools filled, caches hot
                    measure(proxy, scenario, 2.0, workdir, Runs())
                for round_no in range(args.rounds):
                    print(f"round {round_no + 1}/{args.rounds}", flush=True)
                    for proxy in proxies:
                        runs = results[scenario][proxy.label]
                        measure(proxy, scenario, args.duration, workdir, runs)
                        time.sleep(1.0)
    print(table(results))
    if args.json:
        every = {s: {p: vars(r) for p, r in d.items()} for s, d in results.items()}
        args.json.write_text(json.dumps(every, indent=1))


if __name__ == "__main__":
    main()
