"""`python -m bench.mysql_pool`: what `mysql.pool` buys — connect-per-request clients (each
request connects, runs one point select and disconnects, as PHP or CGI does) through fastlb
with the pool (sessions holding their connections: `pooled`; giving them back between
statements: `multiplexed`), straight to MariaDB, through stock HAProxy `mode tcp`, and
through fastlb without the pool; and persistent clients (sysbench point_select, read_only)
through fastlb pooled, multiplexed and without the pool.

`connect_per_request_tls` is the same request with TLS on every connection, as a server
that requires secure transport has it (sysbench `--mysql-ssl=on`): direct, each request pays
MariaDB a TLS handshake and a login; through HAProxy `mode tcp` the same (it relays the
client's TLS session); through fastlb the client's handshake and login end at fastlb, whose
pooled TLS connections to the server stay open. Plaintext on loopback a MariaDB login costs
about what fastlb's own does, so there the pool can only remove the server's share; with
TLS the per-connection cost is what the pool takes away.

One private mariadbd (own datadir and port, started and stopped by pid) serves every side;
fastlb lists it as both primary and replica (the production path: login on the primary,
reads on the replica connection). Sides alternate within each round, medians compared.
Targets: pooled and multiplexed >= 1.5x direct and >= 2x HAProxy for connect-per-request;
>= 0.98x unpooled for persistent clients. Writes BENCHMARKS-mysql-pool.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import mysql as bench_mysql
from bench import mysql_idle_clients
from bench.drivers import sysbench
from bench.mysql import WORKERS, start_haproxy, tls_files
from bench.mysql_idle_clients import CLIENTS as CLIENTS_IDLE
from fastlb.harness.mariadb import (
    MariaDB,
    find_binaries,
    install_template,
    sysbench_command,
)
from fastlb.harness.pki import TestCA
from fastlb.harness.process import cpu_seconds

REPO = Path(__file__).resolve().parent.parent

THREADS = 8
TABLE_SIZE = 10_000
CONNECT_PER_REQUEST = str(REPO / "bench" / "lua" / "connect_per_request.lua")
# The sides measured against others (fastlb with the pool, without and with multiplexing).
SUBJECTS = ("pooled", "multiplexed")
# (workload, sysbench script, sides, targets: side compared -> minimum ratio of a subject);
# a workload whose name ends in `_tls` runs over TLS, against the TLS instances of each proxy.
WORKLOADS: list[tuple[str, str, tuple[str, ...], dict[str, float]]] = [
    (
        "connect_per_request",
        CONNECT_PER_REQUEST,
        ("pooled", "multiplexed", "direct", "haproxy", "unpooled"),
        {"direct": 1.5, "haproxy": 2.0},
    ),
    (
        "connect_per_request_tls",
        CONNECT_PER_REQUEST,
        ("pooled", "multiplexed", "direct", "haproxy", "unpooled"),
        {"direct": 1.5, "haproxy": 2.0},
    ),
    (
        "point_select",
        "oltp_point_select",
        ("pooled", "multiplexed", "unpooled"),
        {"unpooled": 0.98},
    ),
    ("read_only", "oltp_read_only", ("pooled", "multiplexed", "unpooled"), {"unpooled": 0.98}),
]


# The pool's limit in every fastlb side; fastlb lists the one server twice (primary and
# replica), so it may hold twice this.
MAX_PER_SERVER = 32
SERVER_ENTRIES = 2
# The sides whose idle clients are counted (pooled without multiplexing: each idle session
# keeps its connection, and the 33rd waits for one).
IDLE_SIDES = ("multiplexed", "direct", "haproxy", "unpooled")


def start_fastlb(
    server: MariaDB, workdir: Path, side: str, ca: TestCA | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """fastlb as `side`: unpooled, pooled or multiplexed (the pool with multiplexing); with
    `ca`, TLS to its clients and to the server."""
    pool = None
    if side != "unpooled":
        multiplexing = side == "multiplexed"
        pool = {"enabled": True, "max_per_server": MAX_PER_SERVER, "multiplexing": multiplexing}
    return bench_mysql.start_fastlb(server, workdir, ca, pool, name=f"fastlb-{side}")


@dataclass
class Run:
    """One sysbench run: its events (one event: one request or one transaction)."""

    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@dataclass
class Runs:
    """One side's runs of a workload: events per second, and the MariaDB server's CPU
    microseconds per event (what a database host bound by its CPU pays per request)."""

    rates: list[float] = field(default_factory=list)
    server_us: list[float] = field(default_factory=list)
    proxy_us: list[float] = field(default_factory=list)

    def rate(self) -> float:
        return statistics.median(self.rates)

    def server_cost(self) -> float:
        return statistics.median(self.server_us)

    def proxy_cost(self) -> str:
        return f"{statistics.median(self.proxy_us):.1f}" if self.proxy_us else "-"


def run(script: str, port: int, seconds: float, tls_dir: Path | None = None) -> Run:
    """One sysbench run; with `tls_dir`, over TLS (sysbench reads its CA and client
    certificate from there)."""
    options = [
        "--tables=1",
        f"--table-size={TABLE_SIZE}",
        f"--threads={THREADS}",
        "--skip_trx=on",
        *(["--mysql-ssl=on"] if tls_dir else []),
    ]
    output = sysbench.run(script, port, "run", seconds, options, cwd=tls_dir)
    events = re.search(r"total number of events:\s+(\d+)", output)
    took = re.search(r"total time:\s+([\d.]+)s", output)
    errors = re.search(r"ignored errors:\s+(\d+)", output)
    if not events or not took or (errors and int(errors.group(1))):
        raise SystemExit(f"sysbench {script}: no events or errors in its output:\n{output}")
    return Run(int(events.group(1)), float(took.group(1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mysql_pool", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per sysbench run")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS-mysql-pool.md")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--workloads",
        nargs="*",
        default=[name for name, _, _, _ in WORKLOADS],
        help="the sysbench workloads to run (all by default; none: only the idle clients)",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-bench-mysql-pool-"))
    binaries = find_binaries()
    install_template(binaries, workdir / "template")
    (workdir / "server").mkdir()
    ca, client_files = tls_files(workdir)
    certificate = ca.issue("mariadb", ["mariadb.test"], ips=("127.0.0.1",))
    # Enough connections for connect-per-request runs (closed sessions linger briefly) and
    # for 1,000 idle clients through fastlb unpooled (a primary and a replica connection each).
    server = MariaDB(
        binaries,
        workdir / "template",
        workdir / "server",
        options=(
            "--max-connections=2200",
            f"--ssl-cert={certificate.cert_path}",
            f"--ssl-key={certificate.key_path}",
            f"--ssl-ca={ca.cert_path}",
        ),
    )
    proxies: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, dict[str, Runs]] = {}
    held: dict[str, mysql_idle_clients.Held] = {}
    try:
        server.start()
        server.sql("CREATE DATABASE sbtest")
        subprocess.run(
            sysbench_command(
                "oltp_read_only", server.port, "prepare", "--tables=1", f"--table-size={TABLE_SIZE}"
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        ports = {"direct": server.port}
        for side in ("pooled", "multiplexed", "unpooled"):
            proxies[side], ports[side] = start_fastlb(server, workdir, side)
            proxies[f"{side}-tls"], ports[f"{side}-tls"] = start_fastlb(server, workdir, side, ca)
        # HAProxy relays TLS untouched and the server speaks both: one instance serves both.
        proxies["haproxy"], ports["haproxy"] = start_haproxy(server, workdir)
        for name, script, sides, _ in WORKLOADS:
            if name not in args.workloads:
                continue
            runs = results[name] = {side: Runs() for side in sides}
            tls = name.endswith("_tls")
            for round_no in range(1, args.rounds + 1):
                # Each round starts with the next side: no side always runs first or last
                # (the later runs of a round were seen to be faster on this machine).
                shift = (round_no - 1) % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    instance = f"{side}-tls" if tls and f"{side}-tls" in ports else side
                    tls_dir = client_files if tls else None
                    proxy = proxies.get(instance)
                    server_cpu = cpu_seconds(server.pid)
                    proxy_cpu = cpu_seconds(proxy.pid) if proxy else 0.0
                    result = run(script, ports[instance], args.duration, tls_dir)
                    server_us = (cpu_seconds(server.pid) - server_cpu) / result.events * 1e6
                    runs[side].rates.append(result.rate)
                    runs[side].server_us.append(server_us)
                    if proxy:
                        proxy_cpu = cpu_seconds(proxy.pid) - proxy_cpu
                        runs[side].proxy_us.append(proxy_cpu / result.events * 1e6)
                    print(
                        f"  {name:<24} round {round_no} {side:<11} {result.rate:>10,.0f} /s"
                        f"  MariaDB {server_us:6.1f} us CPU per event",
                        flush=True,
                    )
        # The idle clients meet fresh proxies one at a time: no pooled connection left from
        # the runs above counts against a side.
        stop(proxies)
        for side in IDLE_SIDES:
            if side == "direct":
                held[side] = mysql_idle_clients.hold(server, server.port, None)
            else:
                starter = start_haproxy if side == "haproxy" else start_fastlb_side(side)
                proxies[side], port = starter(server, workdir)
                held[side] = mysql_idle_clients.hold(server, port, proxies[side].pid)
                stop(proxies)
            print(f"  {CLIENTS_IDLE:,} idle clients {side:<11} {held[side]}", flush=True)
    finally:
        stop(proxies)
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = summary(results, args)
    lines += mysql_idle_clients.report(held, MAX_PER_SERVER, SERVER_ENTRIES)
    print("\n".join(lines))
    if not args.no_write:
        args.output.write_text("\n".join(lines) + "\n")
        print(f"\nwrote {args.output}")
    return 0


def stop(proxies: dict[str, subprocess.Popen[bytes]]) -> None:
    """Stops every proxy in `proxies` (by pid) and forgets them."""
    for proc in proxies.values():
        proc.terminate()
        proc.wait(30)
    proxies.clear()


def start_fastlb_side(side: str) -> Callable[[MariaDB, Path], tuple[subprocess.Popen[bytes], int]]:
    return lambda server, workdir: start_fastlb(server, workdir, side)


def summary(results: dict[str, dict[str, Runs]], args: argparse.Namespace) -> list[str]:
    lines = [
        "# fastlb mysql.pool benchmark",
        "",
        f"{dt.date.today().isoformat()}; one MariaDB, sysbench {THREADS} threads,"
        f" fastlb and HAProxy {WORKERS} threads, {args.rounds} rounds x {args.duration:g} s,"
        " sides alternated, medians. Rates: requests/s (connect-per-request) or"
        " transactions/s. `_tls`: TLS on every connection (sysbench `--mysql-ssl=on`).",
        "",
        "## Throughput on this machine (clients, proxy and server share its 2 cores)",
        "",
        "| workload | fastlb | its rate | compared with | their rate | ratio | target |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for name, _, _, targets in WORKLOADS:
        runs = results.get(name)
        if not runs:
            continue
        for subject in SUBJECTS:
            ours = runs[subject].rate()
            for side in runs:
                if side in SUBJECTS:
                    continue
                theirs = runs[side].rate()
                lines.append(
                    f"| {name} | {subject} | {ours:,.0f} | {side} | {theirs:,.0f} |"
                    f" {ours / theirs:.2f} | {verdict(ours / theirs, targets.get(side))} |"
                )
        multiplexed = runs["multiplexed"].rate() / runs["pooled"].rate()
        lines.append(f"| {name} | multiplexed | | pooled | | {multiplexed:.2f} | - |")
    lines += [
        "",
        "## The database server's CPU per request (what a server bound by its CPU pays)",
        "",
        "MariaDB's CPU time (user + system, /proc) per request in the same runs. On its own",
        "host, a server bound by its CPU serves requests in inverse proportion to this: the",
        "ratio is the capacity a side gives it against the other side.",
        "",
        "| workload | fastlb | MariaDB us/request | compared with | their us/request |"
        " capacity ratio | target | proxy us/request: fastlb / theirs |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for name, _, _, targets in WORKLOADS:
        runs = results.get(name)
        if not runs or not targets:
            continue
        for subject in SUBJECTS:
            ours = runs[subject].server_cost()
            for side in targets:
                theirs = runs[side].server_cost()
                lines.append(
                    f"| {name} | {subject} | {ours:.1f} | {side} | {theirs:.1f} |"
                    f" {theirs / ours:.2f} | {verdict(theirs / ours, targets[side])} |"
                    f" {runs[subject].proxy_cost()} / {runs[side].proxy_cost()} |"
                )
    return lines


def verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return "-"
    return f">= {target:g}: {'met' if ratio >= target else 'MISSED'}"


if __name__ == "__main__":
    raise SystemExit(main())
