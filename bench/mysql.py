"""`python -m bench.mysql`: what read/write splitting costs — sysbench through fastlb's
`mode: mysql` frontend vs sysbench straight to the same MariaDB server.

One private mariadbd (own datadir and port, started and stopped by pid) serves both sides.
fastlb lists it twice, as the primary and as the replica, so that its reads take exactly the
path they take in production (classified, sent to the replica connection) while the server's
work stays identical; the ratio is then the proxy's cost alone. Direct and through-fastlb
runs alternate (A B A B), medians compared. Writes BENCHMARKS-mysql.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.mariadb import (  # noqa: E402 - the repo's own private-MariaDB harness
    PASSWORD,
    USER,
    MariaDB,
    find_binaries,
    install_template,
)
from tests.integration.proc import free_port, listening_ports  # noqa: E402

THREADS = 8
TABLES, TABLE_SIZE = 4, 10_000
# sysbench scripts and their extra options: point selects, and the read-only OLTP mix
# without BEGIN/COMMIT (so that its reads can go to a replica).
WORKLOADS = {
    "point_select": ("oltp_point_select", []),
    "read_only": ("oltp_read_only", ["--skip_trx=on"]),
}
TARGET = 0.80  # fastlb must keep at least 80% of direct throughput


@dataclass
class Runs:
    direct: list[float] = field(default_factory=list)
    fastlb: list[float] = field(default_factory=list)

    def ratio(self) -> float:
        return statistics.median(self.fastlb) / statistics.median(self.direct)


def sysbench(script: str, port: int, extra: list[str], command: str, seconds: float) -> str:
    argv = [
        "sysbench",
        script,
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        f"--mysql-port={port}",
        f"--mysql-user={USER}",
        f"--mysql-password={PASSWORD}",
        "--mysql-db=sbtest",
        f"--tables={TABLES}",
        f"--table-size={TABLE_SIZE}",
        f"--threads={THREADS}",
        f"--time={max(1, round(seconds))}",
        "--db-ps-mode=auto",
        *extra,
        command,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    if proc.returncode != 0:
        raise SystemExit(f"sysbench {script} {command} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def queries_per_second(output: str) -> float:
    match = re.search(r"queries:\s+\d+\s+\(([\d.]+) per sec\.\)", output)
    errors = re.search(r"ignored errors:\s+(\d+)", output)
    if not match:
        raise SystemExit(f"no queries/s in sysbench output:\n{output}")
    if errors and int(errors.group(1)):
        raise SystemExit(f"sysbench saw errors:\n{output}")
    return float(match.group(1))


def start_fastlb(server: MariaDB, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = {
        "workers": 2,
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
                "mysql": {"users": [{"user": USER, "password": PASSWORD}]},
            }
        ],
    }
    path = workdir / "fastlb.yaml"
    path.write_text(yaml.safe_dump(config))
    log = (workdir / "fastlb.log").open("wb")
    fastlb = shutil.which("fastlb") or str(REPO / ".venv/bin/fastlb")
    proc = subprocess.Popen([fastlb, "serve", "-c", str(path)], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while port not in listening_ports():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"fastlb did not start: {(workdir / 'fastlb.log').read_text()}")
        time.sleep(0.05)
    return proc, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mysql", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per sysbench run")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS-mysql.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-bench-mysql-"))
    binaries = find_binaries()
    install_template(binaries, workdir / "template")
    (workdir / "server").mkdir()
    server = MariaDB(binaries, workdir / "template", workdir / "server")
    fastlb: subprocess.Popen[bytes] | None = None
    results: dict[str, Runs] = {}
    try:
        server.start()
        server.sql("CREATE DATABASE sbtest")
        print(f"bench.mysql: MariaDB on {server.address}; preparing sysbench tables", flush=True)
        sysbench("oltp_read_only", server.port, [], "prepare", 60)
        fastlb, fastlb_port = start_fastlb(server, workdir)
        for name, (script, extra) in WORKLOADS.items():
            runs = results[name] = Runs()
            for round_no in range(1, args.rounds + 1):
                for side, port in (("fastlb", fastlb_port), ("direct", server.port)):
                    qps = queries_per_second(sysbench(script, port, extra, "run", args.duration))
                    getattr(runs, side).append(qps)
                    print(f"  {name:<13} round {round_no} {side:<7} {qps:>10,.0f} q/s", flush=True)
    finally:
        if fastlb is not None:
            fastlb.terminate()
            fastlb.wait(30)
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = summary(results, args)
    print("\n".join(lines))
    if not args.no_write:
        args.output.write_text("\n".join(lines) + "\n")
        print(f"\nwrote {args.output}")
    return 0


def summary(results: dict[str, Runs], args: argparse.Namespace) -> list[str]:
    lines = [
        "# MySQL read/write splitting: sysbench through fastlb vs direct",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; machine: {os.cpu_count()} cores;"
        f" {args.rounds} rounds x {args.duration:g} s, A/B alternated, medians",
        f"- sysbench 1.0 `--threads={THREADS} --db-ps-mode=auto`, {TABLES} tables x"
        f" {TABLE_SIZE:,} rows; one MariaDB server, listed as primary and replica in fastlb",
        f"- target: fastlb keeps at least {TARGET:.0%} of direct throughput",
        "",
        "| workload | direct q/s | fastlb q/s | fastlb / direct | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, runs in results.items():
        ratio = runs.ratio()
        verdict = "met" if ratio >= TARGET else "missed"
        lines.append(
            f"| {name} | {statistics.median(runs.direct):,.0f} |"
            f" {statistics.median(runs.fastlb):,.0f} | {ratio:.2f} | {verdict} |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
