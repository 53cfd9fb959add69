"""The dashboard's MySQL topology and failover panel, rendered by a real headless Chromium
(test_dashboard.py's harness) against `fastlb serve` in front of a real MariaDB trio, after
a real switchover."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import test_dashboard
from test_dashboard import DashboardDom, run_chromium

from . import mariadb as mariadb_helpers
from . import replication_trio
from .clients import wait_until
from .mysql_proxy import running_proxy
from .proc import FastlbProcess
from .replication_trio import ReplicationTrio, fastlb_config

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
make_trio_fixture = replication_trio.make_trio_fixture
trio_fixture = replication_trio.trio_fixture
chromium = test_dashboard.chromium  # the fixture, by its name

pytestmark = pytest.mark.timeout(180)


class Panel:
    """The page after its own polling: `ids` (element id -> text, as test_dashboard reads
    them) and `rows` (MySQL server -> data-field -> text, from the panel's table)."""

    def __init__(self, html: str) -> None:
        self.ids = DashboardDom.parse(html).ids
        rows = _Rows()
        rows.feed(html)
        self.rows = rows.rows


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._server: str | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-mysql-server"):
            self._server = a["data-mysql-server"]
            self.rows[self._server] = {}
        elif self._server and a.get("data-field"):
            self._field = a["data-field"]
            self.rows[self._server][self._field] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._server = None
        elif tag in ("td", "th"):
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._server and self._field:
            self.rows[self._server][self._field] += data


def panel(chromium: Path, tmp_path: Path, proxy: FastlbProcess) -> Panel:
    assert proxy.api_url
    done = run_chromium(chromium, tmp_path / "profile", proxy.api_url + "/", "--dump-dom")
    page = Panel(done.stdout)
    assert "mysql" in page.ids, "no MySQL panel on the page"
    return page


def row(page: Panel, server: str) -> tuple[str, ...]:
    """(role, state, lag, reads, reason) of a server in the panel's table."""
    cells = page.rows[server]
    return tuple(cells[name] for name in ("role", "state", "lag", "reads", "reason"))


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
        assert row(before, "db1") == ("primary", "writable", "—", "no", "")
        assert row(before, "db2") == ("replica", "read-only", "0 ms", "yes", "")
        assert row(before, "db3") == ("replica", "read-only", "0 ms", "yes", "")
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
    assert row(after, "db2") == ("primary", "writable", "—", "no", "")
    assert row(after, "db1")[:2] == ("replica", "read-only"), after.rows
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
    role, state, _, reads, reason = row(dom, "db1")
    assert (role, state, reads) == ("replica", "diverged", "no"), dom.rows
    assert reason.startswith("diverged: has transactions the new primary never had"), reason
    assert row(dom, "db2")[:2] == ("primary", "writable"), dom.rows
    events = dom.ids["mysql-db-events"]
    assert "diverged db1: db1 returned with 1 transaction(s)" in events, events
    assert "failover_started db1" in events and "promoted db2" in events, events
    assert "Keptoutdb1" in dom.ids["mysql"].replace(" ", ""), dom.ids["mysql"]
