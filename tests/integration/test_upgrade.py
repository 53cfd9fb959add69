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


def start_wrk(port: int, *headers: str) -> subprocess.Popen[str]:
    argv = ["wrk", "-t1", "-c8", f"-d{LOAD_SECONDS}s", "--timeout", "10s"]
    for header in headers:
        argv += ["-H", header]
    return subprocess.Popen([*argv, f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, text=True)


class MysqlClients:
    """One long session that queries without pause, and one client that opens a new
    connection for every query; both count successes and errors."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ok = {"session": 0, "new_connections": 0}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._session, daemon=True),
            threading.Thread(target=self._new_connections, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _session(self) -> None:
        try:
            with connect(self.port) as connection:
                while not self._stop.is_set():
                    server_id(connection)
                    self.ok["session"] += 1
        except pymysql.MySQLError as exc:
            self.errors.append(f"session: {exc!r}")

    def _new_connections(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(self.port) as connection:
                    server_id(connection)
                self.ok["new_connections"] += 1
            except pymysql.MySQLError as exc:
                self.errors.append(f"new connection: {exc!r}")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


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
            time.sleep(UPGRADE_AFTER)

            # What only a restart can change: more workers, the API elsewhere.
            upgraded = {**config, "workers": 2, "api": {"listen": f"127.0.0.1:{free_port()}"}}
            old.config_path.write_text(yaml.safe_dump(upgraded, sort_keys=False))
            with (tmp_path / "upgraded.log").open("wb") as log:
                new = subprocess.Popen(
                    [*fastlb_command(), "serve", "--upgrade", "-c", str(old.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
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
