"""`fastlb serve --upgrade` on a BGP node, against a real FRR router in network namespaces:
the router keeps the node's route through the hand-over (graceful restart: the old speaker
ends without a Cease, the new one takes the session over), so the virtual IP never leaves
its FIB and new connections keep being served. lb1 is the only node: a route the router
dropped would show as refused traffic, not as traffic that went to another node.

A plain stop still withdraws at once: the node runs with a 60 s restart time, and its route
must be gone long before that (what a stale, retained route would take)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from typing import Any

import pytest

from fastlb.harness.background import BackgroundLoop
from fastlb.harness.bgp_fleet import PORT, VIP, BgpNode, Fleet
from fastlb.harness.process import fastlb_command
from fastlb.harness.waiting import wait_for as wait_until

# Far above the expected figures (~1-2 s for the new session): only "it happened".
CONVERGE = 15.0
# Longer than CONVERGE: a route the router kept as stale would outlive the convergence bound.
RESTART_TIME = "60s"
SAMPLE_SECONDS = 0.05
# A new connection to the VIP every 20 ms. A missing route fails at once (the router answers
# "no route"); the timeout is generous because two fastlb processes and a speaker start on
# two shared cores meanwhile, and a slow answer is not a lost one.
PROBE_INTERVAL = 0.02
PROBE_TIMEOUT = 2.0


class RouteSamples(BackgroundLoop):
    """The router's FIB entry for the VIP, read every 50 ms in a thread: each sample is the
    set of nodes it sends the VIP to."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__("route-samples")
        self._fleet = fleet
        self.samples: list[set[str]] = []

    def run(self, worker: int) -> None:
        while not self.pause(SAMPLE_SECONDS):
            self.samples.append(self._fleet.next_hops())


class Probes(BackgroundLoop):
    """From the client: one GET on a new connection to the VIP every 20 ms; the failures are
    kept with their error."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__("probes", join_timeout=PROBE_TIMEOUT + 5)
        self._fleet = fleet
        self.answers = 0
        self.failures: list[str] = []

    def run(self, worker: int) -> None:
        self._fleet.lab.enter("client")
        while not self.pause(PROBE_INTERVAL):
            try:
                with socket.create_connection((VIP, PORT), timeout=PROBE_TIMEOUT) as conn:
                    conn.sendall(f"GET / HTTP/1.1\r\nHost: {VIP}\r\n\r\n".encode())
                    reply = b""
                    while not reply.endswith(b"lb1"):
                        chunk = conn.recv(4096)
                        if not chunk:
                            raise ConnectionError(f"closed after {reply!r}")
                        reply += chunk
                self.answers += 1
            except OSError as exc:
                self.failures.append(repr(exc))

    def wait_answers(self, count: int) -> None:
        target = self.answers + count
        wait_until(lambda: self.answers >= target, CONVERGE, f"{count} answers via {VIP}")


def router_paths(fleet: Fleet) -> list[dict[str, Any]]:
    """The router's BGP paths for the VIP (FRR's JSON: `stale` is set on a retained one)."""
    paths: list[dict[str, Any]] = json.loads(fleet.vtysh(f"show ip bgp {VIP}/32 json")).get(
        "paths", []
    )
    return paths


def upgrade(fleet: Fleet, node: BgpNode) -> subprocess.Popen[bytes]:
    """`fastlb serve --upgrade` with the node's configuration, in its namespace (its output
    appended to the node's log); the node's process from now on."""
    argv = [*fastlb_command(), "serve", "--upgrade", "-c", str(node.config_path)]
    new = fleet.lab.spawn(node.name, argv, node.log_path)
    return new


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("speaker", ["bird", "exabgp"])
def test_an_upgrade_keeps_the_route_and_the_traffic(lone_node_fleet: Fleet, speaker: str) -> None:
    fleet = lone_node_fleet
    lb1 = fleet.node("lb1", speaker=speaker, graceful_restart_time=RESTART_TIME).start()
    lb1.wait_established()
    wait_until(lambda: fleet.next_hops() == {"lb1"}, CONVERGE, "lb1 in the router's FIB")
    before = lb1.bgp()
    assert before["graceful_restart_time"] == 60.0
    old, old_speaker = lb1.proc, before["speaker_pid"]
    assert old is not None and alive(old_speaker)
    # The router negotiated graceful restart with the node (it is a helper by default).
    neighbor = json.loads(fleet.vtysh("show bgp neighbors 10.78.0.11 json"))["10.78.0.11"]
    assert neighbor["gracefulRestartInfo"]["remoteGrMode"] == "Restart", neighbor[
        "gracefulRestartInfo"
    ]

    with RouteSamples(fleet) as routes, Probes(fleet) as probes:
        probes.wait_answers(10)
        lb1.proc = new = upgrade(fleet, lb1)
        # The old process hands over, drains and exits cleanly; its speaker is gone.
        assert old.wait(60) == 0, lb1.log()
        wait_until(lambda: not alive(old_speaker), 5.0, "the old speaker is gone")

        def new_speaker_announces() -> bool:
            assert new.poll() is None, lb1.log()
            try:
                bgp = lb1.bgp()
            except (OSError, ValueError, KeyError):
                return False
            return bool(
                bgp["speaker_pid"] not in (None, old_speaker)
                and bgp["state"] == "announced"
                and bgp["peers"][0]["state"] == "established"
            )

        wait_until(new_speaker_announces, CONVERGE, "the new process's speaker announces")
        # The router took the new session's routes (End-of-RIB cleared the stale flag).
        wait_until(
            lambda: [p.get("stale", False) for p in router_paths(fleet)] == [False],
            CONVERGE,
            "one fresh path to the VIP at the router",
        )
        probes.wait_answers(20)
    after = lb1.bgp()
    print(
        f"{speaker}: {len(routes.samples)} route samples, {probes.answers} answers, "
        f"{len(probes.failures)} failed {probes.failures[:3]}"
    )
    assert routes.samples and all(hops == {"lb1"} for hops in routes.samples), routes.samples
    assert probes.failures == []
    assert alive(after["speaker_pid"]) and after["speaker_pid"] != old_speaker
    # The upgraded process kept its announcement: nothing was withdrawn on either side.
    assert all(event["action"] == "announce" for event in after["history"]), after["history"]

    # A plain stop still withdraws at once (no stale route for the 60 s restart time).
    os.kill(new.pid, signal.SIGTERM)
    stopped = time.monotonic()
    wait_until(lambda: fleet.next_hops() == set(), CONVERGE, "lb1 withdrawn at its stop")
    assert new.wait(30) == 0
    assert router_paths(fleet) == []
    print(f"{speaker}: stop -> route gone in {time.monotonic() - stopped:.2f}s")
