"""The load-test harness's parts that don't need a load test: reading Locust's output, CPU from
/proc, medians, ratios, the bottleneck verdict, and the report and charts it writes.

Fixtures (bench/locust/fixtures/) were recorded from real Locust 2.47 runs of
`bench/locust/locustfile.py` (`KeepAliveBrowser`, 4 users, `--processes 2`, 3 s) through HAProxy
in front of the benchmark's nginx backends: a clean run, one told to expect 65-byte pages
(every response fails the size check), and one against a closed port (connection refused).
The whole harness runs for real in `make loadtest-ci` (CI). Nothing here is timed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `bench` is a top-level folder, not installed
    sys.path.insert(0, str(REPO))

from bench import procstat  # noqa: E402
from bench.drivers import locust as locust_driver  # noqa: E402
from bench.locust import mysql_workload, report, runner  # noqa: E402
from bench.locust.results_model import (  # noqa: E402
    RunRecord,
    problems,
    records_from_json,
    summarize,
)
from bench.locust.scenarios import BY_NAME  # noqa: E402

FIXTURES = REPO / "bench" / "locust" / "fixtures"


def stats(name: str) -> locust_driver.LocustStats:
    return locust_driver.parse_stats(json.loads((FIXTURES / f"locust-{name}.json").read_text()))


def locust_csv_row(name: str) -> dict[str, str]:
    with (FIXTURES / f"locust-{name}_stats.csv").open(newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")


# ---------------------------------------------------------------- Locust's output


@pytest.mark.parametrize("name", ["keepalive", "wrong-size", "refused"])
def test_stats_agree_with_locusts_own_csv(name: str) -> None:
    parsed = stats(name)
    row = locust_csv_row(name)
    assert parsed.requests == int(row["Request Count"])
    assert parsed.failures == int(row["Failure Count"])
    for column, fraction in (("50%", 0.50), ("95%", 0.95), ("99%", 0.99), ("99.9%", 0.999)):
        assert parsed.percentile_ms(fraction) == float(row[column]), column
    # Locust's CSV is rewritten every second, its JSON at exit: the rates differ by the last
    # few requests only.
    assert parsed.requests_per_s == pytest.approx(float(row["Requests/s"]), rel=0.02)


def test_byte_rate_is_the_content_over_the_measured_time() -> None:
    parsed = stats("keepalive")
    assert parsed.content_bytes == 64 * parsed.requests
    assert parsed.bytes_per_s == pytest.approx(64 * parsed.requests_per_s)
    assert 2 < parsed.duration_s < 4  # a 3 s run, stats reset once the users were spawned


def test_percentiles_of_a_small_histogram() -> None:
    few = locust_driver.LocustStats(10, 0, 1.0, 0, {1.0: 5, 2.0: 4, 230.0: 1})
    assert [few.percentile_ms(p) for p in (0.5, 0.9, 0.95, 1.0)] == [1.0, 2.0, 230.0, 230.0]
    assert locust_driver.LocustStats(0, 0, 0.0, 0, {}).percentile_ms(0.5) == 0.0


def test_a_locust_run_becomes_the_same_result_as_a_wrk_run() -> None:
    parsed = stats("wrong-size")
    result = parsed.as_load_result()
    assert (result.requests, result.bytes_read) == (parsed.requests, parsed.content_bytes)
    assert result.failed_requests == parsed.failures > 0
    assert result.errors == parsed.failures  # what the A/B report counts as client errors
    assert result.latency_percentiles_s[99] == parsed.percentile_ms(0.99) / 1e3
    record = RunRecord("keepalive", "fastlb", 1)
    record.record(result)
    assert (record.failures, record.p99_ms) == (parsed.failures, parsed.percentile_ms(0.99))
    assert record.bytes_per_s == pytest.approx(parsed.bytes_per_s)


def test_an_empty_json_is_an_error_not_zero_requests() -> None:
    with pytest.raises(locust_driver.LocustOutputError):
        locust_driver.parse_stats([])


def test_failures_name_the_error() -> None:
    assert locust_driver.read_failures(FIXTURES / "locust-keepalive") == []
    (wrong,) = locust_driver.read_failures(FIXTURES / "locust-wrong-size")
    assert wrong.startswith("6027 x ") and "body of 64 bytes, expected 65" in wrong
    (refused,) = locust_driver.read_failures(FIXTURES / "locust-refused")
    assert "ConnectionRefusedError" in refused and "(GET small page)" in refused


def test_current_rate_is_the_last_history_line(tmp_path: Path) -> None:
    history = FIXTURES / "locust-keepalive_stats_history.csv"
    assert locust_driver.current_rate(history) == 1701.0
    assert locust_driver.current_rate(tmp_path / "missing.csv") is None
    header_only = tmp_path / "header.csv"
    header_only.write_text(history.read_text().splitlines()[0] + "\n")
    assert locust_driver.current_rate(header_only) is None


def test_locust_command_runs_the_scenarios_class_headless_in_processes(tmp_path: Path) -> None:
    command = locust_driver.locust_command(
        BY_NAME["download"], "http://127.0.0.1:1", 7, 2, tmp_path / "x", {"big-bytes": 5}
    )
    assert command[-1] == "LargeDownloader"
    joined = " ".join(command)
    for part in ("--headless", "--processes 2", "--run-time 7s", "--users 4", "--big-bytes 5"):
        assert part in joined
    assert "--reset-stats" in command and "--json-file" in command


def test_the_mysql_url_says_where_writes_and_reads_go() -> None:
    split_by_ports = mysql_workload.parse_url(
        mysql_workload.mysql_url("127.0.0.1:7001", "app", "p@ss:w/rd", "shop", "127.0.0.1:7002")
    )
    assert split_by_ports.writer == mysql_workload.Endpoint("127.0.0.1", 7001)
    assert split_by_ports.reader == mysql_workload.Endpoint("127.0.0.1", 7002)
    assert (split_by_ports.user, split_by_ports.database) == ("app", "shop")
    one_port = mysql_workload.parse_url("mysql://app:pw@127.0.0.1:7000/shop")
    assert one_port.reader == one_port.writer  # the load balancer splits
    assert one_port.password == "pw"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1", "mysql://127.0.0.1/shop", "mysql://127.0.0.1:1/", "mysql://:1/db"],
)
def test_bad_mysql_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        mysql_workload.parse_url(url)


def test_every_scenario_hits_a_frontend_the_runner_starts() -> None:
    assert {s.frontend for s in BY_NAME.values()} == {"web", "mysql"}
    assert BY_NAME["mysql"].user_class == "MySQLUser"


def test_locust_can_import_the_repo_from_its_own_sys_path() -> None:
    path = locust_driver.locust_environment()["PYTHONPATH"].split(os.pathsep)
    assert path[0] == str(REPO)


# ---------------------------------------------------------------- CPU from /proc


def test_cpu_of_a_process_tree_counts_its_children() -> None:
    burner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass",
        ]
    )
    try:
        sampler = procstat.CpuSampler({"us": [os.getpid()]})
        first = sampler.sample()
        time.sleep(1.0)
        last = sampler.sample()
        assert burner.pid in last.groups["us"]
        use = procstat.cpu_between(first, last)
        # The child spins on a core, less whatever the shared machine takes from it (with a
        # load of 8 on 2 cores, a quarter of one); without it the tree would be near 0.
        assert 0.1 < use.cores["us"] <= (os.cpu_count() or 1) + 0.1
        assert use.busiest_process["us"] > 0.1
        assert use.machine_cores >= use.cores["us"] * 0.9
    finally:
        burner.kill()
        burner.wait()
    assert procstat.process_cpu_seconds(burner.pid) is None


def sample(t: float, locust: dict[int, float], machine: float) -> procstat.Sample:
    return procstat.Sample(t, {"locust": locust, "lb": {9: t * 0.1}}, machine)


def test_the_steady_window_is_while_every_locust_process_runs() -> None:
    master_only = [sample(t, {1: 0.1 * t}, t) for t in range(3)]
    with_workers = [sample(t, {1: 0.1 * t, 2: 0.9 * t, 3: 0.8 * t}, t) for t in range(3, 9)]
    one_worker_quit = [sample(t, {1: 0.1 * t, 2: 0.9 * t}, t) for t in range(9, 11)]
    window = locust_driver.steady_window(master_only + with_workers + one_worker_quit)
    assert window is not None
    first, last = window
    assert first is with_workers[locust_driver.SETTLING_SAMPLES] and last is with_workers[-1]
    use = procstat.cpu_between(first, last)
    assert use.cores["locust"] == pytest.approx(1.8)
    assert use.busiest_process["locust"] == pytest.approx(0.9)
    assert use.other_cores() == pytest.approx(0.0)  # machine 1.0 < locust + lb: clamped
    assert locust_driver.steady_window(master_only) is None


# ---------------------------------------------------------------- medians, ratios, verdicts


def record(target: str, round_no: int, rps: float, **cpu: float) -> RunRecord:
    return RunRecord(
        "keepalive",
        target,
        round_no,
        requests=int(rps * 10),
        duration_s=10.0,
        requests_per_s=rps,
        p50_ms=10.0 if target == "fastlb" else 20.0,
        p95_ms=30.0,
        p99_ms=60.0,
        **cpu,  # type: ignore[arg-type]
    )


def locust_bound(target: str, round_no: int, rps: float) -> RunRecord:
    return record(
        target,
        round_no,
        rps,
        lb_cores=0.2,
        locust_cores=1.5,
        locust_busiest_process_cores=0.75,
        backends_cores=0.1,
        machine_cores=1.95,
        other_cores=0.15,
    )


def test_ratio_of_medians_and_per_round_ratios() -> None:
    records = [
        locust_bound("fastlb", 1, 1000),
        locust_bound("haproxy", 1, 800),
        locust_bound("fastlb", 2, 3000),  # an outlier the median ignores
        locust_bound("haproxy", 2, 1000),
        locust_bound("fastlb", 3, 1100),
        locust_bound("haproxy", 3, 1000),
    ]
    (summary,) = summarize([BY_NAME["keepalive"]], records, cores=2, lb_threads=2)
    assert summary.candidate.throughput == 1100
    assert summary.baseline.throughput == 1000
    assert summary.throughput_ratio == pytest.approx(1.1)
    assert summary.latency_ratio("p50_ms") == pytest.approx(0.5)
    assert summary.round_ratios == pytest.approx([1.25, 3.0, 1.1])
    assert summary.median_round_ratio == pytest.approx(1.25)


def test_a_saturated_machine_mostly_running_locust_is_limited_by_locust() -> None:
    records = [locust_bound(t, 1, 1000) for t in ("fastlb", "haproxy")]
    (summary,) = summarize([BY_NAME["keepalive"]], records, cores=2, lb_threads=2)
    who, evidence = summary.bottleneck()
    assert who == "Locust"
    assert "Locust 1,500 us/req, load balancer 200 us/req" in evidence


def test_the_mysql_scenarios_backends_are_the_mariadb_servers() -> None:
    records = [locust_bound(t, 1, 1000) for t in ("fastlb", "haproxy")]
    for r in records:
        r.scenario = "mysql"
    (summary,) = summarize([BY_NAME["mysql"]], records, cores=2, lb_threads=2)
    assert "mariadbd 0.10" in summary.bottleneck()[1]


def test_a_load_balancer_needing_more_cpu_than_locust_is_the_bottleneck() -> None:
    records = [
        record(t, 1, 1000, lb_cores=1.9, locust_cores=0.1, locust_busiest_process_cores=0.05,
               backends_cores=0.0, machine_cores=2.0, other_cores=0.0)
        for t in ("fastlb", "haproxy")
    ]  # fmt: skip
    (summary,) = summarize([BY_NAME["keepalive"]], records, cores=2, lb_threads=2)
    assert summary.bottleneck()[0] == "load balancer"


def test_nothing_saturated_and_other_work_are_said() -> None:
    idle = [
        record(t, 1, 1000, lb_cores=0.1, locust_cores=0.3, locust_busiest_process_cores=0.15,
               backends_cores=0.0, machine_cores=0.5, other_cores=0.1)
        for t in ("fastlb", "haproxy")
    ]  # fmt: skip
    (summary,) = summarize([BY_NAME["keepalive"]], idle, cores=2, lb_threads=2)
    assert summary.bottleneck()[0] == "none saturated"
    shared = [
        record(t, 1, 1000, lb_cores=0.1, locust_cores=0.5, locust_busiest_process_cores=0.25,
               backends_cores=0.0, machine_cores=2.0, other_cores=1.4)
        for t in ("fastlb", "haproxy")
    ]  # fmt: skip
    (summary,) = summarize([BY_NAME["keepalive"]], shared, cores=2, lb_threads=2)
    assert summary.bottleneck()[0] == "Locust (CPU shared with other work)"


def test_failed_requests_and_broken_runs_are_problems() -> None:
    ok = locust_bound("fastlb", 1, 1000)
    failed = locust_bound("haproxy", 1, 1000)
    failed.failures = 3
    failed.failure_lines = ["3 x ConnectionResetError (GET small page)"]
    broken = RunRecord("keepalive", "fastlb", 2, problem="Locust wrote no x.json (exit code 2)")
    found = problems([ok, failed, broken])
    assert found == [
        "keepalive round 1 haproxy: 3 failed requests: 3 x ConnectionResetError (GET small page)",
        "keepalive round 2 fastlb: Locust wrote no x.json (exit code 2)",
    ]


# ---------------------------------------------------------------- the written report


def test_report_files_render_and_round_trip(tmp_path: Path) -> None:
    records = [locust_bound(t, r, 1000 + r) for r in (1, 2) for t in ("fastlb", "haproxy")]
    meta = {"command": "python -m bench.locust --rounds 2", "machine": "2 cores"}
    missing = runner.write_outputs(tmp_path, [BY_NAME["keepalive"]], records, meta)
    assert missing == []
    for name in ("throughput.png", "latency.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    document = json.loads((tmp_path / "report.json").read_text())
    keepalive = document["scenarios"]["keepalive"]
    assert keepalive["ratios"]["requests_per_s"] == pytest.approx(1.0)
    assert keepalive["targets"]["fastlb"]["failures"] == 0
    assert keepalive["targets"]["haproxy"]["median"]["p50_ms"] == 20.0
    assert keepalive["bottleneck"]["limited_by"] == "Locust"
    assert document["problems"] == []
    order = lambda r: (r.scenario, r.round, r.target)  # noqa: E731
    assert sorted(records_from_json(document), key=order) == sorted(records, key=order)
    text = (tmp_path / "report.md").read_text()
    row = "| keep-alive browsing, 64 B pages | 64 | 1,002 req/s | 1,002 req/s | **1.00** | 1.00 "
    assert row in text
    assert "![throughput](throughput.png)" in text
    assert "## Problems" in text and "pending" not in text


def test_render_rewrites_the_report_from_its_json(tmp_path: Path) -> None:
    records = [locust_bound(t, 1, 1000) for t in ("fastlb", "haproxy")]
    runner.write_outputs(tmp_path, [BY_NAME["keepalive"]], records, {"machine": "2 cores"})
    (tmp_path / "report.md").unlink()
    assert runner.main(["--render", str(tmp_path / "report.json")]) == 0
    assert "## Who was the bottleneck" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("10", 10), ("2m", 120), ("1m30s", 90)])
def test_durations(text: str, seconds: int) -> None:
    assert runner.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "fast", "1h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="duration"):
        runner.parse_duration(text)


def test_formatting() -> None:
    assert report.format_rate(2_345.6, "requests_per_s") == "2,346 req/s"
    assert report.format_rate(150 * 2**20, "bytes_per_s") == "150 MiB/s"
    assert report.format_ms(0.4) == "0.4" and report.format_ms(120.0) == "120"
