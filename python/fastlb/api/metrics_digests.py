"""Prometheus metrics of query digests: `fastlb_mysql_digest_*` for the entries each `mode:
mysql` frontend reports (its `mysql.digests.top_k` heaviest by total time), so the label count
is bounded by configuration, never by the workload."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["DigestCollector", "digest_metrics"]

# A label value is for recognising the statement, not for storing it.
_TEXT_LABEL_CHARS = 160

# (metric suffix, help text, field, counter?)
_FAMILIES = [
    ("calls_total", "Statements of this digest run", "calls", True),
    ("errors_total", "Statements of this digest the server answered with an error", "errors", True),
    ("rows_sent_total", "Result-set rows of this digest sent to clients", "rows_sent", True),
    ("time_seconds_total", "Total time of this digest's statements", "total_seconds", True),
    ("p99_seconds", "99th percentile latency of this digest (within 25%)", "p99_seconds", False),
]


def digest_metrics(report: Mapping[str, Any]) -> Iterator[Metric]:
    """The families for `report` (the core's `mysql_digests()`)."""
    labels = ["proxy", "digest", "text"]
    families = [
        (
            (CounterMetricFamily if counter else GaugeMetricFamily)(
                f"fastlb_mysql_digest_{suffix}", help_text, labels=labels
            ),
            field,
        )
        for suffix, help_text, field, counter in _FAMILIES
    ]
    for proxy, frontend in report.items():
        for digest in frontend.get("digests", []):
            values = [proxy, digest["digest"], digest["text"][:_TEXT_LABEL_CHARS]]
            for family, field in families:
                family.add_metric(values, digest[field])
    yield from (family for family, _ in families)


class DigestCollector:
    """Reads the core's digests at each scrape (a copy of each worker's sketch)."""

    def __init__(self, report: Callable[[], Mapping[str, Any]]) -> None:
        self._report = report

    def describe(self) -> list[Metric]:
        # Empty: registering must not read the core (it may not be running yet).
        return []

    def collect(self) -> Iterator[Metric]:
        yield from digest_metrics(self._report())
