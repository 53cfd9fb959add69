"""Query digests from Python: the core's normalisation as `_core.normalize_statement` gives it,
and the API's ordering of a report (the core ranks by total time)."""

from __future__ import annotations

from typing import Any

from fastlb import _core
from fastlb.api.digests import sort_digests
from fastlb.api.metrics_digests import digest_metrics


def test_normalize_statement_matches_the_proxys_digest() -> None:
    digest, text = _core.normalize_statement("SELECT * FROM t WHERE id IN (1, 2) /* x */")
    assert text == "SELECT * FROM t WHERE id IN (...)"
    assert len(digest) == 16
    assert _core.normalize_statement(b"select * from t where id in (9)")[0] == digest
    assert _core.normalize_statement("SELECT * FROM u WHERE id IN (9)")[0] != digest


def entry(text: str, calls: int, errors: int, seconds: float) -> dict[str, Any]:
    return {
        "digest": f"{abs(hash(text)):016x}"[:16],
        "text": text,
        "calls": calls,
        "errors": errors,
        "rows_sent": 0,
        "total_seconds": seconds,
        "p99_seconds": seconds / max(calls, 1),
    }


REPORT = {
    "sql": {
        "backend": "db",
        "top_k": 3,
        "digests": [
            entry("slow", 2, 0, 9.0),
            entry("busy", 50, 1, 5.0),
            entry("broken", 10, 10, 1.0),
        ],
    },
    "idle": {"backend": "db2"},
}


def test_sorting_by_each_key() -> None:
    def order(sort: str, limit: int | None = None) -> list[str]:
        report = sort_digests(REPORT, sort, limit)
        assert report["sort"] == sort and report["frontends"]["idle"]["digests"] == []
        return [d["text"] for d in report["frontends"]["sql"]["digests"]]

    assert order("time") == ["slow", "busy", "broken"]
    assert order("calls") == ["busy", "broken", "slow"]
    assert order("errors", limit=1) == ["broken"]


def test_metrics_have_one_series_per_reported_digest() -> None:
    families = {family.name: family for family in digest_metrics(REPORT)}
    calls = families["fastlb_mysql_digest_calls"]
    assert sorted(sample.value for sample in calls.samples) == [2, 10, 50]
    assert {sample.labels["proxy"] for sample in calls.samples} == {"sql"}
