"""Backup servers under continuous traffic with real, killable backend processes: when every
primary server dies the backup (or, with `all_backups`, every backup) serves each new
connection; when a primary returns, new connections go back to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from .proc import FastlbProcess, frontend_port, make_config
from .traffic import BackendProcess, Traffic, health_check, status_is, wait_server

pytestmark = pytest.mark.timeout(60)

INTERVAL = 0.5
FALL = 3
RISE = 2
SLACK = 2.5


@pytest.mark.parametrize("all_backups", [False, True], ids=["first-backup", "all-backups"])
def test_backups_serve_while_all_primaries_are_dead(
    backend_process: Callable[[str], BackendProcess],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    all_backups: bool,
) -> None:
    roles = {"p1": False, "p2": False, "s1": True, "s2": True}
    procs = {name: backend_process(name) for name in roles}
    config = make_config(
        [
            {"name": n, "address": procs[n].address, "weight": 1, "backup": backup}
            for n, backup in roles.items()
        ],
        retries=3,
    )
    config["backends"][0]["all_backups"] = all_backups
    config["backends"][0]["health_check"] = health_check(
        "tcp", interval=INTERVAL, fall=FALL, rise=RISE, fast_interval=0.2
    )
    lb = fastlb(config)

    with Traffic(frontend_port(config), clients=2, pause=0.02) as traffic:
        served = traffic.wait_total(30, started_after=0.0)
        assert set(served) == {"p1", "p2"}, f"backups took traffic with primaries up: {served}"

        # Every primary dies (both reaped before `dead_since`).
        procs["p1"].kill()
        dead_since = procs["p2"].kill()
        for name in ("p1", "p2"):
            wait_server(lb, name, status_is("DOWN"), FALL * INTERVAL + SLACK, what="DOWN")
        all_down = time.monotonic()
        backups = traffic.wait_total(40, started_after=all_down)
        expected = {"s1", "s2"} if all_backups else {"s1"}
        assert set(backups) == expected, backups
        if all_backups:
            # Round robin over the two backups (weight 1 each): an even share, give or take
            # the two client threads interleaving.
            assert abs(backups["s1"] - backups["s2"]) <= 4, backups
        backup_stats = lb.stats()["backends"]["web"]["servers"]
        assert backup_stats["s1"]["status"] == "UP", backup_stats["s1"]

        # One primary returns: new connections go back to it, not to the backups.
        procs["p1"].start()
        up = wait_server(lb, "p1", status_is("UP"), RISE * INTERVAL + SLACK, what="UP")
        back = traffic.wait_total(40, started_after=up.answered)
        assert set(back) == {"p1"}, back

    # Connections opened after the primaries' death were all served (first by retries while
    # the dead primaries were not yet DOWN, then by the backup); only connections in flight
    # at a kill may have failed (the server they were relayed to vanished, or, started while
    # p2 was being killed, found no server), at most one per client thread and kill. The
    # frontend's `no_server_errors` can't tell those apart from later ones: the client-side
    # record is the measure here.
    after = traffic.attempts(started_after=dead_since)
    failed_after = [a for a in after if a.error is not None]
    failed_before = [a for a in traffic.failures() if a.started < dead_since]
    print(
        f"{len(after)} connections after the kills, {len(failed_after)} failed; "
        f"{len(failed_before)} in flight at the kills failed"
    )
    stats = lb.stats()
    counters = {
        name: {k: s[k] for k in ("connect_errors", "retries", "down_transitions")}
        for name, s in stats["backends"]["web"]["servers"].items()
    }
    assert not failed_after, (
        [f"{a.started - dead_since:+.3f}s after the kill: {a.error}" for a in failed_after],
        stats["frontends"]["web"],
        counters,
    )
    assert len(failed_before) <= 4, failed_before
