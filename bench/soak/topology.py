"""The soak's processes: two nginx web servers, two TCP echo servers, a replicated MariaDB pair,
and `fastlb serve` in front of them with one frontend per kind of traffic.

Every part is the shared harness's (fastlb.harness: `Nginx`, `BackendProcess`,
`FastlbProcess`; the MariaDB pair through the load test's MySQL topology, which fills the tables the
MySQL clients query), on free loopback ports, stopped by pid.
"""

from __future__ import annotations

import contextlib
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.locust.mysql_topology import MySQLTopology
from fastlb.harness.backends.echo_process import BackendProcess
from fastlb.harness.backends.nginx import NAMED, Nginx
from fastlb.harness.ports import free_port
from fastlb.harness.process import FastlbProcess
from fastlb.harness.replication import ReplicationPair

WEB, TCP, DB = "web", "tcp", "db"
# The servers whose weight the operations change: by the API (web) and by reloads (tcp).
WEIGHTED_SERVER = "web-2"
RELOADED_SERVER = "tcp-2"
# Long enough for a bulk stream or a recycled MySQL session to finish while an old process
# drains after an upgrade; the soak's clients never hold a connection longer than a few s.
DRAIN_TIMEOUT_S = 30
HEALTH_CHECK = {"type": "tcp", "interval": "1s", "timeout": "1s", "rise": 1, "fall": 2}


@dataclass(frozen=True)
class Endpoints:
    """Where the clients connect (fastlb's frontends) and how they log in to MySQL."""

    http_port: int
    tcp_port: int
    mysql_port: int
    mysql_user: str
    mysql_password: str
    database: str


class SoakTopology:
    """Starts every process on `start()`; a context manager that stops them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stack = ExitStack()
        self.web: list[Nginx] = []
        self.tcp: list[BackendProcess] = []
        self.pair: ReplicationPair | None = None
        self.fastlb: FastlbProcess | None = None
        self.reloaded_weight = 1

    def __enter__(self) -> SoakTopology:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # --- start -----------------------------------------------------------------------------

    def start(self) -> SoakTopology:
        for i in (1, 2):
            name = f"web-{i}"
            server = Nginx(self.workdir / name, name, NAMED.format(name=name))
            self._stack.callback(server.close)
            self.web.append(server)
        for i in (1, 2):
            backend = BackendProcess(f"tcp-{i}", free_port())
            self._stack.callback(backend.close)
            self.tcp.append(backend.start())
        mysql = self._stack.enter_context(MySQLTopology(self.workdir))
        self.pair = mysql.start_servers()
        self.fastlb = self.start_fastlb(self.config())
        return self

    def start_fastlb(self, config: dict[str, Any]) -> FastlbProcess:
        workdir = self.workdir / "fastlb"
        workdir.mkdir()
        process = FastlbProcess(config, workdir)
        self._stack.callback(process.close)
        return process.start()

    def adopt(self, process: FastlbProcess) -> None:
        """From now on `process` is fastlb (after an upgrade); stopped at the end too."""
        self._stack.callback(process.close)
        self.fastlb = process

    def config(self) -> dict[str, Any]:
        pair = self.pair
        assert pair is not None
        return {
            "workers": 2,
            "drain_timeout": f"{DRAIN_TIMEOUT_S}s",
            "api": {"listen": f"127.0.0.1:{free_port()}"},
            "frontends": [
                {
                    "name": "http",
                    "listen": f"127.0.0.1:{free_port()}",
                    "mode": "http",
                    "backend": WEB,
                },
                {
                    "name": "bulk",
                    "listen": f"127.0.0.1:{free_port()}",
                    "mode": "tcp",
                    "backend": TCP,
                },
                {
                    "name": "sql",
                    "listen": f"127.0.0.1:{free_port()}",
                    "mode": "mysql",
                    "backend": DB,
                },
            ],
            "backends": [
                {
                    "name": WEB,
                    "health_check": HEALTH_CHECK,
                    "servers": [
                        {"name": s.name, "address": s.address, "weight": 3 if i == 0 else 1}
                        for i, s in enumerate(self.web)
                    ],
                },
                {
                    "name": TCP,
                    "health_check": HEALTH_CHECK,
                    "servers": [
                        {"name": b.name, "address": b.address, "weight": 1} for b in self.tcp
                    ],
                },
                pair.fastlb_backend(DB),
            ],
        }

    # --- what the operations and clients need ----------------------------------------------

    @property
    def process(self) -> FastlbProcess:
        assert self.fastlb is not None, "not started"
        return self.fastlb

    def endpoints(self) -> Endpoints:
        pair = self.pair
        assert pair is not None
        ports = {
            f["name"]: int(f["listen"].rsplit(":", 1)[1]) for f in self.process.config["frontends"]
        }
        return Endpoints(
            ports["http"],
            ports["bulk"],
            ports["sql"],
            pair.app_user,
            pair.app_password,
            pair.database,
        )

    @property
    def api_url(self) -> str:
        url = self.process.api_url
        assert url is not None
        return url

    def rewrite_config_for_reload(self) -> int:
        """Writes the config file again with `RELOADED_SERVER`'s weight toggled between 1 and
        2 (so that each reload changes something); returns the weight written."""
        self.reloaded_weight = 2 if self.reloaded_weight == 1 else 1
        config = self.process.config
        for backend in config["backends"]:
            for server in backend["servers"]:
                if server["name"] == RELOADED_SERVER:
                    server["weight"] = self.reloaded_weight
        self.process.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.reloaded_weight

    def restart_backend(self, target: str) -> None:
        """Restarts the second server of `target` ("web", "tcp" or "mysql") on its port:
        nginx gracefully, the TCP echo server killed (a crash), the MariaDB replica cleanly."""
        if target == "web":
            self.web[1].restart()
        elif target == "tcp":
            self.tcp[1].kill()
            self.tcp[1].start()
        elif target == "mysql":
            assert self.pair is not None
            self.pair.stop_replica()
            self.pair.start_replica()
        else:
            raise ValueError(f"no backend {target!r}")

    def logs(self) -> str:
        parts = [f"--- fastlb ({self.process.log_path}) ---\n{self.process.log()[-4000:]}"]
        if self.pair is not None:
            with contextlib.suppress(OSError):
                parts.append(self.pair.log()[-4000:])
        return "\n".join(parts)
