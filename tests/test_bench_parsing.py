"""The benchmark's wrk and h2load parsers against reports captured from real runs, and the
report's choices (best thread count, unavailable sides, p99 target).

Fixtures (bench/fixtures/) were recorded by `make bench`'s harness: wrk 4.1 through HAProxy in
front of the benchmark's nginx backends (keep-alive, Connection: close, 16 MiB), nginx answering
404 (non-2xx), HAProxy whose only server refuses connections (socket read errors), and wrk
pointed at a closed port; h2load 1.52 (nghttp2-client) against HAProxy's `mode http` TLS bind
with ALPN h2 (`h2load_ok`, and `/nope` for `h2load_4xx`), against its TLS `mode tcp` bind,
which offers no ALPN (`h2load_http11_fallback`: h2load silently speaks HTTP/1.1), against a
closed port (`h2load_refused`) and, as h2c, against a TCP relay to nginx, which reads the h2
preface as a bad HTTP/1 request and closes (`h2load_closed`). Nothing here is timed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `bench` is a top-level folder of the repo, not installed
    sys.path.insert(0, str(REPO))

from bench import configs  # noqa: E402
from bench.certs import write_certificate  # noqa: E402
from bench.drivers import h2load, wrk  # noqa: E402
from bench.report import ScenarioResult, SideRuns, markdown, summary_lines  # noqa: E402
from bench.result import LoadResult  # noqa: E402
from bench.runner import thread_counts  # noqa: E402
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
    clean = ScenarioResult(
        BY_NAME["keepalive"], [SideRuns("a", [fast], [1.0])], [SideRuns("b", [fast], [1.0])]
    )
    flagged = ScenarioResult(
        BY_NAME["keepalive"], [SideRuns("a", [failing], [1.0])], [SideRuns("b", [fast], [1.0])]
    )
    assert clean.verdict == "miss"  # ratio 1.00 < 1.10
    assert flagged.verdict == "errors"
    assert "ERRORS" in summary_lines([flagged])[0]


# ------------------------------------------------------------------------------ h2load


def test_h2load_report() -> None:
    result = h2load.parse(fixture("h2load_ok.txt"))
    assert result.requests == 188949
    # The printed rate (done / the 3 s measurement period) is kept; the duration follows.
    assert result.requests_per_s == pytest.approx(62983.00)
    assert result.duration_s == pytest.approx(188949 / 62983.00)
    assert result.bytes_read == 33255144
    assert result.latency_avg_s == pytest.approx(6.27e-3)  # "time for request" mean
    assert result.latency_percentiles_s == {}  # h2load prints none
    assert result.protocols == {"h2"}
    assert result.errors == 0
    assert h2load.require_h2(result, "https://x/") is result


def test_h2load_4xx_responses_are_errors() -> None:
    result = h2load.parse(fixture("h2load_4xx.txt"))
    assert result.requests == 122711  # answered, whatever the status
    assert result.non_2xx == 122711
    assert result.socket_errors == {"errored": 0, "timeout": 0, "other": 0}
    assert result.errors == 122711
    assert result.latency_avg_s == pytest.approx(6.43e-3)


def test_h2load_falling_back_to_http11_is_refused() -> None:
    result = h2load.parse(fixture("h2load_http11_fallback.txt"))
    assert result.protocols == {"http/1.1"}
    assert result.requests_per_s == pytest.approx(355029.50)  # pipelined HTTP/1.1: not h2
    with pytest.raises(h2load.NotHttp2Error, match=r"negotiated http/1\.1, not h2"):
        h2load.require_h2(result, "https://127.0.0.1:1/")


def test_h2load_with_nothing_negotiated_is_refused() -> None:
    text = fixture("h2load_ok.txt").replace("Application protocol: h2\n", "")
    with pytest.raises(h2load.NotHttp2Error, match="negotiated nothing"):
        h2load.require_h2(h2load.parse(text), "https://127.0.0.1:1/")


def test_h2load_refused_connections_are_no_report() -> None:
    # h2load exits 0 here, with "0 total ... 0 done": a rate of 0 is not a measurement.
    with pytest.raises(h2load.H2loadParseError, match="no connection"):
        h2load.parse(fixture("h2load_refused.txt"))


def test_h2load_server_that_closes_is_no_report() -> None:
    with pytest.raises(h2load.H2loadParseError, match="400 requests started, none answered"):
        h2load.parse(fixture("h2load_closed.txt"))


@pytest.mark.parametrize("cut", ["finished in", "requests:", "status codes:", "traffic:"])
def test_h2load_truncated_report_is_no_report(cut: str) -> None:
    text = "\n".join(
        line for line in fixture("h2load_ok.txt").splitlines() if not line.startswith(cut)
    )
    with pytest.raises(h2load.H2loadParseError, match="not a complete h2load report"):
        h2load.parse(text)


def test_h2load_duration_units() -> None:
    text = fixture("h2load_ok.txt").replace(
        "finished in 3.01s, 62983.00 req/s", "finished in 900ms, 0.00 req/s"
    )
    text = text.replace("      6.27ms      2.58ms", "       627us      2.58ms")
    result = h2load.parse(text)
    assert result.duration_s == pytest.approx(0.9)  # no rate: the printed duration
    assert result.latency_avg_s == pytest.approx(627e-6)


# ------------------------------------------------------------------------------ report


def _runs(rate: float, p99: float | None = None, count: int = 3) -> list[LoadResult]:
    percentiles = {99: p99} if p99 is not None else {}
    return [
        LoadResult(
            requests=int(rate * 10),
            duration_s=10.0,
            bytes_read=int(rate * 640),
            requests_per_s=rate,
            latency_avg_s=0.002,
            latency_percentiles_s=percentiles,
            socket_errors={},
            non_2xx=0,
        )
        for _ in range(count)
    ]


def _side(label: str, threads: int, rate: float, p99: float | None = None) -> SideRuns:
    runs = _runs(rate, p99)
    # 5 us of CPU per request.
    return SideRuns(label, runs, [r.requests * 5e-6 for r in runs], threads=threads)


def test_headline_compares_each_sides_best_thread_count() -> None:
    result = ScenarioResult(
        BY_NAME["http-keepalive"],
        [_side("fastlb", 1, 50_000, 0.004), _side("fastlb", 2, 70_000, 0.003)],
        # HAProxy's best is 1 thread here (two cores shared with clients and servers).
        [_side("haproxy", 1, 58_900, 0.005), _side("haproxy", 2, 51_000, 0.006)],
    )
    assert result.candidate is not None and result.candidate.threads == 2
    assert result.baseline is not None and result.baseline.threads == 1
    assert result.ratio == pytest.approx(70_000 / 58_900)
    assert result.verdict == "pass"
    assert result.p99_met is True
    line = summary_lines([result])[0]
    assert "fastlb @2t" in line and "haproxy @1t" in line and "5.0 us/req" in line
    text = markdown([result], {"command": "python -m bench"}, 2, 5.0)
    assert "70,000 req/s (2t)" in text and "58,900 req/s (1t)" in text
    # Every setting is kept in the per-thread table.
    assert "| http-keepalive | 2 | 70,000 req/s | 51,000 req/s | 1.37 |" in text


def test_server_connections_per_thousand_requests() -> None:
    pooled, unpooled = _side("fastlb", 1, 30_000), _side("haproxy", 1, 20_000)
    pooled.server_connections = [60, 90, 30]  # 300,000 requests per run
    unpooled.server_connections = [200_000] * 3
    assert pooled.server_connections_per_1k() == pytest.approx(0.2)
    assert unpooled.server_connections_per_1k() == pytest.approx(1000.0)
    result = ScenarioResult(BY_NAME["http-close"], [pooled], [unpooled])
    text = markdown([result], {"command": "python -m bench"}, 2, 5.0)
    assert "| 0.2 / 1,000.0 |" in text
    assert SideRuns("fastlb", threads=1).server_connections_per_1k() is None


def test_p99_above_the_baselines_misses_even_with_the_ratio() -> None:
    result = ScenarioResult(
        BY_NAME["http-keepalive"],
        [_side("fastlb", 1, 80_000, 0.009)],
        [_side("haproxy", 1, 60_000, 0.005)],
    )
    assert result.ratio == pytest.approx(80_000 / 60_000)
    assert result.p99_met is False
    assert result.verdict == "miss (p99)"


def test_unavailable_candidate_is_reported_not_measured() -> None:
    why = "h2 not built: ALPN offered h2, http/1.1; the frontend chose http/1.1"
    result = ScenarioResult(
        BY_NAME["h2"],
        [SideRuns("fastlb", threads=1, unavailable=why)],
        [_side("haproxy", 1, 60_000)],
    )
    assert result.candidate is None
    assert result.ratio is None
    assert result.verdict == "n/a"
    assert result.unavailable() == [f"fastlb: not available ({why})"]
    lines = summary_lines([result])
    assert "not available" in lines[0] and "N/A" in lines[0]
    assert lines[1].strip() == f"fastlb: not available ({why})"
    text = markdown([result], {"command": "python -m bench"}, 2, 5.0)
    assert f"- h2: fastlb: not available ({why})" in text
    assert "| h2 | 1 | 1 | - | 60,000 req/s | n/a |" in text  # the baseline's rounds kept
    assert "mean 2.00 ms" in text  # h2load: the mean, labelled, for want of a p99


def test_a_failed_run_flags_the_scenario() -> None:
    side = _side("fastlb", 1, 70_000)
    side.failures.append("wrk exited with 1")
    result = ScenarioResult(BY_NAME["http-close"], [side], [_side("haproxy", 1, 50_000)])
    assert result.errors == 1
    assert result.verdict == "errors"


# ------------------------------------------------------------------------------ configs


SERVERS = [configs.Server("web-01", 20001, 3), configs.Server("web-02", 20002, 1)]


@pytest.mark.parametrize("threads", [1, 2])
def test_haproxy_http_config_is_valid_and_has_the_features(tmp_path: Path, threads: int) -> None:
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if haproxy is None:
        pytest.skip("haproxy is not installed (make system-deps)")
    crt = write_certificate(tmp_path).combined
    ports = configs.Ports(tcp=21001, tls=21002, http=21003, https=21004, http_close=21005)
    text = configs.haproxy_cfg(ports, SERVERS, crt=str(crt), threads=threads)
    assert f"nbthread {threads}\n" in text
    http_part = text[text.index("defaults http") :]
    for line in ("mode http", "option forwardfor", "option http-keep-alive", "http-reuse safe"):
        assert f"    {line}\n" in http_part
    assert "splice" not in http_part  # HTTP sections inherit no splice option
    assert f"bind 127.0.0.1:21004 ssl crt {crt} alpn h2,http/1.1" in text
    close_part = text[text.index("listen web-http-close") :]
    assert "http-reuse always" in close_part
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    proc = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fastlb_http_config_follows_the_contract() -> None:
    ports = configs.Ports(tcp=21001, tls=21002, http=21003, https=21004, http_close=21003)
    config = yaml.safe_load(configs.fastlb_yaml(ports, 21009, SERVERS, "auto", "c", "k", 1))
    assert config["workers"] == 1
    frontends = {f["name"]: f for f in config["frontends"]}
    assert set(frontends) == {"web", "web-tls", "web-http", "web-https"}
    for name in ("web-http", "web-https"):
        assert frontends[name]["mode"] == "http"
        assert frontends[name]["backend"] == "web-http"
        forwarded = frontends[name]["http"]["forwarded"]
        assert forwarded == {"x_forwarded_for": True, "x_forwarded_proto": False}
    assert frontends["web-https"]["tls"]["alpn"] == ["h2", "http/1.1"]
    backend = {b["name"]: b for b in config["backends"]}["web-http"]
    assert backend["http"]["server_reuse"] is True
    assert [s["weight"] for s in backend["servers"]] == [3, 1]
    tcp_only = yaml.safe_load(configs.fastlb_yaml(configs.Ports(21001), 21009, SERVERS, "auto"))
    assert [f["name"] for f in tcp_only["frontends"]] == ["web"]
    assert [b["name"] for b in tcp_only["backends"]] == ["web"]


@pytest.mark.parametrize(
    ("text", "counts"), [("1,2", [1, 2]), ("2", [2]), ("2,1", [2, 1]), (" 1, 4 ", [1, 4])]
)
def test_thread_counts(text: str, counts: list[int]) -> None:
    assert thread_counts(text) == counts


@pytest.mark.parametrize("text", ["", "0", "1,1", "a", "-1"])
def test_bad_thread_counts(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        thread_counts(text)
