"""What one load-generator run measured, in one shape every driver returns and the reports read.

wrk and h2load (bench/runner.py) and Locust (bench/locust/runner.py) each turn their output
into a `LoadResult`; the runners add what they measured around it (CPU, connections).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class LoadParseError(ValueError):
    """The load generator's output lacked what the benchmark needs (the message quotes it)."""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    bytes_read: int
    requests_per_s: float
    latency_avg_s: float
    # wrk --latency's 50/75/90/99, Locust's 50/95/99; empty for h2load, which prints none.
    latency_percentiles_s: dict[int, float]
    # Failures that are not an HTTP status: wrk's connect/read/write/timeout, h2load's
    # requests that failed without a response status.
    socket_errors: dict[str, int]
    non_2xx: int  # responses other than 2xx/3xx
    # Requests the client counted as failed without saying which kind (Locust: a refused
    # connection, a bad status and a failed content check are all "failures").
    failed_requests: int = 0
    # The application protocols the client negotiated (h2load's ALPN result); empty for wrk.
    protocols: frozenset[str] = field(default_factory=frozenset)

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_read / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        """Every failure the client saw: socket/stream errors, non-2xx/3xx responses and
        failures of no named kind."""
        return sum(self.socket_errors.values()) + self.non_2xx + self.failed_requests
