"""`python -m bench.mysql_pool`: what `mysql.pool` buys — connect-per-request clients (each
request connects, runs one point select and disconnects, as PHP or CGI does) through fastlb
with the pool (sessions holding their connections: `pooled`; giving them back between
statements: `multiplexed`), straight to MariaDB, through stock HAProxy `mode tcp`, and
through fastlb without the pool; and persistent clients (sysbench point_select, read_only)
through fastlb pooled, multiplexed and without the pool.

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
from pathlib import Path
from typing import Any

from bench.mysql import WORKERS, start_haproxy
from fastlb.harness.mariadb import (
    PASSWORD,
    USER,
    MariaDB,
    find_binaries,
    install_template,
    sysbench_command,
)
from fastlb.harness.ports import free_port
from fastlb.harness.process import FastlbProcess

REPO = Path(__file__).resolve().parent.parent

THREADS = 8
TABLE_SIZE = 10_000
CONNECT_PER_REQUEST = str(REPO / "bench" / "lua" / "connect_per_request.lua")
# The sides measured against others (fastlb with the pool, without and with multiplexing).
SUBJECTS = ("pooled", "multiplexed")
# (workload, sysbench script, sides, targets: side compared -> minimum ratio of a subject)
WORKLOADS: list[tuple[str, str, tuple[str, ...], dict[str, float]]] = [
    (
        "connect_per_request",
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


def start_fastlb(server: MariaDB, workdir: Path, side: str) -> tuple[subprocess.Popen[bytes], int]:
    """fastlb as `side`: unpooled, pooled or multiplexed (the pool with multiplexing)."""
    port = free_port()
    mysql: dict[str, Any] = {"users": [{"user": USER, "password": PASSWORD}]}
    if side != "unpooled":
        mysql["pool"] = {
            "enabled": True,
            "max_per_server": 32,
            "multiplexing": side == "multiplexed",
        }
    config = {
        "workers": WORKERS,
        "frontends": [
            {"name": "sql", "listen": f"127.0.0.1:{port}", "mode": "mysql", "backend": "db"}
        ],
        "backends": [
            {
                "name": "db",
                "servers": [
                    {"name": "primary", "address": server.address, "role": "primary"},
                    {"name": "replica", "address": server.address, "role": "replica"},
                ],
                "mysql": mysql,
            }
        ],
    }
    return FastlbProcess(config, workdir, name=f"fastlb-{side}").start().popen, port


def run(script: str, port: int, seconds: float) -> float:
    """Events per second of one sysbench run (one event: one request or one transaction)."""
    argv = sysbench_command(
        script,
        port,
        "run",
        "--tables=1",
        f"--table-size={TABLE_SIZE}",
        f"--threads={THREADS}",
        f"--time={max(1, round(seconds))}",
        "--skip_trx=on",
    )
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    events = re.search(r"total number of events:\s+(\d+)", proc.stdout)
    took = re.search(r"total time:\s+([\d.]+)s", proc.stdout)
    errors = re.search(r"ignored errors:\s+(\d+)", proc.stdout)
    if proc.returncode != 0 or not events or not took or (errors and int(errors.group(1))):
        raise SystemExit(f"sysbench {script} failed:\n{proc.stdout}\n{proc.stderr}")
    return int(events.group(1)) / float(took.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mysql_pool", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per sysbench run")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS-mysql-pool.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-bench-mysql-pool-"))
    binaries = find_binaries()
    install_template(binaries, workdir / "template")
    (workdir / "server").mkdir()
    # Enough connections for connect-per-request runs (closed sessions linger briefly).
    server = MariaDB(
        binaries, workdir / "template", workdir / "server", options=("--max-connections=1000",)
    )
    proxies: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, dict[str, list[float]]] = {}
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
        proxies["haproxy"], ports["haproxy"] = start_haproxy(server, workdir)
        for name, script, sides, _ in WORKLOADS:
            runs = results[name] = {side: [] for side in sides}
            for round_no in range(1, args.rounds + 1):
                for side in sides:
                    rate = run(script, ports[side], args.duration)
                    runs[side].append(rate)
                    print(f"  {name:<20} round {round_no} {side:<8} {rate:>10,.0f} /s", flush=True)
    finally:
        for proc in proxies.values():
            proc.terminate()
            proc.wait(30)
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = summary(results, args)
    print("\n".join(lines))
    if not args.no_write:
        args.output.write_text("\n".join(lines) + "\n")
        print(f"\nwrote {args.output}")
    return 0


def summary(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> list[str]:
    lines = [
        "# fastlb mysql.pool benchmark",
        "",
        f"{dt.date.today().isoformat()}; one MariaDB, sysbench {THREADS} threads,"
        f" fastlb and HAProxy {WORKERS} threads, {args.rounds} rounds x {args.duration:g} s,"
        " sides alternated, medians. Rates: requests/s (connect-per-request) or"
        " transactions/s.",
        "",
        "| workload | fastlb | its rate | compared with | their rate | ratio | target |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for name, _, _, targets in WORKLOADS:
        runs = results.get(name)
        if not runs:
            continue
        for subject in SUBJECTS:
            ours = statistics.median(runs[subject])
            for side in runs:
                if side in SUBJECTS:
                    continue
                theirs = statistics.median(runs[side])
                ratio = ours / theirs
                target = targets.get(side)
                verdict = "-"
                if target is not None:
                    verdict = f">= {target:g}: {'met' if ratio >= target else 'MISSED'}"
                lines.append(
                    f"| {name} | {subject} | {ours:,.0f} | {side} | {theirs:,.0f} |"
                    f" {ratio:.2f} | {verdict} |"
                )
        multiplexed = statistics.median(runs["multiplexed"]) / statistics.median(runs["pooled"])
        lines.append(f"| {name} | multiplexed | | pooled | | {multiplexed:.2f} | - |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
