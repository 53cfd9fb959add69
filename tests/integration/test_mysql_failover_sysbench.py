"""A switchover under sysbench `oltp_read_write` through fastlb, against the real MariaDB trio:
the errors sysbench sees all fall inside the switchover (none before, none after), and no row
is lost or duplicated (`CHECKSUM TABLE` equal on the three servers, row counts unchanged).

sysbench runs with `--mysql-ignore-errors=all`, so an error restarts the transaction (and a
lost connection reconnects) instead of ending the run; sysbench counts them ("ignored
errors"), and a small Lua wrapper around the stock oltp_read_write.lua writes the wall-clock
time of each one, so that each can be placed against the switchover's window. Errors inside
the window are expected and allowed: sessions that were in a transaction on the old primary
are killed (the issue: "an error, never a silent retry").
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from . import mariadb as mariadb_helpers
from . import replication_trio
from .clients import wait_until
from .mysql_proxy import running_proxy, sql_port
from .replication_trio import NAMES, ReplicationTrio, fastlb_config

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
make_trio_fixture = replication_trio.make_trio_fixture
trio_fixture = replication_trio.trio_fixture

pytestmark = pytest.mark.timeout(240)

# Little contention, as in test_mysql_sysbench.py: sysbench's own deadlocks (1213) between
# its threads would be errors that are not the switchover's.
TABLES, TABLE_SIZE, THREADS = 4, 10000, 2
# A few seconds of load around the switchover (bounded: --time).
LOAD_SECONDS = 8
# After the switchover returns, a session held at the gate or killed on the old primary
# learns of it with its next round trip; beyond this, an error is not the switchover's.
GRACE = 0.5

# oltp_read_write unchanged, plus: each ignored error's CLOCK_REALTIME time, errno and state.
ERROR_CLOCK_LUA = """\
dofile("/usr/share/sysbench/oltp_read_write.lua")
local ffi = require("ffi")
ffi.cdef[[
struct fastlb_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clk_id, struct fastlb_timespec *tp);
]]
local restart = sysbench.hooks.before_restart_event
function sysbench.hooks.before_restart_event(err)
  local now = ffi.new("struct fastlb_timespec")
  ffi.C.clock_gettime(0, now)
  io.stderr:write(string.format("ignored-error %d.%09d %s %s\\n", tonumber(now.tv_sec),
    tonumber(now.tv_nsec), tostring(err.sql_errno), tostring(err.sql_state)))
  io.stderr:flush()
  restart(err)
end
"""


def sysbench(trio: ReplicationTrio, port: int, script: str, command: str, *extra: str) -> list[str]:
    return [
        "sysbench",
        script,
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        f"--mysql-port={port}",
        f"--mysql-user={trio.app_user}",
        f"--mysql-password={trio.app_password}",
        f"--mysql-db={trio.database}",
        f"--tables={TABLES}",
        f"--table-size={TABLE_SIZE}",
        *extra,
        command,
    ]


def test_switchover_under_sysbench_errors_only_inside_the_hold_and_no_row_lost(
    trio: ReplicationTrio, tmp_path: Path
) -> None:
    prepared = subprocess.run(
        sysbench(trio, trio["db1"].port, "oltp_read_write", "prepare"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    trio.wait_replicated("db1")
    script = tmp_path / "oltp_read_write_error_clock.lua"
    script.write_text(ERROR_CLOCK_LUA)
    (tmp_path / "lb").mkdir()
    with running_proxy(fastlb_config(trio, "manual"), tmp_path / "lb") as proxy:
        argv = sysbench(
            trio,
            sql_port(proxy),
            str(script),
            "run",
            f"--threads={THREADS}",
            f"--time={LOAD_SECONDS}",
            "--db-ps-mode=auto",
            "--mysql-ignore-errors=all",
        )
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:

            def primary_queries() -> int:
                servers = proxy.stats()["backends"]["db"]["servers"]
                return int(servers["db1"]["mysql"]["queries"])

            # Under way: sysbench's transactions reach the primary.
            assert wait_until(lambda: primary_queries() > 500, 30), load.poll()
            window_start = time.time()
            status, reply = proxy.api("POST", "/api/mysql/db/switchover", {"to": "db2"})
            window_end = time.time() + GRACE
            assert status == 200, reply
            stdout, stderr = load.communicate(timeout=LOAD_SECONDS + 60)
        finally:
            if load.poll() is None:
                load.kill()
                load.communicate()
        assert load.returncode == 0, stdout + stderr
        served = proxy.stats()["backends"]["db"]["servers"]["db2"]["mysql"]["queries"]

    errors = [line.split() for line in stderr.splitlines() if line.startswith("ignored-error ")]
    ignored = re.search(r"ignored errors:\s+(\d+)", stdout)
    transactions = re.search(r"transactions:\s+(\d+)", stdout)
    assert ignored and transactions, stdout
    # Every error sysbench counted was seen by the wrapper (the clock misses none).
    assert len(errors) == int(ignored[1]), (errors, stdout)
    outside = [e for e in errors if not window_start <= float(e[1]) <= window_end]
    print(
        f"switchover held writes {reply['write_pause_seconds'] * 1000:.0f} ms; "
        f"{transactions[1]} transactions; errors {[(e[2], e[3]) for e in errors]}"
    )
    assert outside == [], (
        f"errors outside the switchover window {window_start:.3f}..{window_end:.3f}: {outside}"
    )
    # The load went on against the new primary after the switchover.
    assert served > 0

    # No row lost or duplicated: the same tables on all three servers, as many rows as
    # prepared (each oltp_read_write transaction deletes a row and inserts it again).
    trio.wait_replicating_from("db1", "db2")
    trio.wait_replicating_from("db3", "db2")
    trio.wait_replicated("db2")
    for table in (f"{trio.database}.sbtest{n}" for n in range(1, TABLES + 1)):
        checksums = trio.checksums(table)
        assert set(checksums) == set(NAMES)
        assert len(set(checksums.values())) == 1, (table, checksums)
        for name in NAMES:
            count = trio[name].sql(f"SELECT COUNT(*) FROM {table}").strip()
            assert count == str(TABLE_SIZE), (table, name, count)
