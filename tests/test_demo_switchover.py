"""`fastlb demo --switchover-after N`: the demo's MariaDB pair has `mysql.failover`; the
demo switches its primary over by itself, and the `fastlb ctl mysql switchover` command its
banner prints switches it back. Writes through the demo's port land where the banner says."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess

import pymysql
from demo_checks import STOP_TIMEOUT, is_mariadbd, mariadbd_children, stop_demo

from support import fastlb_command


def written_on(port: int, note: str) -> int:
    """INSERT through fastlb; the @@server_id of the server that ran it."""
    db = pymysql.connect(
        host="127.0.0.1", port=port, user="demo", password="demo", database="demo", autocommit=True
    )
    with db, db.cursor() as cursor:
        cursor.execute("INSERT INTO notes (note, written_on) VALUES (%s, @@server_id)", (note,))
        cursor.execute("SELECT written_on FROM notes WHERE note = %s", (note,))
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    text = ""
    while marker not in text:
        line = process.stdout.readline()
        assert line, f"demo exited early: {text}{process.communicate()}"
        text += line
    return text


def test_demo_switches_over_and_the_printed_command_switches_back() -> None:
    process = subprocess.Popen(
        [*fastlb_command(), "demo", "--duration", "40", "--switchover-after", "1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mariadbds: dict[int, str] = {}
    try:
        banner = read_until(process, "Ctrl-C")
        mariadbds = mariadbd_children(process.pid)
        api = re.search(r"curl (http://127\.0\.0\.1:\d+)/api/stats", banner)
        port = re.search(r"mariadb -h 127\.0\.0\.1 -P (\d+) -u demo", banner)
        printed = re.search(r"  switchover: (fastlb ctl mysql switchover db --api \S+)\n", banner)
        assert api and port and printed, banner
        assert written_on(int(port[1]), "before") == 1

        done = read_until(process, "is the primary now")
        line = done.splitlines()[-1]
        assert "switchover: db-replica is the primary now (was db-primary)" in line, line
        assert "none lost" in line and "GTID 0-" in line, line
        assert written_on(int(port[1]), "after") == 2

        # The printed command, as a user would paste it: back to the first server.
        argv = shlex.split(printed[1])
        result = subprocess.run(
            [*fastlb_command(), *argv[1:]], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "db-primary" in result.stdout, result.stdout
        assert written_on(int(port[1]), "back") == 1

        os.kill(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=STOP_TIMEOUT)
        assert process.returncode == 0, stderr
        assert "mysql db: promoted: db-replica promoted by switchover" in stderr, stderr
        assert not [pid for pid in mariadbds if is_mariadbd(pid)], "mariadbd left running"
    finally:
        stop_demo(process, mariadbds)
