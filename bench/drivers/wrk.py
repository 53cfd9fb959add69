"""Run wrk and parse what it prints into a `LoadResult`.

wrk's human-readable report is parsed (it is what people paste and what the fixture in
bench/fixtures holds); a tiny Lua `done()` hook adds one line with the exact totals, since
the report rounds bytes to three digits. The hook defines neither `request()` nor
`response()`, so wrk keeps its fast path.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.drivers.command import run_load_generator
from bench.result import LoadParseError, LoadResult

DONE_SCRIPT = """\
done = function(summary, latency, requests)
  io.write(string.format("fastlb-bench: requests=%d bytes=%d duration_us=%d\\n",
    summary.requests, summary.bytes, summary.duration))
end
"""

_BYTE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"

_TOTALS = re.compile(
    rf"^\s*(\d+) requests in {_NUMBER}(us|ms|s|m|h), {_NUMBER}([KMGT]?B) read", re.MULTILINE
)
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_RPS = re.compile(rf"^Requests/sec:\s+{_NUMBER}", re.MULTILINE)
_LATENCY = re.compile(rf"^\s*Latency\s+{_NUMBER}(us|ms|s|m|h)\s", re.MULTILINE)
_PERCENTILE = re.compile(rf"^\s*(50|75|90|99)%\s+{_NUMBER}(us|ms|s|m|h)\s*$", re.MULTILINE)
_EXACT = re.compile(r"^fastlb-bench: requests=(\d+) bytes=(\d+) duration_us=(\d+)", re.MULTILINE)


class WrkParseError(LoadParseError):
    """wrk's output lacked a line the benchmark needs (the message quotes the output)."""


def parse(output: str) -> LoadResult:
    """Parse wrk 4.x's report (with or without --latency and the done() line)."""
    totals = _TOTALS.search(output)
    rps = _RPS.search(output)
    if totals is None or rps is None:
        raise WrkParseError(f"not a complete wrk report:\n{output}")
    requests = int(totals.group(1))
    duration = float(totals.group(2)) * _TIME_UNITS[totals.group(3)]
    bytes_read = round(float(totals.group(4)) * _BYTE_UNITS[totals.group(5)])
    exact = _EXACT.search(output)
    if exact is not None:
        requests, bytes_read = int(exact.group(1)), int(exact.group(2))
        duration = int(exact.group(3)) / 1e6
    latency = _LATENCY.search(output)
    socket = _SOCKET_ERRORS.search(output)
    non_2xx = _NON_2XX.search(output)
    return LoadResult(
        requests=requests,
        duration_s=duration,
        bytes_read=bytes_read,
        requests_per_s=requests / duration if exact else float(rps.group(1)),
        latency_avg_s=float(latency.group(1)) * _TIME_UNITS[latency.group(2)] if latency else 0.0,
        latency_percentiles_s={
            int(m.group(1)): float(m.group(2)) * _TIME_UNITS[m.group(3)]
            for m in _PERCENTILE.finditer(output)
        },
        socket_errors=dict(
            zip(
                ("connect", "read", "write", "timeout"),
                (int(n) for n in socket.groups()) if socket else (0, 0, 0, 0),
                strict=True,
            )
        ),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def run(
    url: str,
    *,
    threads: int,
    connections: int,
    duration_s: float,
    headers: tuple[str, ...] = (),
    script_dir: Path,
) -> tuple[LoadResult, str]:
    """Run wrk once; return the parsed result and the raw output (kept for the record)."""
    script = script_dir / "done.lua"
    if not script.exists():
        script.write_text(DONE_SCRIPT)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--latency"]
    argv += ["-s", str(script)]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    output = run_load_generator(argv, duration_s, WrkParseError)
    return parse(output), output
