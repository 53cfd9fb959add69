"""MySQL switchover, failover, fencing and rejoin with real MariaDB: a primary and two GTID
replicas (replication_trio.py) behind `fastlb serve` with `mysql.failover`."""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from fastlb.cli import main

from . import mariadb as mariadb_helpers
from . import replication_trio
from .clients import wait_until
from .failover_load import CREATE, TABLE, WriteLoad
from .mysql_proxy import running_proxy
from .proc import FastlbProcess, port_of
from .replication_trio import NAMES, ReplicationTrio, fastlb_config

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
make_trio_fixture = replication_trio.make_trio_fixture
trio_fixture = replication_trio.trio_fixture

pytestmark = pytest.mark.timeout(180)

# Bounds for polls on a loaded 2-core machine (never assertions on speed).
SETTLE = 30.0


@pytest.fixture
def start_for(tmp_path: Path) -> Iterator[Callable[..., FastlbProcess]]:
    """`start_for(trio, mode)`: creates the test table, then runs fastlb in front of `trio`."""
    with contextlib.ExitStack() as running:

        def start(trio: ReplicationTrio, mode: str = "auto", **failover: Any) -> FastlbProcess:
            trio["db1"].sql(CREATE)
            trio.wait_replicated("db1")
            workdir = Path(tempfile.mkdtemp(prefix="fastlb", dir=tmp_path))
            config = fastlb_config(trio, mode)
            config["backends"][0]["mysql"]["failover"].update(failover)
            return running.enter_context(running_proxy(config, workdir))

        yield start


@pytest.fixture
def start_proxy(
    trio: ReplicationTrio, start_for: Callable[..., FastlbProcess]
) -> Callable[..., FastlbProcess]:
    return lambda mode="auto", **failover: start_for(trio, mode, **failover)


def topology(proxy: FastlbProcess) -> dict[str, Any]:
    result: dict[str, Any] = proxy.stats()["mysql_topology"]["db"]
    return result


def event_kinds(proxy: FastlbProcess) -> list[str]:
    return [event["kind"] for event in topology(proxy).get("events") or []]


def load(proxy: FastlbProcess, trio: ReplicationTrio) -> WriteLoad:
    return WriteLoad(
        port_of(proxy.config["frontends"][0]["listen"]), trio.app_user, trio.app_password
    )


def rows(trio: ReplicationTrio, name: str) -> set[int]:
    output = trio[name].sql(f"SELECT id FROM {TABLE}")
    return {int(line) for line in output.split()}


def assert_consistent(trio: ReplicationTrio, primary: str, servers: tuple[str, ...]) -> None:
    trio.wait_replicated(primary)
    checksums = {name: value for name, value in trio.checksums(TABLE).items() if name in servers}
    assert len(set(checksums.values())) == 1, checksums


