"""`fastlb stats --digests`: the heaviest statements of each `mode: mysql` frontend (rich
Table), fed by the API's `GET /api/mysql/digests`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .ctl import ApiError, call_api

__all__ = ["render_digests", "run_digests"]

EXIT_OK = 0
EXIT_FAILURE = 1
# A pipe or a file is not a terminal: rich would squeeze the table into 80 columns.
_OFF_TERMINAL_WIDTH = 180
# The statement column is cut here so that the numbers stay on screen.
_TEXT_WIDTH = 80


def run_digests(api_url: str, interval: float, once: bool, sort: str, limit: int) -> int:
    """Show the top digests until Ctrl-C, refreshing every `interval` seconds; with `once`,
    print them once and return."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=_OFF_TERMINAL_WIDTH)
    path = f"/api/mysql/digests?sort={sort}&limit={limit}"
    try:
        report = call_api(api_url, "GET", path)
    except ApiError as exc:
        console.print(f"fastlb stats: {exc}", style="red", highlight=False)
        return EXIT_FAILURE
    if once:
        console.print(render_digests(report, api_url))
        return EXIT_OK
    try:
        with Live(render_digests(report, api_url), console=console) as live:
            while True:
                time.sleep(interval)
                try:
                    report = call_api(api_url, "GET", path)
                except ApiError as exc:
                    live.update(render_digests(report, api_url, problem=str(exc)))
                    continue
                live.update(render_digests(report, api_url))
    except KeyboardInterrupt:
        return EXIT_OK


def render_digests(
    report: Mapping[str, Any], api_url: str, *, problem: str | None = None
) -> Group | Text:
    """One table per `mode: mysql` frontend."""
    frontends = report.get("frontends", {})
    if not frontends:
        return Text(f"fastlb at {api_url}: no mode mysql frontend")
    tables = []
    for name, frontend in frontends.items():
        tracked = frontend.get("tracked")
        title = f"{name} → {frontend['backend']} · top statements by {report.get('sort', 'time')}"
        if tracked is not None:
            title += f" · {tracked}/{frontend['capacity']} tracked"
        table = Table(
            title=title,
            caption=Text(f"stale: {problem}", style="red") if problem else None,
            header_style="bold",
        )
        table.add_column("statement", overflow="ellipsis", max_width=_TEXT_WIDTH)
        for heading in ("calls", "errors", "rows", "total", "mean", "p95", "p99", "pri/rep"):
            table.add_column(heading, justify="right", no_wrap=True)
        for digest in frontend.get("digests", []):
            table.add_row(
                Text(digest["text"]),
                str(digest["calls"]),
                Text(str(digest["errors"]), style="red" if digest["errors"] else ""),
                str(digest["rows_sent"]),
                _seconds(digest["total_seconds"]),
                _seconds(digest["mean_seconds"]),
                _seconds(digest["p95_seconds"]),
                _seconds(digest["p99_seconds"]),
                f"{digest['calls_primary']}/{digest['calls_replica']}",
            )
        tables.append(table)
    return Group(*tables)


def _seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f}s"
    return f"{value * 1000:.2f}ms"
