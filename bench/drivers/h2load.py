"""Run h2load (nghttp2's HTTP/2 load generator) and parse its report into a `LoadResult`.

h2load's report is parsed line by line, each line found by its label, so the progress lines
around it (which vary with threads and version) don't matter. Two things h2load does not treat
as failures are caught here, since a number from them would be a wrong number:

- a server without ALPN h2: h2load silently falls back to HTTP/1.1 (and pipelines `-m`
  requests per connection); the negotiated protocols are kept in `LoadResult.protocols` and
  `run` refuses anything but `h2`;
- nothing answered (refused connections, or a server that accepts and closes): h2load exits 0
  with `0 done`; `parse` raises.

h2load prints no latency percentiles (only min/max/mean/sd), so `latency_percentiles_s` is
empty and the report shows the mean.
"""

from __future__ import annotations

import re

from bench.drivers.command import run_load_generator
from bench.result import LoadParseError, LoadResult

_TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_DURATION = rf"{_NUMBER}(ns|us|ms|s|m|h)"

_FINISHED = re.compile(rf"^finished in {_DURATION}, {_NUMBER} req/s", re.MULTILINE)
_REQUESTS = re.compile(
    r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed,"
    r" (\d+) errored, (\d+) timeout",
    re.MULTILINE,
)
_STATUS = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.MULTILINE)
_TRAFFIC = re.compile(r"^traffic: \S+ \((\d+)\) total", re.MULTILINE)
# "time for request:  min  max  mean  sd  +/- sd"
_REQUEST_TIME = re.compile(
    rf"^time for request:\s+{_DURATION}\s+{_DURATION}\s+{_DURATION}\s", re.MULTILINE
)
_PROTOCOL = re.compile(r"^Application protocol: (\S+)", re.MULTILINE)


class H2loadParseError(LoadParseError):
    """h2load's output was not a usable report (the message says why and quotes it)."""


class NotHttp2Error(H2loadParseError):
    """The server did not negotiate h2: h2load measured HTTP/1.1 instead."""


def _seconds(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS[unit]


def parse(output: str) -> LoadResult:
    """Parse h2load 1.x's report (timing-based `-D` or count-based `-n`)."""
    finished = _FINISHED.search(output)
    requests = _REQUESTS.search(output)
    status = _STATUS.search(output)
    traffic = _TRAFFIC.search(output)
    if finished is None or requests is None or status is None or traffic is None:
        raise H2loadParseError(f"not a complete h2load report:\n{output}")
    _total, started, done, _succeeded, failed, errored, timeout = map(int, requests.groups())
    if done == 0:
        why = "no connection" if started == 0 else f"{started} requests started, none answered"
        raise H2loadParseError(f"h2load: no request completed ({why}):\n{output}")
    duration = _seconds(finished.group(1), finished.group(2))
    # h2load's req/s is `done` (answered, whatever the status) / the measurement period,
    # printed with two decimals; "finished in" is rounded to 10 ms: the rate is the more exact.
    rate = float(finished.group(3))
    if rate > 0:
        duration = done / rate
    latency = _REQUEST_TIME.search(output)
    non_2xx = int(status.group(3)) + int(status.group(4))
    # "failed" counts every request without a 2xx/3xx, "errored" those without a status at
    # all (reset streams, dropped connections); what failed beyond 4xx/5xx is an I/O error.
    return LoadResult(
        requests=done,
        duration_s=duration,
        bytes_read=int(traffic.group(1)),
        requests_per_s=rate,
        latency_avg_s=_seconds(latency.group(5), latency.group(6)) if latency else 0.0,
        latency_percentiles_s={},
        socket_errors={
            "errored": errored,
            "timeout": timeout,
            "other": max(failed - non_2xx - errored - timeout, 0),
        },
        non_2xx=non_2xx,
        protocols=frozenset(_PROTOCOL.findall(output)),
    )


def run(
    url: str,
    *,
    threads: int,
    connections: int,
    streams: int,
    duration_s: float,
    headers: tuple[str, ...] = (),
) -> tuple[LoadResult, str]:
    """Run h2load once for `duration_s`; the parsed result and the raw output. Raises
    NotHttp2Error when any connection negotiated something else than h2."""
    argv = ["h2load", f"-t{threads}", f"-c{connections}", f"-m{streams}", f"-D{duration_s:g}"]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    output = run_load_generator(argv, duration_s, H2loadParseError)
    return require_h2(parse(output), url), output


def require_h2(result: LoadResult, url: str) -> LoadResult:
    """`result` if every connection negotiated h2, else NotHttp2Error (h2load fell back)."""
    if result.protocols != {"h2"}:
        negotiated = ", ".join(sorted(result.protocols)) or "nothing"
        raise NotHttp2Error(f"{url}: the server negotiated {negotiated}, not h2")
    return result