def test_switchover_under_write_load_loses_and_duplicates_nothing(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("manual")
    with load(proxy, trio) as writes:
        assert wait_until(lambda: len(writes.acknowledged) > 50, SETTLE)
        status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
        assert status == 200, reply
        assert (reply["primary"], reply["previous"]) == ("db2", "db1")
        count = len(writes.acknowledged)
        assert wait_until(lambda: len(writes.acknowledged) > count + 50, SETTLE)
    # Every write a client was told succeeded is on the new primary, and nothing else is.
    assert writes.errors == []
    assert rows(trio, "db2") == writes.acknowledged
    assert not trio.read_only("db2")
    assert trio.read_only("db1") and trio.read_only("db3")
    trio.wait_replicating_from("db1", "db2")
    trio.wait_replicating_from("db3", "db2")
    assert_consistent(trio, "db2", NAMES)
    assert wait_until(lambda: topology(proxy)["primary"] == "db2", SETTLE)
    state = topology(proxy)
    assert state["failover"]["switchovers_total"] == 1
    assert "promoted" in event_kinds(proxy)
    metrics = proxy.api("GET", "/metrics")[1]
    assert 'fastlb_mysql_failovers_total{kind="switchover",proxy="db"} 1.0' in metrics
    # The writes were held for a moment: counted, and the same figure as /api/stats.
    held = state["failover"]["write_unavailable_seconds"]
    exported = re.search(
        r'^fastlb_mysql_write_unavailable_seconds_total\{proxy="db"\} (\S+)$', metrics, re.M
    )
    assert exported is not None, metrics
    assert held > 0 and float(exported[1]) == pytest.approx(held)


def test_a_transaction_open_on_the_old_primary_gets_an_error_never_a_retry(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("manual")
    client = pymysql.connect(
        host="127.0.0.1",
        port=port_of(proxy.config["frontends"][0]["listen"]),
        user=trio.app_user,
        password=trio.app_password,
        autocommit=True,
    )
    with client, client.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(f"INSERT INTO {TABLE} (id) VALUES (424242)")
        status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
        assert status == 200, reply
        # The transaction died with the old primary's connections: the client is told so
        # (fastlb's 1927 and its connection closed), its COMMIT never runs on the new one.
        with pytest.raises(pymysql.err.OperationalError) as error:
            cursor.execute("COMMIT")
        assert error.value.args[0] == 1927, error.value.args
        with pytest.raises(pymysql.err.Error):
            cursor.execute("SELECT 1")
    trio.wait_replicating_from("db1", "db2")
    assert_consistent(trio, "db2", NAMES)
    assert 424242 not in rows(trio, "db1") | rows(trio, "db2") | rows(trio, "db3")


def test_notify_runs_with_each_event_in_order_during_a_switchover(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess], tmp_path: Path
) -> None:
    # A real script: one line per run with its arguments and two of its environment values.
    calls = tmp_path / "notify-calls"
    script = tmp_path / "notify.sh"
    script.write_text(
        "#!/bin/sh\n"
        'printf "%s|%s|%s|%s|%s|%s\\n" "$1" "$2" "$3" "$4" "$#" "$FASTLB_MYSQL_MESSAGE"'
        f" >> {calls}\n"
    )
    script.chmod(0o755)
    proxy = start_proxy("manual", notify=f"{script}")
    status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db3"})
    assert status == 200, reply
    # The switchover did not wait for the script; its lines arrive soon after.
    assert wait_until(lambda: calls.exists() and len(calls.read_text().splitlines()) >= 2, SETTLE)
    lines = [line.split("|") for line in calls.read_text().splitlines()]
    started, promoted = lines[0], lines[1]
    assert started[:5] == ["switchover_started", "db", "db3", "", "4"], started
    assert started[5] == "switchover from db1 to db3"
    assert promoted[:3] == ["promoted", "db", "db3"] and promoted[4] == "4", promoted
    # $4: the promoted server's GTID position, as in /api/stats.
    event = next(e for e in topology(proxy)["events"] if e["kind"] == "promoted")
    assert promoted[3] == event["gtid"] and promoted[3].startswith("0-"), promoted


def test_a_failing_notify_command_is_logged_and_the_switchover_goes_on(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess], tmp_path: Path
) -> None:
    proxy = start_proxy("manual", notify=f"{tmp_path}/no-such-command --flag")
    status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
    assert status == 200, reply
    assert wait_until(lambda: "notify command" in proxy.log(), SETTLE)
    assert f"mysql db: notify command {tmp_path}/no-such-command failed to start" in proxy.log()
    assert not trio.read_only("db2") and trio.read_only("db1")


def test_a_switchover_right_after_another_switches_back(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    # No monitor round in between (interval 200 ms): the second must not act on the
    # topology from before the first.
    proxy = start_proxy("manual")
    status, first = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
    assert status == 200, first
    status, second = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db1"})
    assert status == 200, second
    assert (second["primary"], second["previous"]) == ("db1", "db2")
    assert not trio.read_only("db1") and trio.read_only("db2") and trio.read_only("db3")
    trio.wait_replicating_from("db2", "db1")
    trio.wait_replicating_from("db3", "db1")
    assert_consistent(trio, "db1", NAMES)


def test_switchover_refuses_the_primary_and_unknown_servers(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("manual")
    status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db1"})
    assert status == 409 and "already the primary" in reply["detail"]
    status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "nope"})
    assert status == 409 and "no server" in reply["detail"]
    status, reply = proxy.api("POST", "/api/mysql/nope/switchover", {})
    assert status == 404
    assert not trio.read_only("db1")


