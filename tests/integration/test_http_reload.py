"""Reloads, weight changes and operator states under HTTP keep-alive load, with real nginx
servers: SIGHUP reloads (a new route, a new weight) and `PUT .../servers/{s}` weights while
clients keep sending requests on long-lived connections — no client ever sees an error,
and the per-request choice follows the new weights and routes afterwards; a drained or
maintenance server's share drops to zero under load, again without an error."""

from __future__ import annotations

import copy
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastlb.harness.background import BackgroundLoop

from .clients import wait_until
from .http_backends import NAMED, http_config, nginx_servers, read_response
from .proc import FastlbProcess, frontend_port
from .traffic import api_ok

Start = Callable[[dict[str, Any]], FastlbProcess]

pytestmark = pytest.mark.timeout(90)


class Load(BackgroundLoop):
    """`clients` threads, each one keep-alive connection sending GETs (alternating between
    `paths`) until the `with` block ends or `limit` seconds; every answer is recorded with
    the time its request was sent, anything but a 200 (or a broken connection) is an error."""

    def __init__(self, port: int, paths: list[str], clients: int = 3, limit: float = 30.0):
        super().__init__("load", threads=clients, join_timeout=10)
        self.port, self.paths, self.limit = port, paths, limit
        self.lock = threading.Lock()
        self.answers: list[tuple[float, str, str]] = []  # (sent at, path, body)
        self.errors: list[str] = []

    def run(self, worker: int) -> None:
        deadline = time.monotonic() + self.limit
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                buffer = bytearray()
                sent = 0
                while not self.stopping and time.monotonic() < deadline:
                    path = self.paths[sent % len(self.paths)]
                    sent += 1
                    at = time.monotonic()
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                    response = read_response(sock, buffer)
                    with self.lock:
                        if response.status != 200:
                            self.errors.append(f"{path}: {response.status} {response.body!r}")
                        self.answers.append((at, path, response.body.decode()))
        except OSError as error:
            with self.lock:
                self.errors.append(repr(error))

    def since(self, moment: float, path: str | None = None) -> Counter[str]:
        with self.lock:
            return Counter(
                body for at, p, body in self.answers if at > moment and (path is None or p == path)
            )

    def wait_answers(self, moment: float, count: int, path: str | None = None) -> Counter[str]:
        """The answers to requests sent after `moment` once there are `count` of them."""
        assert wait_until(lambda: sum(self.since(moment, path).values()) >= count, timeout=20)
        return self.since(moment, path)


def share(answers: Counter[str], name: str) -> float:
    return answers[name] / sum(answers.values())


def sequence(port: int, path: str, n: int) -> Counter[str]:
    """`n` GETs on one new keep-alive connection: which server answered each."""
    bodies: Counter[str] = Counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        buffer = bytearray()
        for _ in range(n):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            response = read_response(sock, buffer)
            assert response.status == 200, response.body
            bodies[response.body.decode()] += 1
    return bodies


def weights(lb: FastlbProcess) -> dict[str, int]:
    servers = lb.stats()["backends"]["web"]["servers"]
    return {name: server["weight"] for name, server in servers.items()}


def two_backend_config(servers: dict[str, str]) -> dict[str, Any]:
    """Backend `web` (a, b: weight 1 each) as the default; backend `other` (c) unrouted."""
    config = http_config(
        [{"name": n, "address": servers[n], "weight": 1} for n in ("a", "b")], workers=2
    )
    config["backends"].append(
        {"name": "other", "servers": [{"name": "c", "address": servers["c"]}]}
    )
    return config


def test_sighup_and_api_weight_changes_under_keep_alive_load(tmp_path: Path, fastlb: Start) -> None:
    specs = {name: NAMED.format(name=name) for name in ("a", "b", "c")}
    with nginx_servers(tmp_path, specs) as started:
        servers = {server.name: server.address for server in started}
        config = two_backend_config(servers)
        lb = fastlb(config)
        port = frontend_port(config)
        with Load(port, ["/", "/r/x"]) as traffic:
            before = traffic.wait_answers(0.0, 100)
            assert set(before) == {"a", "b"}, before

            # SIGHUP: /r/ now goes to backend `other`, b's weight goes to 3.
            new = copy.deepcopy(config)
            new["backends"][0]["servers"][1]["weight"] = 3
            new["frontends"][0]["http"]["routes"] = [
                {"match": {"path_prefix": "/r/"}, "backend": "other"}
            ]
            lb.config_path.write_text(yaml.safe_dump(new, sort_keys=False))
            os.kill(lb.pid, signal.SIGHUP)
            assert wait_until(lambda: weights(lb) == {"a": 1, "b": 3}, timeout=10), lb.log()
            reloaded = time.monotonic()
            # Every client shares the schedule: the share of requests sent after the
            # reload follows 1:3 (whole cycles, up to the ones in flight at each end).
            assert share(traffic.wait_answers(reloaded, 300, "/"), "b") == pytest.approx(
                0.75, abs=0.04
            )
            # /r/ now goes to `other`, on the long-lived connections and on new ones.
            assert set(traffic.since(reloaded, "/r/x")) == {"c"}
            assert sequence(port, "/r/x", 8) == {"c": 8}

            # Runtime weight through the API, still under load.
            api_ok(lb, "PUT", "/api/backends/web/servers/a", {"weight": 5})
            assert weights(lb) == {"a": 5, "b": 3}
            changed = time.monotonic()
            assert share(traffic.wait_answers(changed, 400, "/"), "a") == pytest.approx(
                5 / 8, abs=0.04
            )

        assert traffic.errors == [], traffic.errors
        assert lb.alive()
        # Without concurrent clients, one connection gets whole 5:3 cycles exactly.
        assert sequence(port, "/", 80) == {"a": 50, "b": 30}


@pytest.mark.parametrize("state", ["drain", "maint"])
def test_drained_server_share_drops_to_zero_under_load(
    tmp_path: Path, fastlb: Start, state: str
) -> None:
    specs = {name: NAMED.format(name=name) for name in ("a", "b")}
    with nginx_servers(tmp_path, specs) as (a, b):
        config = http_config(
            [{"name": "a", "address": a.address}, {"name": "b", "address": b.address}],
            workers=2,
        )
        lb = fastlb(config)
        port = frontend_port(config)
        with Load(port, ["/"], clients=4) as traffic:
            assert set(traffic.wait_answers(0.0, 100)) == {"a", "b"}
            view = api_ok(lb, "PUT", "/api/backends/web/servers/b", {"state": state})
            assert view["state"] == state, view
            changed = time.monotonic()
            # Requests sent after the API answered: never b, on the same keep-alive
            # connections (per-request balancing; the pooled b connections stay idle).
            after = traffic.wait_answers(changed, 200)
            assert after == {"a": after["a"]}, after
            api_ok(lb, "PUT", "/api/backends/web/servers/b", {"state": "ready"})
            restored = time.monotonic()
            assert set(traffic.wait_answers(restored, 100)) == {"a", "b"}
        assert traffic.errors == [], traffic.errors
        assert lb.alive()
