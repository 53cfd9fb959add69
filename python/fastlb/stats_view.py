"""`fastlb stats`: a live terminal view of a running fastlb (rich Live + Table), fed by the
API's `GET /api/stats`. Session rates come from the difference between two snapshots.

With `mode: http` frontends the table grows HTTP columns: requests per second, responses by
status class and the server pool (hit ratio on backends, idle connections on servers)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .ctl import ApiError, call_api

__all__ = ["render_stats", "run_stats"]

EXIT_OK = 0
EXIT_FAILURE = 1

_STATUS_STYLES = {
    "UP": "bold green",
    "OPEN": "green",
    "DOWN": "bold red",
    "DRAIN": "yellow",
    "MAINT": "magenta",
}
# A pipe or a file is not a terminal: rich would squeeze the table into 80 columns.
_OFF_TERMINAL_WIDTH = 180

Stats = Mapping[str, Any]


def run_stats(api_url: str, interval: float, once: bool) -> int:
    """Show the stats until Ctrl-C, refreshing every `interval` seconds; with `once`, print
    one table (rates measured over `interval`) and return."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=_OFF_TERMINAL_WIDTH)
    try:
        previous = _fetch(api_url)
        time.sleep(interval)
        current = _fetch(api_url)
    except ApiError as exc:
        console.print(f"fastlb stats: {exc}", style="red", highlight=False)
        return EXIT_FAILURE
    if once:
        console.print(render_stats(previous, current, api_url))
        return EXIT_OK
    try:
        with Live(render_stats(previous, current, api_url), console=console) as live:
            while True:
                time.sleep(interval)
                try:
                    previous, current = current, _fetch(api_url)
                except ApiError as exc:
                    # Keep the last table on screen and say why it is stale; retry next time.
                    live.update(render_stats(previous, current, api_url, problem=str(exc)))
                    continue
                live.update(render_stats(previous, current, api_url))
    except KeyboardInterrupt:
        return EXIT_OK


def _fetch(api_url: str) -> Stats:
    stats = call_api(api_url, "GET", "/api/stats")
    if not isinstance(stats, Mapping):
        raise ApiError(f"unexpected reply from {api_url}/api/stats")
    return stats


