"""`python -m bench.mysql_failover`: how long writes stop when fastlb changes a MySQL primary.

Each run starts a fresh MariaDB primary and two GTID replicas with semi-synchronous
replication (fastlb.harness.replication_trio) behind `fastlb serve` with
`mysql.failover: {mode: auto}` and the monitor at a 500 ms interval, and keeps 4 client
threads inserting rows through fastlb (each write its own autocommit INSERT). Then:

1. **switchover** db1 -> db2 through the API: the write pause fastlb reports (writes held in
   the core's gate) and the longest gap between two acknowledged writes the clients saw;
2. **kill -9** of the primary (now db2): the outage is the time from the SIGKILL to the first
   write acknowledged afterwards (the clients reconnect as any client would);
3. **rows lost**: acknowledged writes missing from the promoted server (semi-sync: 0).

Medians over `--runs` (default 5). Reference (MaxScale and Orchestrator are not packaged
here): MaxScale's `mariadbmon` defaults detect a dead primary after monitor_interval 2 s x
failcount 5 = 10 s. Writes BENCHMARKS-mysql-failover.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fastlb.harness.mariadb import Template, find_binaries, install_template
from fastlb.harness.mysql_load import CREATE, TABLE, WriteLoad
from fastlb.harness.mysql_proxy import running_proxy
from fastlb.harness.ports import port_of
from fastlb.harness.replication_trio import SEMI_SYNC, ReplicationTrio, fastlb_config

REPO = Path(__file__).resolve().parent.parent

INTERVAL = "500ms"
# fastlb declares the primary dead after the monitor's failcount (1 failed probe) plus the
# failover's failcount (2 more rounds in which every replica lost it too).
MONITOR_FAILCOUNT, FAILOVER_FAILCOUNT = 1, 2
TARGET_OUTAGE, TARGET_PAUSE = 3.0, 1.0
# Bounds, not measurements: a run that takes longer failed.
SETTLE = 60.0


@dataclass
class Run:
    outage: float
    pause_reported: float
    longest_gap: float
    lost: int


def wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not settle")
        time.sleep(0.02)


def longest_gap(successes: list[float], start: float, end: float) -> float:
    times = sorted(at for at in successes if start <= at <= end)
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def one_run(template: Template, workdir: Path) -> Run:
    trio = ReplicationTrio(template, workdir / "trio", SEMI_SYNC)
    try:
        trio.start()
        trio["db1"].sql(CREATE)
        trio.wait_replicated("db1")
        config = fastlb_config(
            trio,
            "auto",
            interval=INTERVAL,
            failcount=FAILOVER_FAILCOUNT,
            monitor_failcount=MONITOR_FAILCOUNT,
        )
        (workdir / "fastlb").mkdir()
        with running_proxy(config, workdir / "fastlb") as proxy:
            port = port_of(config["frontends"][0]["listen"])
            with WriteLoad(port, trio.app_user, trio.app_password) as writes:
                wait_for(lambda: len(writes.acknowledged) > 200, SETTLE)
                before = time.monotonic()
                status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
                if status != 200:
                    raise RuntimeError(f"switchover refused: {reply}")
                count = len(writes.acknowledged)
                wait_for(lambda: len(writes.acknowledged) > count + 200, SETTLE)
                gap = longest_gap(writes.successes, before, time.monotonic())
                trio.wait_replicated("db2")
                killed = time.monotonic()
                trio.kill9("db2")
                wait_for(lambda: writes.first_success_after(killed), SETTLE)
                first = writes.first_success_after(killed)
                assert first is not None
                count = len(writes.acknowledged)
                wait_for(lambda: len(writes.acknowledged) > count + 50, SETTLE)
            wait_for(lambda: proxy.stats()["mysql_topology"]["db"]["primary"], SETTLE)
            primary = proxy.stats()["mysql_topology"]["db"]["primary"]
            output = trio[primary].sql(f"SELECT id FROM {TABLE}")
            present = {int(line) for line in output.split()}
            return Run(
                outage=first - killed,
                pause_reported=float(reply["write_pause_seconds"]),
                longest_gap=gap,
                lost=len(writes.acknowledged - present),
            )
    finally:
        trio.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mysql_failover", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS-mysql-failover.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="fastlb-bench-mysql-failover-"))
    runs: list[Run] = []
    try:
        template = Template(find_binaries(), root / "template")
        install_template(template.binaries, template.datadir)
        for number in range(1, args.runs + 1):
            workdir = root / f"run{number}"
            workdir.mkdir()
            run = one_run(template, workdir)
            runs.append(run)
            print(
                f"  run {number}: outage {run.outage:.2f}s, switchover pause "
                f"{run.pause_reported:.3f}s (longest client gap {run.longest_gap:.3f}s), "
                f"rows lost {run.lost}",
                flush=True,
            )
            shutil.rmtree(workdir, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = summary(runs)
    print("\n".join(lines))
    if not args.no_write:
        args.output.write_text("\n".join(lines) + "\n")
        print(f"\nwrote {args.output}")
    return 0


def summary(runs: list[Run]) -> list[str]:
    outage = statistics.median(r.outage for r in runs)
    pause = statistics.median(r.pause_reported for r in runs)
    gap = statistics.median(r.longest_gap for r in runs)
    lost = sum(r.lost for r in runs)
    return [
        "# MySQL primary failover and switchover: write outage through fastlb",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; machine: {os.cpu_count()} cores;"
        f" {len(runs)} runs, medians",
        f"- MariaDB primary + 2 GTID replicas, semi-sync (AFTER_SYNC); monitor interval"
        f" {INTERVAL}, monitor failcount {MONITOR_FAILCOUNT}, failover failcount"
        f" {FAILOVER_FAILCOUNT}; 4 client threads of autocommit INSERTs through fastlb",
        "- reference: MaxScale mariadbmon's documented defaults detect a dead primary after"
        " 2 s x 5 = 10 s (not packaged here, not run)",
        "",
        "| measure | median | target | runs |",
        "|---|---:|---|---|",
        f"| write outage, kill -9 of the primary to the first acknowledged write | {outage:.2f} s"
        f" | < {TARGET_OUTAGE:g} s | {', '.join(f'{r.outage:.2f}' for r in runs)} |",
        f"| switchover write pause (held in the gate) | {pause:.3f} s | < {TARGET_PAUSE:g} s |"
        f" {', '.join(f'{r.pause_reported:.3f}' for r in runs)} |",
        f"| switchover: longest gap between acknowledged writes | {gap:.3f} s | |"
        f" {', '.join(f'{r.longest_gap:.3f}' for r in runs)} |",
        f"| acknowledged rows lost (semi-sync) | {lost} in all | 0 |"
        f" {', '.join(str(r.lost) for r in runs)} |",
    ]


if __name__ == "__main__":
    sys.exit(main())
