"""Active health checks against real backend processes under continuous client traffic: a
backend SIGKILLed goes DOWN without a client noticing, comes back UP after `rise` checks once
it is restarted, and an HTTP check fails on the status a backend answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .clients import wait_until
from .proc import FastlbProcess, frontend_port, listening_ports, make_config, port_of
from .traffic import (
    BackendProcess,
    Observation,
    Traffic,
    health_check,
    status_is,
    wait_server,
)

pytestmark = pytest.mark.timeout(60)

INTERVAL = 0.5
FAST_INTERVAL = 0.2
FALL = 3
RISE = 2
# Scheduling noise on a loaded 2-core machine, API polling, process start.
SLACK = 2.5


@pytest.mark.parametrize(
    ("check_type", "observe"),
    [("tcp", True), ("http", False)],
    ids=["tcp-observing", "http-checks-only"],
)
def test_killed_backend_goes_down_without_client_errors_and_comes_back(
    backend_process: Callable[[str], BackendProcess],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    check_type: str,
    observe: bool,
) -> None:
    backends = {name: backend_process(name) for name in ("a", "b", "c")}
    config = make_config(
        [{"name": n, "address": b.address, "weight": 1} for n, b in backends.items()], retries=3
    )
    extra = {"path": "/health", "expect_status": 200} if check_type == "http" else {}
    config["backends"][0]["health_check"] = health_check(
        check_type,
        interval=INTERVAL,
        fall=FALL,
        rise=RISE,
        fast_interval=FAST_INTERVAL,
        observe=observe,
        **extra,
    )
    lb = fastlb(config)
    victim = backends["b"]

    with Traffic(frontend_port(config), clients=2, pause=0.02) as traffic:
        before = traffic.wait_served("b", 5, started_after=0.0)
        assert {"a", "b", "c"} <= set(before), before
        wait_server(lb, "b", lambda s: s["check"]["status"] == "ok", 5, what="checked ok")

        dead_since = victim.kill()
        down = wait_server(
            lb, "b", status_is("DOWN"), FALL * INTERVAL + SLACK, what="DOWN after SIGKILL"
        )
        print(f"SIGKILL -> DOWN in /api/stats within {down.answered - dead_since:.3f}s")
        assert down.stats["health"] == "down", down.stats
        assert down.stats["active"] is False, down.stats
        assert down.stats["down_transitions"] == 1, down.stats
        check = down.stats["check"]
        assert check["type"] == check_type, check
        if not observe:
            # Went DOWN by its active checks alone: `fall` failures in a row, the last one's
            # reason recorded.
            assert check["status"] == "failed", check
            assert check["consecutive_failures"] >= FALL, check
            assert check["last_error"], check

        # Keep the traffic flowing a while with the server DOWN, then bring it back on the
        # same port.
        traffic.wait_total(40, started_after=down.answered)
        still_down = wait_server(lb, "b", status_is("DOWN"), 0, what="still DOWN")
        victim.start()
        restarted = time.monotonic()
        seen: list[Observation] = []
        up = wait_server(
            lb,
            "b",
            status_is("UP"),
            RISE * INTERVAL + SLACK,
            what="UP after restart",
            seen=seen,
        )
        print(f"restart -> UP in /api/stats within {up.answered - restarted:.3f}s")
        assert up.stats["down_transitions"] == 1, up.stats
        assert up.stats["check"]["status"] == "ok", up.stats
        assert up.stats["check"]["consecutive_successes"] >= RISE, up.stats
        assert up.stats["last_change"] > time.time() - (up.answered - restarted) - 1, up.stats
        # UP only after `rise` successful checks: never UP on fewer.
        early = [
            o.stats["check"]
            for o in seen
            if o.stats["status"] == "UP" and o.stats["check"]["consecutive_successes"] < RISE
        ]
        assert not early, early
        last_down = max(
            (o for o in [still_down, *seen] if o.stats["status"] == "DOWN"), key=lambda o: o.asked
        )

        back = traffic.wait_served("b", 5, started_after=up.answered)
        assert back["b"] >= 5, f"the restarted server gets no traffic: {back}"

    # While b was DOWN (from the first snapshot saying so until the last one), no connection
    # went to it, not even once it listened again.
    while_down = traffic.served(started_after=down.answered, ended_before=last_down.asked)
    assert "b" not in while_down, while_down
    assert while_down["a"] > 10 and while_down["c"] > 10, while_down

    # Every connection opened after the kill (the backend process reaped, so its listener and
    # all its sockets closed) was served: those that picked the dead server were retried on
    # another one. The only connections allowed to fail are those that started *before* that
    # instant: a client that had already been relayed to b (or whose connect the dying
    # listener had queued) loses its server mid-request, which no proxy can hide. With 2
    # client threads there are at most 2 of them.
    after = traffic.attempts(started_after=dead_since)
    failed_after = [a for a in after if a.error is not None]
    in_flight = [
        a
        for a in traffic.attempts()
        if a.error is not None and a.started < dead_since and a.ended >= dead_since - 0.5
    ]
    print(
        f"{len(after)} connections opened after the kill, {len(failed_after)} failed; "
        f"{len(in_flight)} in flight at the kill failed"
    )
    assert not failed_after, failed_after
    assert len(in_flight) <= 2, in_flight
    assert not [a for a in traffic.failures() if a not in in_flight], traffic.failures()
    assert len(after) > 60, len(after)

    frontend = lb.stats()["frontends"]["web"]
    assert frontend["no_server_errors"] == 0, frontend


def test_http_check_fails_on_status_and_recovers(
    backend_process: Callable[[str], BackendProcess],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    backends = {name: backend_process(name) for name in ("a", "b")}
    config = make_config(
        [{"name": n, "address": b.address, "weight": 1} for n, b in backends.items()]
    )
    config["backends"][0]["health_check"] = health_check(
        "http",
        interval=INTERVAL,
        fall=FALL,
        rise=RISE,
        fast_interval=FAST_INTERVAL,
        path="/health",
        expect_status=200,
    )
    lb = fastlb(config)

    with Traffic(frontend_port(config), clients=1, pause=0.02) as traffic:
        assert {"a", "b"} <= set(traffic.wait_served("b", 3, started_after=0.0))
        wait_server(lb, "b", lambda s: s["check"]["status"] == "ok", 5, what="checked ok")

        backends["b"].set_failing(True)
        failing_since = time.monotonic()
        down = wait_server(
            lb, "b", status_is("DOWN"), FALL * INTERVAL + SLACK, what="DOWN on HTTP 503"
        )
        print(f"503 -> DOWN within {down.answered - failing_since:.3f}s")
        check = down.stats["check"]
        assert check["type"] == "http", check
        assert check["status"] == "failed", check
        assert check["consecutive_failures"] >= FALL, check
        assert "503" in (check["last_error"] or ""), check
        assert down.stats["down_transitions"] == 1, down.stats

        served = traffic.wait_total(20, started_after=down.answered)
        assert set(served) == {"a"}, served

        backends["b"].set_failing(False)
        up = wait_server(lb, "b", status_is("UP"), RISE * INTERVAL + SLACK, what="UP on 200")
        assert up.stats["check"]["last_error"] is None, up.stats
        assert up.stats["check"]["consecutive_successes"] >= RISE, up.stats
        assert traffic.wait_served("b", 3, started_after=up.answered)["b"] >= 3

    # The backend process stayed up throughout: no client connection failed.
    assert not traffic.failures(), traffic.failures()


class _ReadyOnHealth(FastlbProcess):
    """Counts as started once its ports listen and `GET /api/health` answers (the stock
    readiness check polls `/api/stats`, the very thing under test)."""

    def wait_ready(self, timeout: float = 30.0) -> None:
        ports = {port_of(f["listen"]) for f in self.config["frontends"]}

        def ready() -> bool:
            if not ports <= listening_ports():
                return False
            try:
                return self.api("GET", "/api/health")[0] == 200
            except OSError:
                return False

        assert self.alive(), self.log()
        assert wait_until(ready, timeout), f"not ready after {timeout}s:\n{self.log()}"


def test_stats_answer_while_checks_are_pending(
    backend_process: Callable[[str], BackendProcess], tmp_path: Path
) -> None:
    """Until a server's first check has run its `check` is pending (type and checked_at not
    known yet): `/api/stats` must still answer 200, not fail validating its own response."""
    server = backend_process("a")
    config = make_config([{"name": "a", "address": server.address, "weight": 1}])
    config["backends"][0]["health_check"] = health_check(
        "tcp", interval=10.0, fall=FALL, rise=RISE, fast_interval=FAST_INTERVAL
    )
    lb = _ReadyOnHealth(config, tmp_path)
    try:
        lb.start()
        status, body = lb.api("GET", "/api/stats")
        assert status == 200, (status, body, lb.log()[-3000:])
        check = body["backends"]["web"]["servers"]["a"]["check"]
        assert check["status"] == "pending", check
        assert body["backends"]["web"]["servers"]["a"]["status"] == "UP", body
    finally:
        lb.close()
