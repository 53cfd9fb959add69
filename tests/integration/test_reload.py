"""Reloading a changed configuration (SIGHUP to `fastlb serve`, `POST /api/reload`) and adding
or removing servers through the API, under continuous traffic with real backends: established
connections are never dropped, new connections follow the new server list and weights, and a
broken file changes nothing."""

from __future__ import annotations

import copy
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from .clients import ask_name, echo_roundtrip, wait_until
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo
from .test_drain import connection_to
from .traffic import Traffic, api_ok, greeting_first_exchange

pytestmark = pytest.mark.timeout(60)


def servers_in_stats(lb: FastlbProcess) -> set[str]:
    return set(lb.stats()["backends"]["web"]["servers"])


def trigger_reload(lb: FastlbProcess, how: str) -> None:
    if how == "sighup":
        os.kill(lb.pid, signal.SIGHUP)
    else:
        answer = api_ok(lb, "POST", "/api/reload")
        assert answer["changes"], answer


def rewrite_config(lb: FastlbProcess, config: dict[str, Any]) -> None:
    lb.config_path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.mark.parametrize("how", ["sighup", "api"])
def test_reload_with_a_changed_server_list_keeps_established_connections(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    how: str,
) -> None:
    servers = {name: backend(named_echo(name), name) for name in ("a", "b", "c", "d")}
    config = make_config(
        [{"name": n, "address": servers[n].address, "weight": 1} for n in ("a", "b", "c")]
    )
    lb = fastlb(config)
    port = frontend_port(config)

    # Long-lived connections opened before the reload: to a server that stays (a) and to one
    # the new configuration removes (c).
    to_stay, _ = connection_to(port, "a")
    to_removed, _ = connection_to(port, "c")
    with to_stay, to_removed, Traffic(port, greeting_first_exchange, clients=2) as traffic:
        echo_roundtrip(to_stay, b"before a\n")
        echo_roundtrip(to_removed, b"before c\n")
        assert {"a", "b", "c"} <= set(traffic.wait_total(30, started_after=0.0))

        # New list: a stays, b gets weight 3, c goes, d comes.
        new = copy.deepcopy(config)
        new["backends"][0]["servers"] = [
            {"name": "a", "address": servers["a"].address, "weight": 1},
            {"name": "b", "address": servers["b"].address, "weight": 3},
            {"name": "d", "address": servers["d"].address, "weight": 1},
        ]
        rewrite_config(lb, new)
        trigger_reload(lb, how)
        assert wait_until(lambda: servers_in_stats(lb) == {"a", "b", "d"}, timeout=10), (
            servers_in_stats(lb),
            lb.log()[-2000:],
        )
        assert lb.stats()["backends"]["web"]["servers"]["b"]["weight"] == 3

        # Both established connections carry on, both ways.
        echo_roundtrip(to_stay, b"after the reload, a\n")
        echo_roundtrip(to_removed, b"after the reload, c\n" * 50)

        # Connections picked from the new schedule only (the reload is done: the stats show
        # the new list, and the schedule is published before that).
        after = traffic.wait_total(40, started_after=time.monotonic())
        assert set(after) == {"a", "b", "d"}, after

    assert not traffic.failures(), traffic.failures()
    assert lb.alive()
    # Sequential, whole cycles (weights 1:3:1): the new weights exactly.
    assert Counter(ask_name(port) for _ in range(10)) == {"a": 2, "b": 6, "d": 2}


@pytest.mark.parametrize("how", ["sighup", "api"])
def test_broken_config_keeps_the_running_one(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    how: str,
) -> None:
    servers = {name: backend(named_echo(name), name) for name in ("a", "b", "c")}
    config = make_config(
        [{"name": n, "address": servers[n].address, "weight": 1} for n in ("a", "b")]
    )
    lb = fastlb(config)
    port = frontend_port(config)

    established, _ = connection_to(port, "b")
    with established, Traffic(port, greeting_first_exchange, clients=1) as traffic:
        broken = copy.deepcopy(config)
        broken["backends"][0]["servers"] = [
            {"name": "a", "address": servers["a"].address, "weight": 1},
            {"name": "c", "address": servers["c"].address, "weight": 999},
        ]
        rewrite_config(lb, broken)
        if how == "api":
            status, body = lb.api("POST", "/api/reload")
            assert status == 422, (status, body)
            fields = [p["field"] for p in body["problems"]]
            assert any("servers[1]" in f and f.endswith(".weight") for f in fields), body
            assert "weight" in body["detail"], body
        else:
            os.kill(lb.pid, signal.SIGHUP)
            assert wait_until(lambda: "reload failed" in lb.log(), timeout=10), lb.log()[-2000:]
            assert "weight" in lb.log().split("reload failed", 1)[1], lb.log()[-2000:]
        assert lb.alive()

        # Nothing changed: same servers, same weights, the old list keeps serving.
        assert servers_in_stats(lb) == {"a", "b"}
        served = traffic.wait_total(20, started_after=time.monotonic())
        assert set(served) == {"a", "b"}, served
        echo_roundtrip(established, b"after the failed reload\n")

    assert not traffic.failures(), traffic.failures()
    assert Counter(ask_name(port) for _ in range(6)) == {"a": 3, "b": 3}


def test_servers_added_and_removed_through_the_api(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    servers = {name: backend(named_echo(name), name) for name in ("a", "new")}
    config = make_config([{"name": "a", "address": servers["a"].address, "weight": 1}])
    lb = fastlb(config)
    port = frontend_port(config)

    with Traffic(port, greeting_first_exchange, clients=1) as traffic:
        assert set(traffic.wait_total(10, started_after=0.0)) == {"a"}

        view = api_ok(
            lb,
            "POST",
            "/api/backends/web/servers",
            {"name": "new", "address": servers["new"].address, "weight": 1},
        )
        assert view["server"] == "new" and view["status"] == "UP", view
        added = time.monotonic()
        assert traffic.wait_served("new", 5, started_after=added)["new"] >= 5
        established: socket.socket
        established, _ = connection_to(port, "new")
        with established:
            echo_roundtrip(established, b"before the delete\n")

            status, body = lb.api("DELETE", "/api/backends/web/servers/new")
            assert status == 204, (status, body)
            removed = time.monotonic()
            accepted = servers["new"].accepted
            after = traffic.wait_total(30, started_after=removed)
            assert set(after) == {"a"}, after
            assert Counter(ask_name(port) for _ in range(5)) == {"a": 5}
            # Its established connection keeps working after the removal.
            echo_roundtrip(established, b"after the delete\n" * 50)
            assert servers["new"].accepted == accepted, "the removed server got a new connection"

        assert "new" not in servers_in_stats(lb)
        status, body = lb.api("DELETE", "/api/backends/web/servers/new")
        assert status == 404, (status, body)

    assert not traffic.failures(), traffic.failures()
