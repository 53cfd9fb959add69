"""The dashboard's MySQL topology and failover panel, rendered by a real headless Chromium
(test_dashboard.py's harness) against `fastlb serve` in front of a real MariaDB trio, after
a real switchover."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_dashboard
from test_dashboard import DashboardDom, dump_dom

from . import mariadb as mariadb_helpers
from . import replication_trio
from .clients import wait_until
from .mysql_proxy import running_proxy
from .proc import FastlbProcess
from .replication_trio import ReplicationTrio, fastlb_config

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
make_trio_fixture = replication_trio.make_trio_fixture
trio_fixture = replication_trio.trio_fixture
chromium_fixture = test_dashboard.chromium

pytestmark = pytest.mark.timeout(180)


def panel(chromium: Path, tmp_path: Path, proxy: FastlbProcess) -> DashboardDom:
    assert proxy.api_url
    dom = dump_dom(chromium, tmp_path, proxy.api_url + "/")
    assert "mysql" in dom.ids, "no MySQL panel on the page"
    return dom


def test_panel_shows_roles_the_write_gate_and_the_switchover_events(
    trio: ReplicationTrio, tmp_path: Path, chromium: Path
) -> None:
    (tmp_path / "lb").mkdir()
    with running_proxy(fastlb_config(trio, "manual"), tmp_path / "lb") as proxy:
        before = panel(chromium, tmp_path, proxy)
        assert before.ids["mysql-title"] == "MySQL topology and failover"
        head = before.ids["mysql-db-head"]
        assert "primary db1" in head and "failover manual" in head, head
        assert "writes flowing (0 hold(s), 0.000 s in all)" in head, head
        assert before.ids["mysql-db-db1"].startswith("db1 primary writable —"), before.ids
        assert before.ids["mysql-db-db2"].startswith("db2 replica read-only 0 ms yes")
        assert before.ids["mysql-db-events"] == ""

        status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
        assert status == 200, reply
        assert wait_until(lambda: proxy.stats()["mysql_topology"]["db"]["primary"] == "db2", 30)
        assert wait_until(
            lambda: all(
                (s["read_only"] is not None and s["lag_seconds"] is not None) or s["name"] == "db2"
                for s in proxy.stats()["mysql_topology"]["db"]["servers"]
            ),
            30,
        )
        after = panel(chromium, tmp_path, proxy)
    head = after.ids["mysql-db-head"]
    assert "primary db2" in head and "writes flowing (1 hold(s), " in head, head
    assert after.ids["mysql-db-db2"].startswith("db2 primary writable —"), after.ids
    assert after.ids["mysql-db-db1"].startswith("db1 replica read-only"), after.ids
    events = after.ids["mysql-db-events"]
    gtid = reply["gtid"]
    # Newest first: the promotion (with its GTID), then the start.
    assert "promoted db2: db2 promoted by switchover" in events, events
    assert f"(GTID {gtid})" in events, events
    assert events.index("promoted db2") < events.index("switchover_started db2"), events
    assert "Switchovers1" in after.ids["mysql"].replace(" ", ""), after.ids["mysql"]


def test_a_diverged_old_primary_shows_as_diverged_and_out_of_the_reads(
    trio: ReplicationTrio, tmp_path: Path, chromium: Path
) -> None:
    trio["db1"].sql("CREATE TABLE fastlb.d (id INT PRIMARY KEY)")
    trio.wait_replicated("db1")
    (tmp_path / "lb").mkdir()
    with running_proxy(fastlb_config(trio, "auto"), tmp_path / "lb") as proxy:
        for name in ("db2", "db3"):
            trio[name].sql("STOP SLAVE IO_THREAD")
        trio["db1"].sql("INSERT INTO fastlb.d VALUES (1)")
        trio.kill9("db1")

        def kinds() -> list[str]:
            return [e["kind"] for e in proxy.stats()["mysql_topology"]["db"].get("events") or []]

        assert wait_until(lambda: "promoted" in kinds(), 30), kinds()
        trio.start_server("db1")
        assert wait_until(lambda: "diverged" in kinds(), 30), kinds()
        dom = panel(chromium, tmp_path, proxy)
    row = dom.ids["mysql-db-db1"]
    assert row.startswith("db1 replica diverged"), row
    assert "no diverged: has transactions the new primary never had" in row, row
    events = dom.ids["mysql-db-events"]
    assert "diverged db1: db1 returned with 1 transaction(s)" in events, events
    assert "failover_started db1" in events and "promoted db2" in events, events
    assert "Keptoutdb1" in dom.ids["mysql"].replace(" ", ""), dom.ids["mysql"]
