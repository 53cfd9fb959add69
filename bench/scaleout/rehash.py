"""What ECMP re-hashing does to established flows when a third node joins or leaves.

Three healthy nodes; keep-alive connections from many source ports are opened, each asked
who serves it, the next-hop set changes, and each is asked again: a flow that the router
now hashes to another node reaches a node without its socket and gets a RST, so "moved"
is "broken" (no flow can move and survive). The router is not sticky here.

- `frr`: the route FRR installs from BGP (a plain multipath route, hash-threshold): lb3's
  backend comes back (lb3 announces) or dies (lb3 withdraws).
- `static`: the same kernel behaviour from a static next-hop group set by this module.
- `resilient`: a resilient next-hop group (`ip nexthop ... type resilient`, Linux >= 5.13).
  FRR 8.4's bgpd cannot install resilient groups itself (zebra makes plain groups), so this
  module sets one in the router's namespace (`iif eth1` -> table 100 -> `nhid 100`) and
  changes its members itself, as an operator's script or a newer FRR would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from bench.failover.netns import ip
from bench.scaleout.fleet import (
    CLIENT,
    NODES,
    PORT,
    SUBNET,
    VIP,
    Fleet,
    KeptConnections,
    wait_until,
)

FLOWS = 240
# Far above the ids zebra gives its own next hops (a counter from 1).
ID_BASE = 70000
GROUP = str(ID_BASE + 100)
TABLE = "100"
BUCKETS = "128"

__all__ = ["Moved", "frr_join_leave", "group_join_leave", "resilient_group"]


@dataclass
class Moved:
    """One change of the next-hop set, seen by `flows` established connections."""

    flows: int
    broken: int  # connections that broke: the router sends them to another node now
    to_or_from: int  # flows re-hashed onto the joining node or off the leaving one
    between_others: int  # flows re-hashed between the nodes that stayed (avoidable)

    def line(self) -> str:
        def pct(n: int) -> str:
            return f"{100 * n / self.flows:.1f} %"

        return (
            f"{pct(self.broken)} of the flows broke ({pct(self.to_or_from)} to or from lb3, "
            f"{pct(self.between_others)} between lb1 and lb2)"
        )


def _route(fleet: Fleet, sport: int) -> str:
    """The node the router sends the client's flow from `sport` to now (the kernel's own
    choice for that 5-tuple: `ip route get` hashes it as forwarding does)."""
    out = ip(
        "-j", "-n", fleet.lab.namespace("router"), "route", "get", VIP, "from", CLIENT,
        "iif", "eth1", "ipproto", "tcp", "sport", str(sport), "dport", str(PORT),
    )  # fmt: skip
    gateway = json.loads(out)[0].get("gateway", "")
    return {f"{SUBNET}.{n}": name for name, n in NODES.items()}.get(gateway, gateway)


def _moved(fleet: Fleet, change: Callable[[], object], node: str) -> Moved:
    kept = KeptConnections(fleet.lab, FLOWS)
    try:
        ports = [conn.getsockname()[1] for conn in kept.conns]
        before = kept.ask()
        routed = [_route(fleet, port) for port in ports]
        if routed != before:  # the prediction must match what the flows saw
            raise AssertionError(f"ip route get disagrees with the flows: {routed} {before}")
        change()
        after = kept.ask()
        rerouted = [_route(fleet, port) for port in ports]
    finally:
        kept.close()
    pairs = [(a, b) for a, b in zip(routed, rerouted, strict=True) if a != b]
    return Moved(
        flows=FLOWS,
        broken=sum(1 for a, b in zip(before, after, strict=True) if a != b),
        to_or_from=sum(1 for a, b in pairs if node in (a, b)),
        between_others=sum(1 for a, b in pairs if node not in (a, b)),
    )


def frr_join_leave(fleet: Fleet) -> tuple[Moved, Moved]:
    """lb3 joins (its backend comes up, it announces), then leaves (withdraws)."""
    three = {"lb1", "lb2", "lb3"}

    def join() -> None:
        fleet.start_backend("lb3")
        wait_until(lambda: fleet.next_hops() == three, 20, "lb3 joins")

    def leave() -> None:
        fleet.stop_backend("lb3")
        wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, 20, "lb3 leaves")

    fleet.stop_backend("lb3")
    wait_until(lambda: fleet.next_hops() == {"lb1", "lb2"}, 20, "lb3 withdrawn")
    joined = _moved(fleet, join, "lb3")
    left = _moved(fleet, leave, "lb3")
    fleet.start_backend("lb3")
    wait_until(lambda: fleet.next_hops() == three, 20, "lb3 back")
    return joined, left


def group_join_leave(fleet: Fleet, kind: str) -> tuple[Moved, Moved]:
    """The same with a next-hop group the bench sets: `kind` is `ip nexthop`'s group
    arguments after the members, e.g. `type resilient buckets 128 idle_timer 0`."""
    router = fleet.lab.namespace("router")
    ids = {name: str(ID_BASE + NODES[name]) for name in ("lb1", "lb2", "lb3")}

    def group(*names: str) -> list[str]:
        return ["id", GROUP, "group", "/".join(ids[n] for n in names), *kind.split()]

    for name, nid in ids.items():
        address = f"{SUBNET}.{NODES[name]}"
        ip("-n", router, "nexthop", "add", "id", nid, "via", address, "dev", "eth0")
    ip("-n", router, "nexthop", "add", *group("lb1", "lb2"))
    ip("-n", router, "route", "add", f"{VIP}/32", "nhid", GROUP, "table", TABLE)
    # Only the client's traffic: the nodes' own (BGP, replies) keeps the main table.
    ip("-n", router, "rule", "add", "iif", "eth1", "lookup", TABLE, "pref", "100")
    try:
        joined = _moved(
            fleet,
            lambda: ip("-n", router, "nexthop", "replace", *group("lb1", "lb2", "lb3")),
            "lb3",
        )
        left = _moved(
            fleet, lambda: ip("-n", router, "nexthop", "replace", *group("lb1", "lb2")), "lb3"
        )
    finally:
        ip("-n", router, "rule", "del", "iif", "eth1", "lookup", TABLE, "pref", "100")
        ip("-n", router, "route", "del", f"{VIP}/32", "table", TABLE)
        ip("-n", router, "nexthop", "del", "id", GROUP)
        for nid in ids.values():
            ip("-n", router, "nexthop", "del", "id", nid)
    return joined, left


def resilient_group(idle_timer: int) -> str:
    return f"type resilient buckets {BUCKETS} idle_timer {idle_timer}"
