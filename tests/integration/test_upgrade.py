"""Zero-downtime upgrade: `fastlb serve --upgrade` takes over the running process's listening
sockets (SCM_RIGHTS) while wrk keep-alive clients, wrk new-connection clients and MySQL
clients keep going through it; counted from the clients' side, not one connection is
refused or lost. The new configuration changes `workers` (1 -> 2) and `api.listen`, which
a plain reload can't apply."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from fastlb.harness.background import BackgroundLoop

from . import mariadb as mariadb_helpers
from .clients import wait_until
from .http_backends import NAMED, nginx_servers
from .mariadb import Template
from .mysql_proxy import Pair, connect, proxy_config, server_id, standalone_pair
from .proc import FastlbProcess, fastlb_command, free_port, port_of

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

# Long enough for the upgrade to happen well inside the load, short enough for `make test`.
LOAD_SECONDS = 10
UPGRADE_AFTER = 3.0


@dataclass
class WrkResult:
    requests: int
    errors: dict[str, int]
    non_2xx: int


def parse_wrk(output: str) -> WrkResult:
    requests = re.search(r"(\d+) requests in", output)
    assert requests is not None, output
    errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    found = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if found:
        errors = dict(zip(errors, map(int, found.groups()), strict=True))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(int(requests.group(1)), errors, int(non_2xx.group(1)) if non_2xx else 0)


def start_upgrade(
    old: FastlbProcess, tmp_path: Path
) -> tuple[dict[str, Any], subprocess.Popen[bytes]]:
    """`fastlb serve --upgrade` with what only a restart can change (more workers, the API
    elsewhere) written over the running process's config file; the new config and process."""
    upgraded = {**old.config, "workers": 2, "api": {"listen": f"127.0.0.1:{free_port()}"}}
    old.config_path.write_text(yaml.safe_dump(upgraded, sort_keys=False))
    with (tmp_path / "upgraded.log").open("wb") as log:
        new = subprocess.Popen(
            [*fastlb_command(), "serve", "--upgrade", "-c", str(old.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return upgraded, new


def start_wrk(port: int, *headers: str, seconds: int = LOAD_SECONDS) -> subprocess.Popen[str]:
    argv = ["wrk", "-t1", "-c8", f"-d{seconds}s", "--timeout", "10s"]
    for header in headers:
        argv += ["-H", header]
    return subprocess.Popen([*argv, f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, text=True)


class MysqlClients(BackgroundLoop):
    """One long session that queries without pause (thread 0), and one client that opens a
    new connection for every query (thread 1); both count successes and errors."""

    def __init__(self, port: int) -> None:
        super().__init__("mysql-clients", threads=2, join_timeout=30)
        self.port = port
        self.ok = {"session": 0, "new_connections": 0}
        self.errors: list[str] = []

    def run(self, worker: int) -> None:
        if worker == 0:
            self._session()
        else:
            self._new_connections()

    def _session(self) -> None:
        try:
            with connect(self.port) as connection:
                while not self.stopping:
                    server_id(connection)
                    self.ok["session"] += 1
        except pymysql.MySQLError as exc:
            self.errors.append(f"session: {exc!r}")

    def _new_connections(self) -> None:
        while not self.stopping:
            try:
                with connect(self.port) as connection:
                    server_id(connection)
                self.ok["new_connections"] += 1
            except pymysql.MySQLError as exc:
                self.errors.append(f"new connection: {exc!r}")


@pytest.fixture
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with standalone_pair(mariadb_template) as started:
        yield started


def upgrade_config(pair: Pair, nginx_addresses: list[str]) -> dict[str, Any]:
    config = proxy_config(pair)
    config["workers"] = 1
    config["frontends"].append(
        {"name": "web", "listen": f"127.0.0.1:{free_port()}", "mode": "tcp", "backend": "web"}
    )
    config["backends"].append(
        {
            "name": "web",
            "servers": [
                {"name": f"web{i}", "address": address} for i, address in enumerate(nginx_addresses)
            ],
        }
    )
    return config


def test_an_upgrade_under_load_refuses_and_loses_nothing(tmp_path: Path, pair: Pair) -> None:
    with nginx_servers(tmp_path, {"a": NAMED.format(name="a"), "b": NAMED.format(name="b")}) as web:
        config = upgrade_config(pair, [server.address for server in web])
        old = FastlbProcess(config, tmp_path).start()
        new: subprocess.Popen[bytes] | None = None
        try:
            web_port = port_of(config["frontends"][1]["listen"])
            sql_port = port_of(config["frontends"][0]["listen"])
            keepalive = start_wrk(web_port)
            fresh = start_wrk(web_port, "Connection: close")
            mysql = MysqlClients(sql_port)
            mysql.start()  # stopped below, when the wrk runs have ended
            time.sleep(UPGRADE_AFTER)

            upgraded, new = start_upgrade(old, tmp_path)
            new_api = FastlbProcess(upgraded, tmp_path / "new")
            new_api.proc = new  # only for its api() helper
            # The new process serves while the load still runs: its own counters move.
            served = wait_until(
                lambda: (
                    new_api.api("GET", "/api/stats")[1]["frontends"]["web"]["total_connections"]
                    if new.poll() is None and _answers(new_api)
                    else 0
                ),
                timeout=LOAD_SECONDS,
            )
            assert served > 0

            keepalive_out, _ = keepalive.communicate(timeout=LOAD_SECONDS + 30)
            fresh_out, _ = fresh.communicate(timeout=LOAD_SECONDS + 30)
            mysql.stop()
            # The old process drained its connections and left on its own, with status 0.
            assert old.wait(timeout=60) == 0
            assert new.poll() is None, (tmp_path / "upgraded.log").read_text()

            kept, opened = parse_wrk(keepalive_out), parse_wrk(fresh_out)
            print(f"keep-alive: {kept}\nnew connections: {opened}\nmysql: {mysql.ok}")
            assert kept.errors == dict.fromkeys(kept.errors, 0), keepalive_out
            assert opened.errors == dict.fromkeys(opened.errors, 0), fresh_out
            assert kept.non_2xx == opened.non_2xx == 0
            assert kept.requests > 0 and opened.requests > 0
            assert mysql.errors == []
            assert mysql.ok["session"] > 0 and mysql.ok["new_connections"] > 0
            # Both wrk clients and the MySQL clients went through both processes: the new
            # one, running 2 workers now, answers after the old one is gone.
            stats = new_api.api("GET", "/api/stats")[1]
            assert stats["frontends"]["sql"]["total_connections"] > 0
            with connect(sql_port) as connection:
                assert server_id(connection) in (1, 2)
        finally:
            print(f"--- old fastlb ---\n{old.log()}")
            old.close()
            if new is not None:
                if new.poll() is None:
                    new.terminate()
                    new.wait(30)
                print(f"--- new fastlb ---\n{(tmp_path / 'upgraded.log').read_text()}")


# The HTTP test's load outlasts the upgrade by far: the old process must leave while it runs.
HTTP_LOAD_SECONDS = 15


class H2loadRuns:
    """h2c load: h2load runs of `REQUESTS` on `/h2` (2 connections, 10 streams each), one
    after another for `seconds`. nghttp2 1.52's h2load stops a connection at a GOAWAY and
    counts the requests it queued after it, never sent, as failed ("Process Request
    Failure"); the next run connects anew. So failures are judged from the servers' side:
    every stream forwarded to a server must have reached h2load as a success. (curl 7.88
    can't reuse an h2c connection; the Python h2 package fails on the GOAWAY's PING.)"""

    REQUESTS = 500

    def __init__(self, port: int, seconds: int) -> None:
        self.url = f"http://127.0.0.1:{port}/h2"
        self.outputs: list[str] = []
        self._until = time.monotonic() + seconds
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        argv = ["h2load", "-n", str(self.REQUESTS), "-c2", "-m10", self.url]
        while time.monotonic() < self._until:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            self.outputs.append(run.stdout + run.stderr)

    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> None:
        self._thread.join(120)

    def totals(self) -> dict[str, int]:
        totals = dict.fromkeys(("succeeded", "failed", "timeout", "2xx", "non_2xx"), 0)
        for output in self.outputs:
            found = re.search(r"(\d+) succeeded, (\d+) failed, \d+ errored, (\d+) timeout", output)
            codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output)
            assert found is not None and codes is not None, output
            succeeded, failed, timeout = map(int, found.groups())
            # A run's failures come from a GOAWAY that stopped one of its clients only.
            assert failed == 0 or "Process Request Failure" in output, output
            totals["succeeded"] += succeeded
            totals["failed"] += failed
            totals["timeout"] += timeout
            two, *others = map(int, codes.groups())
            totals["2xx"] += two
            totals["non_2xx"] += sum(others)
        return totals


def test_an_http_upgrade_under_load_loses_nothing_and_the_old_process_leaves_at_once(
    tmp_path: Path,
) -> None:
    """`mode: http` with wrk keep-alive, wrk `Connection: close` and h2c clients: the old
    process's HTTP/1.1 sessions answer their exchange in progress with `Connection: close`,
    its h2 connections get a graceful GOAWAY, and it exits while the load still runs: it
    waits neither for the clients to leave nor for its 60 s drain deadline."""
    with nginx_servers(tmp_path, {"a": NAMED.format(name="a"), "b": NAMED.format(name="b")}) as web:
        config: dict[str, Any] = {
            "workers": 1,
            "drain_timeout": "60s",
            "api": {"listen": f"127.0.0.1:{free_port()}"},
            "frontends": [
                {
                    "name": "web",
                    "listen": f"127.0.0.1:{free_port()}",
                    "mode": "http",
                    "backend": "web",
                    "http": {"h2c": True},
                }
            ],
            "backends": [
                {
                    "name": "web",
                    "servers": [
                        {"name": f"web{i}", "address": server.address}
                        for i, server in enumerate(web)
                    ],
                }
            ],
        }
        old = FastlbProcess(config, tmp_path).start()
        new: subprocess.Popen[bytes] | None = None
        try:
            port = port_of(config["frontends"][0]["listen"])
            keepalive = start_wrk(port, seconds=HTTP_LOAD_SECONDS)
            fresh = start_wrk(port, "Connection: close", seconds=HTTP_LOAD_SECONDS)
            h2 = H2loadRuns(port, seconds=HTTP_LOAD_SECONDS)
            time.sleep(UPGRADE_AFTER)

            upgraded, new = start_upgrade(old, tmp_path)
            # The old process leaves while every client is still sending.
            wait_until(
                lambda: not old.alive() or keepalive.poll() is not None,
                timeout=HTTP_LOAD_SECONDS + 30,
            )
            running = {
                "wrk keep-alive": keepalive.poll() is None,
                "wrk close": fresh.poll() is None,
                "h2c": h2.running(),
            }
            assert not old.alive(), "the old process outlived the load"
            assert all(running.values()), f"the old process stayed until the load ended: {running}"
            assert old.wait() == 0
            assert new.poll() is None, (tmp_path / "upgraded.log").read_text()

            keepalive_out, _ = keepalive.communicate(timeout=HTTP_LOAD_SECONDS + 30)
            fresh_out, _ = fresh.communicate(timeout=HTTP_LOAD_SECONDS + 30)
            h2.join()
            kept, opened = parse_wrk(keepalive_out), parse_wrk(fresh_out)
            print(f"keep-alive: {kept}\nnew connections: {opened}\nh2c: {h2.totals()}")
            assert kept.errors == dict.fromkeys(kept.errors, 0), keepalive_out
            assert opened.errors == dict.fromkeys(opened.errors, 0), fresh_out
            assert kept.non_2xx == opened.non_2xx == 0
            assert kept.requests > 0 and opened.requests > 0
            streams = h2.totals()
            assert streams["timeout"] == streams["non_2xx"] == 0, h2.outputs
            assert streams["2xx"] == streams["succeeded"] > 0, h2.outputs
            # Every h2 request that reached a server came back to h2load as a success.
            forwarded = wait_until(
                lambda: (
                    n
                    if (n := sum(" /h2 " in line for server in web for line in server.lines()))
                    >= streams["succeeded"]
                    else 0
                ),
                timeout=10,
            )
            assert forwarded == streams["succeeded"], streams
            # All three kinds of client went on through the new process.
            new_api = FastlbProcess(upgraded, tmp_path / "new")
            new_api.proc = new  # only for its api() helper
            http = new_api.api("GET", "/api/stats")[1]["frontends"]["web"]["http"]
            assert http["h2_connections"] > 0 and http["requests"] > 0
        finally:
            print(f"--- old fastlb ---\n{old.log()}")
            old.close()
            if new is not None:
                if new.poll() is None:
                    new.terminate()
                    new.wait(30)
                print(f"--- new fastlb ---\n{(tmp_path / 'upgraded.log').read_text()}")


def _answers(process: FastlbProcess) -> bool:
    try:
        return process.api("GET", "/api/stats")[0] == 200
    except OSError:
        return False


def test_upgrade_without_a_running_process_fails_with_status_1(tmp_path: Path) -> None:
    config = {
        "frontends": [{"name": "web", "listen": f"127.0.0.1:{free_port()}", "backend": "web"}],
        "backends": [{"name": "web", "servers": [{"name": "a", "address": "127.0.0.1:9"}]}],
    }
    path = tmp_path / "fastlb.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [*fastlb_command(), "serve", "--upgrade", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no running fastlb to take over" in result.stderr