def test_failover_after_kill9_under_load_loses_no_acknowledged_write_with_semi_sync(
    make_trio: Callable[..., ReplicationTrio], start_for: Callable[..., FastlbProcess]
) -> None:
    trio = make_trio(replication_trio.SEMI_SYNC)
    proxy = start_for(trio, "auto")
    status = "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'"
    assert trio["db1"].sql(status).split() == ["Rpl_semi_sync_master_clients", "2"]
    with load(proxy, trio) as writes:
        assert wait_until(lambda: len(writes.acknowledged) > 50, SETTLE)
        killed = time.monotonic()
        trio.kill9("db1")
        assert wait_until(lambda: writes.first_success_after(killed + 0.1), SETTLE)
        count = len(writes.acknowledged)
        assert wait_until(lambda: len(writes.acknowledged) > count + 50, SETTLE)
    assert wait_until(lambda: topology(proxy)["primary"], SETTLE)
    new = topology(proxy)["primary"]
    assert new in ("db2", "db3")
    other = "db3" if new == "db2" else "db2"
    trio.wait_replicating_from(other, new)
    assert_consistent(trio, new, (new, other))
    # The promoted replica waits for its replica's acknowledgements in turn.
    assert wait_until(lambda: trio[new].sql(status).split()[-1] == "1", SETTLE)
    # Semi-sync: every write a client was told succeeded survived the failover.
    missing = writes.acknowledged - rows(trio, new)
    assert not missing, f"{len(missing)} acknowledged writes lost"
    kinds = event_kinds(proxy)
    assert "failover_started" in kinds and "promoted" in kinds
    assert topology(proxy)["failover"]["failovers_total"] == 1


