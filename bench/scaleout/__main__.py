"""`python -m bench.scaleout`: the ECMP fleet's figures, written to BENCHMARKS-scaleout.md.

- withdrawal: a node's only backend dies (tcp checks every 1 s, fall 1): the time until the
  router's FIB has dropped the node, and the new connections that failed meanwhile;
- `kill -9` of a node's fastlb (its speaker dies with it, the kernel closes the session)
  and a dead machine (link down, then kill: only the 3 s hold timer notices): the outage
  for new connections;
- each node's share of 1000 new connections against ECMP's even split;
- the dead machine again with BFD (the nodes' BIRD against FRR's bfdd, 100 ms x 3);
- established flows moved when a third node joins or leaves, with FRR's plain multipath
  route and with next-hop groups the bench sets (plain and resilient; rehash.py);
- Maglev's pick cost against a round-robin pick, and its disruption (maglev.py; skipped
  with --no-maglev, it builds the core's tests with the release profile).

One 2-core machine: every node, the router and the client share the same CPUs, so the
throughput cannot grow with the nodes; only the split and the timings mean something.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.scaleout.maglev import maglev_figures
from bench.scaleout.rehash import frr_join_leave, group_join_leave, resilient_group
from fastlb.harness.bgp_fleet import BgpNode, Fleet
from fastlb.harness.waiting import wait_for

ROUNDS = 3
CONNECTIONS = 1000
BENCH_CHECK = {"type": "tcp", "interval": "1s", "timeout": "500ms", "rise": 1, "fall": 1}


def start(fleet: Fleet, speaker: str = "bird", **bgp: object) -> tuple[BgpNode, ...]:
    nodes = tuple(
        fleet.node(name, speaker=speaker, health_check=dict(BENCH_CHECK), **bgp).start()
        for name in fleet.names
    )
    for node in nodes:
        node.wait_established()
    wait_for(lambda: fleet.next_hops() == set(fleet.names), 20, "every node in the FIB")
    return nodes


def withdrawal(fleet: Fleet) -> tuple[list[float], list[int]]:
    times, failed = [], []
    for _ in range(ROUNDS):
        with fleet.prober() as prober:
            prober.wait_answers(5, 5)
            before = len(prober.failures)
            fleet.stop_backend("lb1")
            died = time.monotonic()
            wait_for(lambda: fleet.next_hops() == {"lb2"}, 20, "lb1 withdrawn")
            times.append(time.monotonic() - died)
            prober.wait_answers(10, 5)
            failed.append(len(prober.failures) - before)
        fleet.start_backend("lb1")
        wait_for(lambda: fleet.next_hops() == {"lb1", "lb2"}, 20, "lb1 back")
    return times, failed


def kill_outage(fleet: Fleet, lb1: BgpNode, machine: bool) -> tuple[float, float]:
    """(time until the FIB dropped lb1, longest gap between answers), then lb1 restarts."""
    with fleet.prober() as prober:
        prober.wait_answers(10, 5)
        if machine:  # the machine dies: nothing reaches the router any more
            fleet.cut("lb1")
        killed = time.monotonic()
        lb1.kill()
        wait_for(lambda: fleet.next_hops() == {"lb2"}, 20, "lb1 gone")
        converged = time.monotonic() - killed
        prober.wait_answers(20, 5)
        outage = prober.outage()
    if machine:
        fleet.mend("lb1")
    lb1.start().wait_established()
    wait_for(lambda: fleet.next_hops() == {"lb1", "lb2"}, 20, "lb1 back")
    return converged, outage


def bfd_lines() -> list[str]:
    with tempfile.TemporaryDirectory() as workdir, Fleet(Path(workdir), bfd=True) as fleet:
        lb1 = start(fleet, "bird", bfd=True)[0]
        wait_for(lambda: set(fleet.bfd_peers().values()) == {"up"}, 20, "BFD sessions up")
        dead = [kill_outage(fleet, lb1, machine=True) for _ in range(ROUNDS)]
        reason = fleet.last_reset("lb1")
    return [
        "- **dead machine with BFD** (BIRD `bfd: true` against FRR's bfdd, 100 ms x 3; the "
        f"router's last reset reason: {reason!r}): FIB {fmt([d[0] for d in dead])}; longest "
        f"gap between answers {fmt([d[1] for d in dead])}"
    ]


def rehash_lines() -> list[str]:
    workdir = tempfile.TemporaryDirectory()
    with workdir, Fleet(Path(workdir.name), nodes=3, sticky=False) as fleet:
        start(fleet)
        joined, left, order = frr_join_leave(fleet)
        variants = {
            "FRR's route from BGP (plain multipath, hash-threshold; next hops in the order "
            f"{', '.join(order)})": (joined, left),
            "static resilient group, 128 buckets, `idle_timer 0` (buckets move at once)": (
                group_join_leave(fleet, resilient_group(0))
            ),
            "static resilient group, 128 buckets, `idle_timer 120` (the default)": (
                group_join_leave(fleet, resilient_group(120))
            ),
        }
    lines = [
        f"- **flows moved**, {label}: lb3 joins: {joined.line()}; lb3 leaves: {left.line()}"
        for label, (joined, left) in variants.items()
    ]
    lines.append(
        "  (hash-threshold gives each next hop a range of the hash in the route's order: a node "
        "that joins between two others takes a sixth from each and nothing moves between "
        "them; one that joins first or last shifts the boundary between the others, ~1/2 of "
        "the flows move, 1/6 between lb1 and lb2. zebra's order varies from run to run. A "
        "resilient group moves only the joining or leaving node's buckets, whatever the order. The "
        "router's choice comes from the skb's L4 hash, which over veth is the client socket's "
        "random hash: flows spread at random here)"
    )
    return lines


def fmt(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="BENCHMARKS-scaleout.md")
    parser.add_argument("--no-maglev", action="store_true", help="skip the Maglev figures")
    args = parser.parse_args()
    lines = [
        "# Scale-out benchmark (BGP + ECMP)",
        "",
        "`python -m bench.scaleout`: FRR 8.4 router (zebra + bgpd, `maximum-paths`, "
        "multipath-relax, `fib_multipath_hash_policy=1`), two `fastlb serve` nodes (three for "
        "the flows moved) with the VIP on `lo`, BGP hold time 3 s, tcp health checks every "
        "1 s with `fall: 1`, all in network namespaces of one 2-core machine.",
        "",
    ]
    for speaker in ("bird", "exabgp"):
        with tempfile.TemporaryDirectory() as workdir, Fleet(Path(workdir)) as fleet:
            lb1 = start(fleet, speaker)[0]
            times, failed = withdrawal(fleet)
            lines.append(
                f"- **{speaker}** backend death -> node out of the router's FIB: {fmt(times)}; "
                f"new connections failed meanwhile (one every 20 ms): {failed}. The core's "
                "`observe` marks the server DOWN at the first failed connect of live traffic, "
                "before the next 1 s check"
            )
            if speaker != "bird":
                continue
            kills = [kill_outage(fleet, lb1, machine=False) for _ in range(ROUNDS)]
            lines.append(
                f"- **kill -9** of a node's fastlb (BIRD dies with it, the kernel closes the "
                f"session): FIB {fmt([k[0] for k in kills])}; longest gap between answers "
                f"{fmt([k[1] for k in kills])}"
            )
            dead = [kill_outage(fleet, lb1, machine=True) for _ in range(ROUNDS)]
            lines.append(
                "- **dead machine** (link down, then kill: only the hold timer notices, 3 s): "
                f"FIB {fmt([d[0] for d in dead])} (the outage of the flows hashed to it); "
                f"longest gap between answers {fmt([d[1] for d in dead])} (each probe is a "
                "new flow: about half still reach lb2)"
            )
            served = fleet.spread(CONNECTIONS)
            share = {n: served[n] / CONNECTIONS for n in ("lb1", "lb2")}
            lines.append(
                f"- **traffic share** of {CONNECTIONS} new connections (ECMP: 50 % each): "
                + ", ".join(f"{n} {100 * s:.1f} %" for n, s in share.items())
                + f", failed {served['failed']}"
            )
    lines += bfd_lines()
    lines += rehash_lines()
    if not args.no_maglev:
        lines += maglev_figures().lines()
    lines += [
        "",
        "Throughput cannot grow with the number of nodes here: every node, the router and "
        "the client share the same two cores; only the split and the timings mean something.",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
