"""The MySQL scenario's processes: a replicated MariaDB pair, fastlb's `mode: mysql` frontend in
front of it, and stock HAProxy's port-based twin (a writer listener to the primary, a reader
listener to the replica).

The servers are the shared harness's (fastlb.harness.replication: a real
GTID-replicated primary + read-only replica, private ports and datadirs, stopped by pid), so a
write that reached the replica would fail ("--read-only") and count as a Locust failure. Both
load balancers get their own process here, so that the scenario's "LB CPU" is the MySQL path's
alone; fastlb runs `workers: 2` and HAProxy `nbthread 2`, as in the web scenarios.
"""

from __future__ import annotations

import contextlib
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import configs
from bench.locust.mysql_workload import mysql_url, setup_sql
from fastlb.harness import haproxy
from fastlb.harness.mariadb import Template as MariaDBTemplate
from fastlb.harness.mariadb import find_binaries, install_template
from fastlb.harness.ports import free_ports
from fastlb.harness.process import fastlb_command, find_tool, spawn, stop
from fastlb.harness.replication import ReplicationPair
from fastlb.harness.waiting import wait_listening

FRONTEND = "sql"  # fastlb's frontend name (its stats in /api/stats)


@dataclass(frozen=True)
class MySQLEndpoints:
    """What the runner needs of one load balancer's MySQL side."""

    url: str  # the Locust --host (mysql_workload.parse_url)
    pid: int
    api_port: int | None  # fastlb's stats API


class MySQLTopology:
    """Starts everything on `start()`; a context manager that stops it all (by pid)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir / "mysql"
        self.workdir.mkdir()
        self._stack = ExitStack()
        self.pair: ReplicationPair | None = None

    def __enter__(self) -> MySQLTopology:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def start_servers(self) -> ReplicationPair:
        """The primary/replica pair with the workload's tables, replicated."""
        binaries = find_binaries()
        template = self.workdir / "template" / "data"
        template.parent.mkdir()
        install_template(binaries, template)
        pair = ReplicationPair(MariaDBTemplate(binaries, template), self.workdir)
        self._stack.callback(pair.close)
        try:
            pair.start()
            # The test is of the proxies, not of the disk: no fsync per commit (the machine is
            # shared, and another job's I/O would otherwise stall every write for seconds).
            for server in (pair.primary, pair.replica):
                server.sql(
                    "SET GLOBAL innodb_flush_log_at_trx_commit = 2; SET GLOBAL sync_binlog = 0"
                )
            pair.primary.sql(setup_sql(pair.database))
            pair.wait_replicated()
        except BaseException:
            with contextlib.suppress(Exception):
                print(pair.log())
            raise
        shutil.rmtree(template.parent)  # copied into each server's datadir
        self.pair = pair
        return pair

    def server_pids(self) -> list[int]:
        assert self.pair is not None
        return [self.pair.primary.pid, self.pair.replica.pid]

    def _spawn(self, name: str, argv: list[str], port: int) -> int:
        log = self.workdir / f"{name}.log"
        proc = spawn(argv, log)
        self._stack.callback(stop, proc)
        wait_listening(proc, port, log, timeout=30.0)
        return proc.pid

    def _url(self, writer_port: int, reader_port: int | None = None) -> str:
        assert self.pair is not None
        reader = f"127.0.0.1:{reader_port}" if reader_port else ""
        return mysql_url(
            f"127.0.0.1:{writer_port}",
            self.pair.app_user,
            self.pair.app_password,
            self.pair.database,
            reader,
        )

    def start_fastlb(self, name: str) -> MySQLEndpoints:
        """One `mode: mysql` frontend; fastlb splits reads (replica) from writes (primary)."""
        pair = self.pair
        assert pair is not None
        port, api_port = free_ports(2)
        config = {
            "workers": configs.THREADS,
            "api": {"listen": f"127.0.0.1:{api_port}"},
            "frontends": [
                {"name": FRONTEND, "listen": f"127.0.0.1:{port}", "mode": "mysql", "backend": "db"}
            ],
            "backends": [pair.fastlb_backend("db")],
        }
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        pid = self._spawn(name, [*fastlb_command(), "serve", "-c", str(path)], port)
        return MySQLEndpoints(self._url(port), pid, api_port)

    def start_haproxy(self, name: str) -> MySQLEndpoints:
        """Two `mode tcp` listeners: writes go to the writer port (the primary), reads to the
        reader port (the replica); the application picks the port."""
        pair = self.pair
        assert pair is not None
        writer, reader = free_ports(2)
        path = self.workdir / f"{name}.cfg"
        path.write_text(haproxy_cfg(writer, reader, pair.primary.address, pair.replica.address))
        # -db: foreground, one process (no master), so the pid is the one doing the work.
        # HAProxy binds every listener before it accepts on any: waiting for one is enough.
        pid = self._spawn(name, [find_tool("haproxy"), "-f", str(path), "-db"], writer)
        return MySQLEndpoints(self._url(writer, reader), pid, None)


def haproxy_cfg(writer_port: int, reader_port: int, primary: str, replica: str) -> str:
    """HAProxy's side of the MySQL load test: a writer port (the primary) and a reader port
    (the replica), `mode tcp`, as many threads as fastlb has workers."""
    listeners = {
        "mysql-writer": (writer_port, [("primary", primary)]),
        "mysql-reader": (reader_port, [("replica", replica)]),
    }
    return haproxy.tcp_config(listeners, configs.THREADS)