def test_a_killed_primary_is_replaced_then_fenced_and_rejoined(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("auto")
    trio["db1"].sql(f"INSERT INTO {TABLE} VALUES (1, 0, 0)")
    trio.wait_replicated("db1")
    trio.kill9("db1")
    assert wait_until(lambda: "promoted" in event_kinds(proxy), SETTLE), event_kinds(proxy)
    # Equally advanced replicas: promotion_order decides; the other one follows it.
    assert wait_until(lambda: topology(proxy)["primary"] == "db2", SETTLE)
    trio.wait_replicating_from("db3", "db2")
    trio["db2"].sql(f"INSERT INTO {TABLE} VALUES (2, 0, 0)")
    # The old primary comes back writable (--read-only=0): fenced, then rejoined.
    trio.start_server("db1")
    assert wait_until(lambda: "rejoined" in event_kinds(proxy), SETTLE), event_kinds(proxy)
    assert trio.read_only("db1")
    trio.wait_replicating_from("db1", "db2")
    assert_consistent(trio, "db2", NAMES)
    assert rows(trio, "db1") == {1, 2}
    assert topology(proxy)["primary"] == "db2"
    assert "diverged" not in event_kinds(proxy)


def test_failover_reports_lost_transactions_and_keeps_a_diverged_primary_out(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("auto")
    for name in ("db2", "db3"):
        trio[name].sql("STOP SLAVE IO_THREAD")
    # Transactions no replica receives, then the primary dies.
    trio["db1"].sql(f"INSERT INTO {TABLE} VALUES (1, 0, 0), (2, 0, 0)")
    trio["db1"].sql(f"INSERT INTO {TABLE} VALUES (3, 0, 0)")
    trio.kill9("db1")
    assert wait_until(lambda: "promoted" in event_kinds(proxy), SETTLE), event_kinds(proxy)
    assert wait_until(lambda: topology(proxy)["primary"] == "db2", SETTLE)
    trio.start_server("db1")
    assert wait_until(lambda: "diverged" in event_kinds(proxy), SETTLE), event_kinds(proxy)
    diverged = next(e for e in topology(proxy)["events"] if e["kind"] == "diverged")
    assert "2 transaction(s)" in diverged["message"]
    assert trio.read_only("db1")
    assert trio.slave_status("db1") == {}
    state = topology(proxy)
    assert state["failover"]["kept_out"] == ["db1"]
    assert "db1" not in state["read_pool"]
    assert "rejoined" not in event_kinds(proxy)


def test_no_failover_while_another_node_holds_the_failover_lock(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    # The test plays the other half of a partitioned pair, failing over right now: it holds
    # the backend's failover lock on db3.
    other_node = pymysql.connect(unix_socket=str(trio["db3"].socket_path), user="root")
    with other_node, other_node.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK('fastlb_failover_db', 0)")
        assert cursor.fetchone() == (1,)
        proxy = start_proxy("auto")
        trio.kill9("db1")
        assert wait_until(lambda: "holds the failover lock on db3" in proxy.log(), SETTLE)
        for _ in range(10):
            time.sleep(0.2)
            assert "promoted" not in event_kinds(proxy)
            assert trio.read_only("db2") and trio.read_only("db3")
        # No replica was touched: both still replicate (from the dead db1).
        for name in ("db2", "db3"):
            assert trio.slave_status(name)["Slave_SQL_Running"] == "Yes"
        cursor.execute("SELECT RELEASE_LOCK('fastlb_failover_db')")
    # The lock is free: the next attempt fails over.
    assert wait_until(lambda: "promoted" in event_kinds(proxy), SETTLE), event_kinds(proxy)
    assert wait_until(lambda: topology(proxy)["primary"] == "db2", SETTLE)


def test_no_switchover_while_another_node_holds_the_failover_lock(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("manual")
    # The other node of a partitioned pair is switching over (or failing over) right now.
    other_node = pymysql.connect(unix_socket=str(trio["db2"].socket_path), user="root")
    with other_node, other_node.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK('fastlb_failover_db', 0)")
        assert cursor.fetchone() == (1,)
        status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
        assert status == 409, reply
        assert "another node holds the failover lock on db2" in reply["detail"], reply
        # Nothing changed: db1 still the writable primary, db2 still its replica.
        assert not trio.read_only("db1") and trio.read_only("db2")
        assert trio.slave_status("db2")["Slave_SQL_Running"] == "Yes"
        assert topology(proxy)["primary"] == "db1"
        assert "switchover_started" not in event_kinds(proxy)
        cursor.execute("SELECT RELEASE_LOCK('fastlb_failover_db')")
    status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
    assert status == 200, reply
    assert wait_until(lambda: topology(proxy)["primary"] == "db2", SETTLE)


def test_replicas_that_lost_the_primary_while_it_lives_are_never_promoted(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("auto")
    for name in ("db2", "db3"):
        trio[name].sql("STOP SLAVE")
    trio["db1"].sql(f"INSERT INTO {TABLE} VALUES (1, 0, 0)")
    # Lagging and not replicating: out of the read pool, yet never promoted.
    assert wait_until(lambda: topology(proxy)["read_pool"] == [], SETTLE)
    rounds = 20
    for _ in range(rounds):
        time.sleep(0.2)
        assert topology(proxy)["primary"] == "db1"
    assert event_kinds(proxy) == []
    assert trio.read_only("db2") and trio.read_only("db3")


def test_a_monitor_cut_off_from_a_live_primary_does_not_promote(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("auto")
    # The monitor user locked out of the primary only (not replicated), its session ended.
    trio["db1"].sql(f"SET SESSION sql_log_bin=0; ALTER USER '{trio.monitor_user}'@'%' ACCOUNT LOCK")
    for row in trio["db1"].sql_rows("SHOW PROCESSLIST"):
        if row["User"] == trio.monitor_user:
            trio["db1"].sql(f"KILL CONNECTION {row['Id']}")
    assert wait_until(lambda: topology(proxy)["primary"] is None, SETTLE)
    for _ in range(20):  # ten times the failover's failcount
        time.sleep(0.2)
        assert topology(proxy)["primary"] is None
    assert "failover_started" not in event_kinds(proxy)
    assert trio.read_only("db2") and trio.read_only("db3")
    assert not trio.read_only("db1")


def test_mode_manual_never_promotes_on_its_own(
    trio: ReplicationTrio, start_proxy: Callable[..., FastlbProcess]
) -> None:
    proxy = start_proxy("manual")
    trio.kill9("db1")
    assert wait_until(lambda: topology(proxy)["primary"] is None, SETTLE)
    for _ in range(20):
        time.sleep(0.2)
        assert topology(proxy)["primary"] is None
    assert event_kinds(proxy) == []
    assert trio.read_only("db2") and trio.read_only("db3")


def test_check_lists_the_grants_the_monitor_user_lacks(
    trio: ReplicationTrio, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fastlb.yaml"
    path.write_text(yaml.safe_dump(fastlb_config(trio, "auto")))
    assert main(["check", "-c", str(path)]) == 0, capsys.readouterr()
    # The replication user as the monitor: it may replicate, not promote or fence.
    weak = fastlb_config(trio, "auto")
    weak["backends"][0]["mysql"]["monitor"].update(user=trio.repl_user, password=trio.repl_password)
    path.write_text(yaml.safe_dump(weak))
    assert main(["check", "-c", str(path)]) == 2
    output = capsys.readouterr()
    text = output.out + output.err
    assert "backends[0] (db).mysql.monitor.user: 'fastlb_repl' on server db1 lacks" in text
    assert "RELOAD (RESET SLAVE ALL)" in text and "READ_ONLY ADMIN" in text
