"""What ECMP re-hashing does to established flows when a third node joins or leaves.

Three healthy nodes; keep-alive connections from many source ports are opened, each asked
who serves it, the next-hop set changes, and each is asked again: a flow that the router
now hashes to another node reaches a node without its socket and gets a RST, so "moved"
is "broken" (no flow can move and survive). The router is not sticky here.

Which node a broken flow went to is counted from the resets each node's kernel sent.
`ip route get ... sport P` cannot tell: with `fib_multipath_hash_policy=1` the kernel
uses a packet's L4 hash when it already has one, and over veth that is the client
socket's own (random) hash, not a hash of the 5-tuple as a NIC would compute; so the
flows spread at random here, and the fractions below are what counts.

- `frr`: the route FRR installs from BGP (a plain multipath route, hash-threshold): lb3's
  backend comes back (lb3 announces) or dies (lb3 withdraws).
- `resilient`: a resilient next-hop group (`ip nexthop ... type resilient`, Linux >= 5.13).
  FRR 8.4's bgpd cannot install resilient groups itself (zebra makes plain groups), so this
  module sets one in the router's namespace (`iif eth1` -> table 100 -> `nhid 100`) and
  changes its members itself, as an operator's script or a newer FRR would. (A plain group
  set the same way can't be measured beside FRR: zebra rewrites plain groups it sees.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from fastlb.harness.bgp_fleet import NODES, SUBNET, VIP, Fleet, KeptConnections
from fastlb.harness.netns import ip
from fastlb.harness.waiting import wait_for

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


def _resets_sent(fleet: Fleet, name: str) -> int:
    """TCP resets node `name`'s kernel has sent (`Tcp: OutRsts` of its namespace): a flow
    re-hashed onto a node that has no socket for it is answered with one."""
    snmp = subprocess.run(
        ["ip", "netns", "exec", fleet.lab.namespace(name), "cat", "/proc/net/snmp"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout  # fmt: skip
    header, values = (line.split() for line in snmp.splitlines() if line.startswith("Tcp:"))
    return int(values[header.index("OutRsts")])


def _moved(fleet: Fleet, change: Callable[[], object], node: str) -> Moved:
    kept = KeptConnections(fleet.lab, FLOWS)
    try:
        before = kept.ask()
        if None in before:
            raise AssertionError(f"flows broke before the change: {before}")
        change()
        resets = {name: _resets_sent(fleet, name) for name in fleet.names}
        after = kept.ask()
        resets = {name: _resets_sent(fleet, name) - count for name, count in resets.items()}
    finally:
        kept.close()
    broken = [b for b, a in zip(before, after, strict=True) if a != b]
    # Where a broken flow went: a leaving node's flows all go elsewhere; onto a joining
    # node, the resets it sent tell (the router's choice can't be asked: see the docstring).
    to_or_from = broken.count(node) if node in before else resets[node]
    return Moved(FLOWS, len(broken), to_or_from, len(broken) - to_or_from)


def frr_join_leave(fleet: Fleet) -> tuple[Moved, Moved, list[str]]:
    """lb3 joins (its backend comes up, it announces), then leaves (withdraws); and the
    order of the next hops in FRR's route with lb3 in it."""
    three = {"lb1", "lb2", "lb3"}

    order: list[str] = []

    def join() -> None:
        fleet.start_backend("lb3")
        wait_for(lambda: fleet.next_hops() == three, 20, "lb3 joins")
        order[:] = fleet.next_hop_order()

    def leave() -> None:
        fleet.stop_backend("lb3")
        wait_for(lambda: fleet.next_hops() == {"lb1", "lb2"}, 20, "lb3 leaves")

    fleet.stop_backend("lb3")
    wait_for(lambda: fleet.next_hops() == {"lb1", "lb2"}, 20, "lb3 withdrawn")
    joined = _moved(fleet, join, "lb3")
    left = _moved(fleet, leave, "lb3")
    fleet.start_backend("lb3")
    wait_for(lambda: fleet.next_hops() == three, 20, "lb3 back")
    return joined, left, order


def group_join_leave(fleet: Fleet, kind: str) -> tuple[Moved, Moved]:
    """The same with a next-hop group the bench sets: `kind` is `ip nexthop`'s group
    arguments after the members, e.g. `type resilient buckets 128 idle_timer 0`."""
    router = fleet.lab.namespace("router")
    ids = {name: str(ID_BASE + NODES[name]) for name in ("lb1", "lb2", "lb3")}

    def group(*names: str) -> list[str]:
        members = "/".join(ids[n] for n in names)
        return ["id", GROUP, "group", members, *kind.split(), "proto", "static"]

    for name, nid in ids.items():
        address = f"{SUBNET}.{NODES[name]}"
        ip(
            "-n",
            router,
            "nexthop",
            "replace",
            "id",
            nid,
            "via",
            address,
            "dev",
            "eth0",
            "proto",
            "static",
        )
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
