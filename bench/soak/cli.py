"""`python -m bench.soak --duration 10m --output-dir DIR` (`make soak`): start the topology, run
the traffic, the operations and the sampler for the duration, judge, write the report.

Exit status: 0 pass, 1 fail (the report says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from bench.soak import report
from bench.soak.clients import Traffic
from bench.soak.operations import Operator, plan
from bench.soak.sampler import Sampler
from bench.soak.topology import SoakTopology
from bench.soak.verdict import Bounds, judge

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"
MIN_DURATION_S = 45.0


def duration_seconds(text: str) -> float:
    """`600`, `600s` or `10m`."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)?", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration (600, 600s, 10m): {text!r}")
    seconds = float(match[1]) * (60 if match[2] == "m" else 1)
    if seconds < MIN_DURATION_S:
        raise argparse.ArgumentTypeError(
            f"at least {MIN_DURATION_S:.0f} s: a warm-up and two windows to compare"
        )
    return seconds


def bounds_for(duration: float) -> Bounds:
    """Warm-up: a fifth of the run, 15 to 60 s. Windows of 10 samples, 5 in short runs (an
    upgrade halves the steady state of each process)."""
    return Bounds(warmup_s=min(60.0, max(15.0, duration / 5)), window=10 if duration >= 300 else 5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration", type=duration_seconds, default=600.0, help="600, 10m ...")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    duration: float = args.duration
    bounds = bounds_for(duration)

    timeline = plan(duration)
    with tempfile.TemporaryDirectory(prefix="fastlb-soak-") as tmp:
        print(f"soak: starting nginx x2, TCP echo x2, MariaDB primary + replica, fastlb in {tmp}")
        with SoakTopology(Path(tmp)) as topology:
            topology.start()
            started_at = time.monotonic()
            sampler = Sampler(lambda: topology.process.pid, topology.api_url, started_at)
            traffic = Traffic(topology.endpoints(), started_at)
            operator = Operator(topology, started_at)
            sampler.start()
            traffic.start()
            print(f"soak: {duration:.0f} s of traffic, {len(timeline)} operations planned")
            try:
                operator.run(timeline, until=duration)
            finally:
                traffic.stop()
                sampler.stop()
            logs = topology.logs()

    verdict = judge(sampler.samples, traffic.errors, operator.operations, traffic.served, bounds)
    run = report.SoakRun(
        duration_s=duration,
        bounds=bounds,
        samples=sampler.samples,
        operations=operator.operations,
        served=dict(traffic.served),
        keepalive_retries=traffic.keepalive_retries,
        verdict=verdict,
    )
    path = report.write(run, args.output_dir)
    print(f"soak: {'PASS' if verdict.passed else 'FAIL'}; report: {path}")
    print("soak: " + ", ".join(report.start_end(run.samples, bounds.warmup_s)))
    for failure in verdict.failures:
        print(f"soak: {failure}", file=sys.stderr)
    if not verdict.passed:
        print(logs, file=sys.stderr)
    return 0 if verdict.passed else 1
