"""The benchmark's wrk parser against reports captured from real wrk 4.1 runs.

Fixtures (bench/fixtures/) were recorded by `make bench`'s harness: HAProxy in front of the
benchmark's nginx backends (keep-alive, Connection: close, 16 MiB), nginx answering 404
(non-2xx), HAProxy whose only server refuses connections (socket read errors), and wrk
pointed at a closed port. Nothing here is timed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `bench` is a top-level folder of the repo, not installed
    sys.path.insert(0, str(REPO))

from bench import wrk  # noqa: E402
from bench.report import ScenarioResult, SideRuns, summary_lines  # noqa: E402
from bench.scenarios import BY_NAME  # noqa: E402

FIXTURES = REPO / "bench" / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_keepalive_report_uses_the_exact_totals_line() -> None:
    result = wrk.parse(fixture("wrk_keepalive.txt"))
    assert result.requests == 102040
    assert result.bytes_read == 24999800
    assert result.duration_s == pytest.approx(3.012020)
    assert result.requests_per_s == pytest.approx(102040 / 3.012020)
    assert result.latency_avg_s == pytest.approx(1.85e-3)
    assert result.latency_percentiles_s == pytest.approx(
        {50: 1.74e-3, 75: 2.14e-3, 90: 2.62e-3, 99: 5.34e-3}
    )
    assert result.errors == 0


def test_report_without_the_done_line_falls_back_to_wrk_rounding() -> None:
    text = "\n".join(
        line
        for line in fixture("wrk_keepalive.txt").splitlines()
        if not line.startswith("fastlb-bench:")
    )
    result = wrk.parse(text)
    assert result.requests == 102040
    assert result.duration_s == pytest.approx(3.01)
    assert result.bytes_read == round(23.84 * 1024**2)  # wrk's units are binary
    assert result.requests_per_s == pytest.approx(33877.60)


def test_bulk_report_bytes_per_second() -> None:
    result = wrk.parse(fixture("wrk_bulk.txt"))
    assert result.requests == 99
    assert result.bytes_read == 1691856043
    assert result.bytes_per_s == pytest.approx(1691856043 / 3.036360)
    assert result.latency_percentiles_s[99] == pytest.approx(0.204)


def test_connection_close_report() -> None:
    result = wrk.parse(fixture("wrk_close.txt"))
    assert result.requests == 12751
    assert result.latency_percentiles_s[50] == pytest.approx(14.14e-3)
    assert result.errors == 0


def test_non_2xx_responses_count_as_errors() -> None:
    result = wrk.parse(fixture("wrk_non2xx.txt"))
    assert result.non_2xx == 20619
    assert result.errors == 20619
    assert result.latency_percentiles_s[75] == pytest.approx(462e-6)


def test_socket_errors_are_counted() -> None:
    result = wrk.parse(fixture("wrk_socket_errors.txt"))
    assert result.requests == 0
    assert result.socket_errors == {"connect": 0, "read": 14, "write": 0, "timeout": 0}
    assert result.errors == 14


def test_a_refused_run_is_not_a_report() -> None:
    with pytest.raises(wrk.WrkParseError, match="unable to connect"):
        wrk.parse(fixture("wrk_connect_refused.txt"))


def test_a_run_with_errors_is_flagged_whatever_its_ratio() -> None:
    fast = wrk.parse(fixture("wrk_keepalive.txt"))
    failing = wrk.parse(fixture("wrk_non2xx.txt"))
    clean = ScenarioResult(BY_NAME["keepalive"], SideRuns("a", [fast]), SideRuns("b", [fast]))
    flagged = ScenarioResult(BY_NAME["keepalive"], SideRuns("a", [failing]), SideRuns("b", [fast]))
    assert clean.verdict == "miss"  # ratio 1.00 < 1.10
    assert flagged.verdict == "errors"
    assert "ERRORS" in summary_lines([flagged])[0]
