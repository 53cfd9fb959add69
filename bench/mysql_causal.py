"""`python -m bench.mysql_causal`: what `causal_reads` costs — `off` vs `session` vs `global`.

A real GTID-replicated MariaDB pair (fastlb.harness.replication) behind three `fastlb
serve` processes that differ only in `causal_reads`. sysbench runs `bench/lua/causal_mix.lua`
(nine point selects and one indexed update per event, every statement autocommit, so 10% of
the statements are writes and every read may go to the replica). With `session` a read waits
(`MASTER_GTID_WAIT` on the replica, at most `causal_timeout`, else the primary) for the
session's own last write; with `global` for the newest write of any session. The three run
alternately (A B C A B C ...), medians compared against `off`. Writes BENCHMARKS-mysql-causal.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.drivers import sysbench as sysbench_driver
from bench.drivers.sysbench import queries_per_second
from fastlb.harness.mariadb import (
    PASSWORD,
    USER,
    Template,
    find_binaries,
    install_template,
)
from fastlb.harness.ports import free_port
from fastlb.harness.process import FastlbProcess, cpu_seconds
from fastlb.harness.replication import ReplicationPair

REPO = Path(__file__).resolve().parent.parent

MODES = ("off", "session", "global")
SCRIPT = REPO / "bench" / "lua" / "causal_mix.lua"
THREADS = 8
WORKERS = 2
TABLES, TABLE_SIZE = 4, 10_000
CAUSAL_TIMEOUT = 0.5


def start_fastlb(
    pair: ReplicationPair, mode: str, workdir: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config: dict[str, Any] = {
        "workers": WORKERS,
        "frontends": [
            {"name": "sql", "listen": f"127.0.0.1:{port}", "mode": "mysql", "backend": "db"}
        ],
        "backends": [
            {
                "name": "db",
                "servers": [
                    {"name": "primary", "address": pair.primary.address, "role": "primary"},
                    {"name": "replica", "address": pair.replica.address, "role": "replica"},
                ],
                "mysql": {
                    "users": [{"user": USER, "password": PASSWORD}],
                    "causal_reads": mode,
                    "causal_timeout": CAUSAL_TIMEOUT,
                },
            }
        ],
    }
    return FastlbProcess(config, workdir, name=f"fastlb-{mode}").start().popen, port


def sysbench(port: int, command: str, seconds: float) -> str:
    options = [
        f"--tables={TABLES}",
        f"--table-size={TABLE_SIZE}",
        f"--threads={THREADS}",
        "--point_selects=9",
        "--index_updates=1",
        "--db-ps-mode=auto",
    ]
    env = {**os.environ, "LUA_PATH": "/usr/share/sysbench/?.lua;;"}
    return sysbench_driver.run(str(SCRIPT), port, command, seconds, options, env=env)


def primary_selects(pair: ReplicationPair) -> int:
    """SELECTs the primary has run (its Com_select): reads that fell back to the primary.
    (The replica's own count would include fastlb's MASTER_GTID_WAIT calls.)"""
    rows = pair.primary.sql_rows("SHOW GLOBAL STATUS LIKE 'Com_select'")
    return int(rows[0]["Value"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mysql_causal", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per sysbench run")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS-mysql-causal.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-bench-causal-"))
    binaries = find_binaries()
    install_template(binaries, workdir / "template")
    pair = ReplicationPair(Template(binaries, workdir / "template"), workdir)
    proxies: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    qps: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    on_primary: dict[str, list[float]] = {mode: [] for mode in MODES}
    try:
        pair.start()
        pair.primary.sql("CREATE DATABASE sbtest")
        print(f"bench.mysql_causal: pair {pair.primary.address} -> {pair.replica.address}")
        sysbench(pair.primary.port, "prepare", 60)
        pair.wait_replicated(timeout=120)
        for mode in MODES:
            proxies[mode] = start_fastlb(pair, mode, workdir)
        for round_no in range(1, args.rounds + 1):
            for mode in MODES:
                proc, port = proxies[mode]
                cpu_before, selects_before = cpu_seconds(proc.pid), primary_selects(pair)
                rate = queries_per_second(sysbench(port, "run", args.duration))
                queries = rate * args.duration
                reads = queries * 0.9
                qps[mode].append(rate)
                cpu[mode].append((cpu_seconds(proc.pid) - cpu_before) / queries)
                on_primary[mode].append(min(1.0, (primary_selects(pair) - selects_before) / reads))
                print(
                    f"  round {round_no} causal_reads={mode:<8} {rate:>9,.0f} q/s,"
                    f" reads on the primary {on_primary[mode][-1]:.0%}",
                    flush=True,
                )
    finally:
        for proc, _ in proxies.values():
            proc.terminate()
            proc.wait(30)
        pair.close()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = summary(qps, cpu, on_primary, args)
    print("\n".join(lines))
    if not args.no_write:
        args.output.write_text("\n".join(lines) + "\n")
        print(f"\nwrote {args.output}")
    return 0


def summary(
    qps: dict[str, list[float]],
    cpu: dict[str, list[float]],
    on_primary: dict[str, list[float]],
    args: argparse.Namespace,
) -> list[str]:
    base = statistics.median(qps["off"])
    lines = [
        "# MySQL causal reads: what `session` and `global` cost",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; machine: {os.cpu_count()} cores"
        f" shared by sysbench, fastlb and both servers; {args.rounds} rounds x"
        f" {args.duration:g} s, modes alternated, medians",
        f"- a GTID-replicated MariaDB pair; sysbench 1.0 `bench/lua/causal_mix.lua`"
        f" `--threads={THREADS}`: per event 9 point selects + 1 indexed update, all autocommit"
        f" (10% writes); {TABLES} tables x {TABLE_SIZE:,} rows; `causal_timeout:"
        f" {CAUSAL_TIMEOUT:g}`",
        "- reads on the primary: the primary's Com_select growth / the reads sysbench sent"
        " (reads whose replica had not caught up within `causal_timeout`)",
        "",
        "| causal_reads | q/s | / off | reads on the primary | fastlb CPU per query |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        median = statistics.median(qps[mode])
        lines.append(
            f"| {mode} | {median:,.0f} | {median / base:.2f} |"
            f" {statistics.median(on_primary[mode]):.0%} |"
            f" {statistics.median(cpu[mode]) * 1e6:.1f} us |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
