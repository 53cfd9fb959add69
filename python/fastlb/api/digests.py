"""`GET /api/mysql/digests`: the heaviest statements of each `mode: mysql` frontend (the core's
query digests), sorted by total time, calls or errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ..balancer import LoadBalancer

__all__ = ["DigestEntry", "DigestsReport", "FrontendDigests", "digests_router", "sort_digests"]

SortKey = Literal["time", "calls", "errors"]
# The field each sort key orders by (heaviest first); ties keep the core's order (by time).
_SORT_FIELDS: dict[str, str] = {"time": "total_seconds", "calls": "calls", "errors": "errors"}


class DigestEntry(BaseModel):
    digest: str = Field(description="The 64-bit digest of the normalised statement, hex")
    text: str = Field(description="Normalised text: literals as ?, literal lists as (...)")
    calls: int
    errors: int = Field(description="Calls the server answered with an error")
    rows_sent: int = Field(description="Result-set rows sent to clients")
    total_seconds: float
    mean_seconds: float
    max_seconds: float
    p50_seconds: float
    p95_seconds: float
    p99_seconds: float
    calls_primary: int
    calls_replica: int
    time_error_seconds: float = Field(
        description="Time the sketch may have credited from digests it replaced (0: exact)"
    )


class FrontendDigests(BaseModel):
    backend: str
    top_k: int | None = Field(None, description="Absent until the first statement")
    tracked: int | None = Field(
        None,
        description="Distinct digests the workers' sketches hold now (one on two workers: once)",
    )
    capacity: int | None = Field(None, description="Digests the sketches can hold together")
    evictions: int | None = Field(None, description="Digests replaced by heavier ones so far")
    digests: list[DigestEntry] = []


class DigestsReport(BaseModel):
    sort: SortKey
    frontends: dict[str, FrontendDigests]


def sort_digests(report: dict[str, Any], sort: str, limit: int | None = None) -> dict[str, Any]:
    """`report` (the core's `mysql_digests()`) with each frontend's digests ordered by `sort`,
    at most `limit` of them."""
    field = _SORT_FIELDS[sort]
    frontends = {}
    for name, frontend in report.items():
        digests = sorted(frontend.get("digests", []), key=lambda d: d[field], reverse=True)
        frontends[name] = {**frontend, "digests": digests[:limit] if limit else digests}
    return {"sort": sort, "frontends": frontends}


def digests_router(balancer: LoadBalancer) -> APIRouter:
    router = APIRouter()

    @router.get("/api/mysql/digests", response_model=DigestsReport)
    async def digests(
        sort: SortKey = "time",
        limit: int | None = Query(None, ge=1, description="At most this many per frontend"),
        frontend: str | None = Query(None, description="Only this frontend"),
    ) -> dict[str, Any]:
        """The top statements of each `mode: mysql` frontend by total time (`mysql.digests.
        top_k` of them, counted in fixed memory), ordered by `sort`."""
        report = balancer.mysql_digests()
        if frontend is not None:
            report = {name: f for name, f in report.items() if name == frontend}
        return sort_digests(report, sort, limit)

    return router
