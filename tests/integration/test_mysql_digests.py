"""Query digests through a real `fastlb serve` in front of two private MariaDB servers: the
statements a client runs show up normalised, counted and timed in `GET /api/mysql/digests`,
in `fastlb_mysql_digest_*` metrics and in `fastlb stats --digests`."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import test_dashboard
from test_dashboard import DashboardDom, run_chromium

from . import mariadb as mariadb_helpers
from .mariadb import Template
from .mysql_proxy import connect, proxy_config, running_proxy, sql_port, standalone_pair
from .proc import FastlbProcess, fastlb_command

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
chromium = test_dashboard.chromium  # the fixture, by its name

pytestmark = pytest.mark.timeout(90)

POINT_SELECT = "SELECT id, v FROM items WHERE id = ?"
IN_LIST = "SELECT COUNT(*) FROM items WHERE id IN (...)"
INSERT = "INSERT INTO items (v) VALUES (...)"
MISSING = "SELECT * FROM no_such_table WHERE id = ?"
# PyMySQL's own statement when it connects.
SET_NAMES = "SET NAMES utf8mb4"
TOP_K = 10


@pytest.fixture(scope="module")
def proxy(
    mariadb_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastlbProcess]:
    with standalone_pair(mariadb_template) as pair:
        # The pair doesn't replicate: the replica gets the rows its reads will find.
        rows = ", ".join(f"('row {n}')" for n in range(30))
        pair.replica.sql(f"INSERT INTO app.items (v) VALUES {rows}")
        config = proxy_config(pair, digests={"enabled": True, "top_k": TOP_K})
        with running_proxy(config, tmp_path_factory.mktemp("fastlb")) as process:
            workload(sql_port(process))
            yield process


def workload(port: int) -> None:
    """Statement shapes with distinct literals, in known numbers."""
    with connect(port) as db, db.cursor() as cursor:
        for n in range(30):
            cursor.execute(f"INSERT INTO items (v) VALUES ('row {n}')")
        for n in range(1, 21):
            cursor.execute(f"select id, v from items where id = {n}  -- client {n}")
            cursor.fetchall()
        for n in range(1, 11):
            cursor.execute(f"SELECT COUNT(*) FROM items WHERE id IN ({n}, {n + 1}, {n + 2})")
        for n in range(4):
            with pytest.raises(pymysql.err.ProgrammingError):
                cursor.execute(f"SELECT * FROM no_such_table WHERE id = {n}")


def digests(proxy: FastlbProcess, query: str = "") -> dict[str, Any]:
    status, body = proxy.api("GET", f"/api/mysql/digests{query}")
    assert status == 200, body
    report: dict[str, Any] = body
    return report


def by_text(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["text"]: d for d in report["frontends"]["sql"]["digests"]}


def test_api_counts_each_shape_once_normalised(proxy: FastlbProcess) -> None:
    report = digests(proxy)
    frontend = report["frontends"]["sql"]
    assert (report["sort"], frontend["backend"], frontend["top_k"]) == ("time", "db", TOP_K)
    shapes = by_text(report)
    # The text keeps the spelling of the first statement of each shape.
    assert shapes.keys() == {POINT_SELECT.lower(), IN_LIST, INSERT, MISSING, SET_NAMES}
    assert frontend["tracked"] == 5
    times = [d["total_seconds"] for d in frontend["digests"]]
    assert times == sorted(times, reverse=True)
    assert all(len(d["digest"]) == 16 for d in frontend["digests"])


def test_counts_calls_rows_errors_and_routes(proxy: FastlbProcess) -> None:
    shapes = by_text(digests(proxy))
    insert = shapes[INSERT]
    assert (insert["calls"], insert["calls_primary"], insert["rows_sent"]) == (30, 30, 0)
    assert insert["errors"] == 0
    point = shapes[POINT_SELECT.lower()]
    assert (point["calls"], point["rows_sent"], point["calls_replica"]) == (20, 20, 20)
    assert 0 < point["p50_seconds"] <= point["p99_seconds"] <= point["max_seconds"] * 1.25 + 1e-6
    assert point["time_error_seconds"] == 0
    assert (shapes[IN_LIST]["calls"], shapes[IN_LIST]["rows_sent"]) == (10, 10)
    assert (shapes[MISSING]["calls"], shapes[MISSING]["errors"]) == (4, 4)


def test_sorting_and_limit(proxy: FastlbProcess) -> None:
    by_calls = digests(proxy, "?sort=calls")["frontends"]["sql"]["digests"]
    assert [d["calls"] for d in by_calls] == [30, 20, 10, 4, 1]
    by_errors = digests(proxy, "?sort=errors&limit=1")["frontends"]["sql"]["digests"]
    assert [d["text"] for d in by_errors] == [MISSING]


def test_bad_sort_is_refused(proxy: FastlbProcess) -> None:
    status, _ = proxy.api("GET", "/api/mysql/digests?sort=bytes")
    assert status == 422


def test_metrics_carry_each_reported_digest(proxy: FastlbProcess) -> None:
    reported = digests(proxy)["frontends"]["sql"]["digests"]
    lines = calls_lines(proxy)
    assert len(lines) == len(reported)
    for digest in reported:
        expected = f'digest="{digest["digest"]}"'
        assert any(
            expected in line and line.endswith(f" {float(digest['calls'])}") for line in lines
        ), lines


def calls_lines(proxy: FastlbProcess) -> list[str]:
    with urllib.request.urlopen(f"{proxy.api_url}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    return [line for line in metrics.splitlines() if line.startswith("fastlb_mysql_digest_calls")]


def test_cli_prints_the_table(proxy: FastlbProcess) -> None:
    assert proxy.api_url
    result = subprocess.run(
        [
            *fastlb_command(),
            "stats",
            "--api",
            proxy.api_url,
            "--digests",
            "--once",
            "--sort",
            "calls",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    top = digests(proxy, "?sort=calls&limit=1")["frontends"]["sql"]["digests"][0]
    assert top["text"][:30] in result.stdout
    assert str(top["calls"]) in result.stdout


def test_top_k_bounds_the_report_and_the_metrics(proxy: FastlbProcess) -> None:
    """Last in this module: it adds shapes beyond top_k (the tests above count the first four)."""
    with connect(sql_port(proxy)) as db, db.cursor() as cursor:
        for n in range(20):
            cursor.execute(f"SELECT {n} AS c{n}")
    frontend = digests(proxy)["frontends"]["sql"]
    # 5 shapes before, 20 new ones (the new connection's SET NAMES is not new).
    assert frontend["tracked"] == 25
    assert len(frontend["digests"]) == TOP_K
    assert len(calls_lines(proxy)) == TOP_K


def test_the_dashboard_shows_the_top_statements(
    proxy: FastlbProcess, chromium: Path, tmp_path: Path
) -> None:
    """The digests table (its own script, dashboard_digests.js) in a real headless Chromium."""
    assert proxy.api_url
    done = run_chromium(chromium, tmp_path / "profile", proxy.api_url + "/", "--dump-dom")
    assert "</html>" in done.stdout, done.stderr[-3000:]
    table = DashboardDom.parse(done.stdout).ids.get("digests", "")
    assert POINT_SELECT.lower() in table, table
    assert MISSING in table, table
