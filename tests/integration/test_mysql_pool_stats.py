"""The MySQL pool's figures where operators read them, against `fastlb serve` in front of a
real MariaDB pair with multiplexing on: `/api/stats` (totals and each server's open/idle
connections, which add up to the totals), `/metrics` (the same, as gauges with a `server`
label, and the counters), and the dashboard's MySQL proxies table, rendered by a real
headless Chromium (test_dashboard.py's harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_dashboard
from test_dashboard import DashboardDom, run_chromium

from fastlb.harness.waiting import wait_for

from . import mariadb as mariadb_helpers
from .mariadb import Template
from .mysql_proxy import connect, mysql_stats, one, pooled_proxy, sql_port, standalone_pair
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
chromium = test_dashboard.chromium  # the fixture, by its name

pytestmark = pytest.mark.timeout(120)

MAX_PER_SERVER = 2
SESSIONS = 6


@pytest.fixture(scope="module")
def proxy(
    mariadb_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastlbProcess]:
    """Six sessions that read (replica), write (primary) and pin one session with a user
    variable, on two connections per server; they all quit, so every connection is idle."""
    with standalone_pair(mariadb_template) as pair:
        workdir = tmp_path_factory.mktemp("fastlb")
        with pooled_proxy(pair, workdir, MAX_PER_SERVER, multiplexing=True) as process:
            port = sql_port(process)
            for number in range(SESSIONS):
                with connect(port) as session:
                    one(session, "SELECT COUNT(*) FROM items")
                    one(session, f"INSERT INTO items (v) VALUES ('client {number}')")
                    if number == 0:
                        one(session, "SET @mine = 1")
            yield process


def idle_everywhere(process: FastlbProcess) -> dict[str, Any]:
    """The stats once every pooled connection is back in the pool."""
    wait_for(
        lambda: mysql_stats(process)["pool_idle"] == mysql_stats(process)["pool_open"] > 0,
        10,
        "every pooled connection idle",
    )
    return mysql_stats(process)


def test_api_stats_give_each_servers_pool_and_the_totals(proxy: FastlbProcess) -> None:
    stats = idle_everywhere(proxy)
    by_server = stats["pool_by_server"]
    assert set(by_server) == {"primary", "replica"}, by_server
    for figures in by_server.values():
        assert 1 <= figures["idle"] == figures["open"] <= MAX_PER_SERVER, by_server
    assert stats["pool_open"] == sum(f["open"] for f in by_server.values())
    assert stats["pool_idle"] == sum(f["idle"] for f in by_server.values())
    assert stats["sessions"] == SESSIONS
    assert stats["pool_borrows"] >= 2 * SESSIONS  # a read and a write each, at least
    assert stats["pins_by_reason"]["user_variable"] == 1
    assert stats["pool_full_errors"] == 0


def test_metrics_carry_the_pool_gauges_by_server(proxy: FastlbProcess) -> None:
    stats = idle_everywhere(proxy)
    status, metrics = proxy.api("GET", "/metrics")
    assert status == 200
    for server, figures in stats["pool_by_server"].items():
        for state in ("idle", "open"):
            line = (
                f'fastlb_mysql_pool_server_connections{{proxy="sql",server="{server}",'
                f'state="{state}"}} {float(figures[state])}'
            )
            assert line in metrics, line
    assert f'fastlb_mysql_pool_open_connections{{proxy="sql"}} {float(stats["pool_open"])}' in (
        metrics
    )
    assert 'fastlb_mysql_pins_total{proxy="sql",reason="user_variable"} 1.0' in metrics


def test_the_dashboard_shows_the_pool(proxy: FastlbProcess, chromium: Path, tmp_path: Path) -> None:
    stats = idle_everywhere(proxy)
    assert proxy.api_url
    done = run_chromium(chromium, tmp_path / "profile", proxy.api_url + "/", "--dump-dom")
    assert "</html>" in done.stdout, done.stderr[-3000:]
    row = DashboardDom.parse(done.stdout).ids.get("mysql-pool-sql", "")
    by_server = stats["pool_by_server"]
    for server, figures in by_server.items():
        assert f"{server} {figures['open']}/{figures['idle']}" in row, row
    assert f"{stats['pool_open']} / {stats['pool_idle']}" in row, row
    assert "user_variable 1" in row, row