def render_stats(
    previous: Stats, current: Stats, api_url: str, *, problem: str | None = None
) -> Table:
    """One table: each frontend, then each backend followed by its servers."""
    uptime = float(current.get("uptime_seconds", 0.0))
    elapsed = uptime - float(previous.get("uptime_seconds", 0.0))
    title = f"fastlb at {api_url} · up {_duration(uptime)}"
    table = Table(
        title=title,
        caption=Text(f"stale: {problem}", style="red") if problem else None,
        header_style="bold",
        expand=False,
    )
    table.add_column("name", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for heading in ("weight", "cur", "total", "rate/s", "in", "out", "errors", "retries"):
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_column("connect p50", justify="right", no_wrap=True)
    table.add_column("connect p99", justify="right", no_wrap=True)
    # Only with mode http: tcp and mysql keep the table they always had.
    http = _has_http(current)
    if http:
        for heading in ("req/s", *_CLASSES, "pool"):
            table.add_column(heading, justify="right", no_wrap=True)

    def row(*cells: str | Text, now: Stats, before: Stats | None, pool: str, **kw: Any) -> None:
        if http:
            cells += tuple(_http_cells(now.get("http"), (before or {}).get("http"), elapsed, pool))
        table.add_row(*cells, **kw)

    old_frontends = previous.get("frontends", {})
    for name, frontend in current.get("frontends", {}).items():
        errors = sum(
            int(frontend.get(key, 0))
            for key in ("rejected_connections", "no_server_errors", "accept_errors")
        )
        row(
            Text(f"frontend {name}", style="bold"),
            _status("OPEN"),
            "",
            *_traffic(frontend, old_frontends.get(name), elapsed),
            str(errors),
            "",
            "",
            "",
            now=frontend,
            before=old_frontends.get(name),
            pool="",
        )
    old_backends = previous.get("backends", {})
    for name, backend in current.get("backends", {}).items():
        servers: Mapping[str, Any] = backend.get("servers", {})
        any_active = any(server.get("active") for server in servers.values())
        row(
            Text(f"backend {name}", style="bold"),
            _status("UP" if any_active else "DOWN"),
            str(sum(int(s.get("weight", 0)) for s in servers.values())),
            *_traffic(backend, old_backends.get(name), elapsed),
            str(int(backend.get("connect_errors", 0)) + int(backend.get("no_server_errors", 0))),
            str(backend.get("retries", 0)),
            "",
            "",
            now=backend,
            before=old_backends.get(name),
            pool=_pool_hits(backend.get("http")),
            end_section=not servers,
        )
        old_servers = (old_backends.get(name) or {}).get("servers", {})
        for index, (server_name, server) in enumerate(servers.items()):
            connect = server.get("connect_time", {})
            label = f"  {server_name}" + (" (backup)" if server.get("backup") else "")
            server_http = server.get("http")
            row(
                label,
                _status(str(server.get("status", "?"))),
                _weight(server),
                *_traffic(server, old_servers.get(server_name), elapsed),
                str(server.get("connect_errors", 0)),
                str(server.get("retries", 0)),
                _milliseconds(connect.get("p50")),
                _milliseconds(connect.get("p99")),
                now=server,
                before=old_servers.get(server_name),
                pool=f"{server_http['idle_connections']} idle" if server_http else "",
                end_section=index == len(servers) - 1,
            )
    return table


_CLASSES = ("2xx", "3xx", "4xx", "5xx")


def _has_http(stats: Stats) -> bool:
    return any(f.get("mode") == "http" for f in stats.get("frontends", {}).values())


def _http_cells(now: Stats | None, before: Stats | None, elapsed: float, pool: str) -> list[str]:
    """req/s, responses by class, pool: empty for a tcp/mysql proxy or an idle backend."""
    if now is None:
        return ["", *("" for _ in _CLASSES), ""]
    requests = int(now.get("requests", 0))
    if before is not None and elapsed > 0:
        rate = f"{max(0, requests - int(before.get('requests', 0))) / elapsed:.1f}"
    else:
        rate = "-"
    responses: Stats = now.get("responses", {})
    return [rate, *(str(responses.get(code, 0)) for code in _CLASSES), pool]


def _pool_hits(http: Stats | None) -> str:
    """`93% of 100`: requests that found an idle server connection."""
    if http is None:
        return ""
    hits, misses = int(http.get("pool_hits", 0)), int(http.get("pool_misses", 0))
    if hits + misses == 0:
        return "-"
    return f"{100 * hits / (hits + misses):.0f}% of {hits + misses}"


def _traffic(now: Stats, before: Stats | None, elapsed: float) -> list[str]:
    """current, total, rate/s, bytes in, bytes out."""
    total = int(now.get("total_connections", 0))
    if before is not None and elapsed > 0:
        rate = f"{max(0, total - int(before.get('total_connections', 0))) / elapsed:.1f}"
    else:
        rate = "-"
    return [
        str(now.get("current_connections", 0)),
        str(total),
        rate,
        _bytes(int(now.get("bytes_in", 0))),
        _bytes(int(now.get("bytes_out", 0))),
    ]


def _status(status: str) -> Text:
    return Text(status, style=_STATUS_STYLES.get(status, ""))


def _weight(server: Stats) -> str:
    weight, initial = server.get("weight"), server.get("initial_weight")
    if initial is not None and initial != weight:
        return f"{weight} (of {initial})"
    return str(weight)


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _milliseconds(seconds: object) -> str:
    if not isinstance(seconds, int | float) or seconds <= 0:
        return "-"
    return f"{seconds * 1000:.2f} ms"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
