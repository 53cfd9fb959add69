"""An ECMP fleet in network namespaces: a router running FRR (zebra + bgpd, multipath),
fastlb nodes announcing one virtual IP over BGP, a client behind the router, one backend per
node. Used by tests/bgp and `python -m bench.scaleout`.

    segment 10.78.0.0/24 (a bridge): router .1, lb1 .11, lb2 .12, backends .200
    client 10.79.0.100 --veth-- router 10.79.0.1;  VIP 10.78.9.100/32 on each node's `lo`

Node lbN's backend listens on 10.78.0.200:800N and answers "lbN" (which node served a
connection). The router runs FRR, or BIRD 2 with `router="bird"` (router.py); with
`bfd=True` FRR also runs bfdd and asks each node for a BFD session (100 ms x 3). With
`sticky=True` the router pins each connection to the next hop that took its first packet
(nftables `rt ip nexthop` into the conntrack mark, one routing table per node): a
withdrawn node keeps its established flows (see the README, "Scaling out").
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fastlb.harness.bgp_router import FRR, Router, bird_router_config, frr_configs
from fastlb.harness.netns import Lab, ip
from fastlb.harness.netns_fastlb import API, NamespacedFastlb
from fastlb.harness.vip_prober import VipProber

SUBNET = "10.78.0"
ROUTER = f"{SUBNET}.1"
ROUTER_AS = 65000
BACKEND = f"{SUBNET}.200"
CLIENT_NET = "10.79.0"
CLIENT = f"{CLIENT_NET}.100"
VIP = "10.78.9.100"
PORT = 8080
NODES = {"lb1": 11, "lb2": 12, "lb3": 13}

__all__ = ["VIP", "BgpNode", "Fleet"]


def _handler(name: bytes) -> type[BaseHTTPRequestHandler]:
    class Hello(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: drain tests reuse connections

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(name)))
            self.end_headers()
            self.wfile.write(name)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Hello


class _Backend(ThreadingHTTPServer):
    # Benchmarks open a few hundred connections at once: the default backlog (5) would drop
    # SYNs, fastlb's connects would time out and mark the server DOWN.
    request_queue_size = 512


class Fleet:
    """The namespaces, the FRR router and the backends; `close()` removes everything."""

    def __init__(
        self,
        workdir: Path,
        nodes: int = 2,
        sticky: bool = True,
        bfd: bool = False,
        router: str = "frr",
    ) -> None:
        self.workdir = workdir
        self.bfd = bfd
        self.router_kind = router
        self.names = list(NODES)[:nodes]
        self.lab = Lab("bgp")
        self.nodes: dict[str, BgpNode] = {}
        self._backends: dict[str, ThreadingHTTPServer] = {}
        self.router: Router | None = None
        try:
            self._build(sticky)
        except BaseException:
            self.close()
            raise

    def _build(self, sticky: bool) -> None:
        lab = self.lab
        lab.host("router", ROUTER)
        for name in self.names:
            lab.host(name, f"{SUBNET}.{NODES[name]}")
            ip("-n", lab.namespace(name), "route", "add", "default", "via", ROUTER)
        lab.host("backend", BACKEND)
        # The client sits behind the router, on its own link.
        client = lab.namespace("client")
        lab._add_namespace(client)
        router = lab.namespace("router")
        ip("link", "add", "eth1", "netns", router, "type", "veth", "peer", "eth0", "netns", client)
        ip("-n", router, "addr", "add", f"{CLIENT_NET}.1/24", "dev", "eth1")
        ip("-n", router, "link", "set", "eth1", "up")
        ip("-n", client, "addr", "add", f"{CLIENT}/24", "dev", "eth0")
        ip("-n", client, "link", "set", "eth0", "up")
        ip("-n", client, "route", "add", "default", "via", f"{CLIENT_NET}.1")
        for setting in ("net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1"):
            # Policy 1: hash the 5-tuple (L4), so that flows from one client spread.
            _run(["ip", "netns", "exec", router, "sysctl", "-qw", setting])
        if sticky:
            self._pin_flows(router)
        for name in self.names:
            self.start_backend(name)
        self.router = Router(self.lab, self.workdir)
        peers = {f"{SUBNET}.{NODES[n]}": 65000 + NODES[n] for n in self.names}
        if self.router_kind == "bird":
            self.router.start_bird(bird_router_config(ROUTER, ROUTER_AS, peers))
        else:
            self.router.start_frr(frr_configs(ROUTER, ROUTER_AS, peers, self.bfd), self.bfd)

    def _pin_flows(self, router: str) -> None:
        marks = ", ".join(f"{SUBNET}.{NODES[n]} : {NODES[n]}" for n in self.names)
        ruleset = (
            "table ip fastlb_pin {\n"
            f"  map next_hop_mark {{ type ipv4_addr : mark; elements = {{ {marks} }}; }}\n"
            "  chain pre { type filter hook prerouting priority mangle; "
            "ct mark != 0 meta mark set ct mark; }\n"
            "  chain post { type filter hook postrouting priority mangle; "
            "ct state new ct mark set rt ip nexthop map @next_hop_mark; }\n"
            "}\n"
        )
        _run(["ip", "netns", "exec", router, "nft", "-f", "-"], ruleset)
        for name in self.names:
            mark = str(NODES[name])
            ip("-n", router, "rule", "add", "fwmark", mark, "table", mark)
            ip("-n", router, "route", "add", f"{VIP}/32", "via", f"{SUBNET}.{mark}", "table", mark)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the fleet

    def node(self, name: str, **bgp: Any) -> BgpNode:
        node = BgpNode(self, name, bgp)
        self.nodes[name] = node
        return node

    def start_backend(self, name: str) -> None:
        port = 8000 + NODES[name]
        server = self.lab.run_in(
            "backend", lambda: _Backend((BACKEND, port), _handler(name.encode()))
        )
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._backends[name] = server

    def stop_backend(self, name: str) -> None:
        server = self._backends.pop(name)
        server.shutdown()
        server.server_close()

    def next_hops(self) -> set[str]:
        """The nodes the router's kernel FIB sends the VIP to now."""
        return set(self.next_hop_order())

    def next_hop_order(self) -> list[str]:
        """The same in the route's order (which, with hash-threshold, decides which range of
        the hash each node owns)."""
        out = ip("-j", "-n", self.lab.namespace("router"), "route", "show", f"{VIP}/32")
        by_address = {f"{SUBNET}.{NODES[n]}": n for n in self.names}
        return [
            by_address.get(hop["gateway"], hop["gateway"])
            for route in json.loads(out or "[]")
            for hop in route.get("nexthops", [route])
            if "gateway" in hop
        ]

    def vtysh(self, command: str) -> str:
        assert self.router is not None and self.router_kind == "frr"
        return self.router.vtysh(command)

    def bfd_peers(self) -> dict[str, str]:
        """The router's BFD sessions: node name -> status (`up`, `down`, `init`)."""
        by_address = {f"{SUBNET}.{NODES[n]}": n for n in self.names}
        peers = json.loads(self.vtysh("show bfd peers json") or "[]")
        return {by_address.get(p["peer"], p["peer"]): p["status"] for p in peers}

    def last_reset(self, name: str) -> str:
        """Why the router's BGP session with node `name` last went down, in FRR's words: the
        NOTIFICATION it sent or received (`Cease/BFD Down`, `Hold Timer Expired/...`)."""
        address = f"{SUBNET}.{NODES[name]}"
        neighbor = json.loads(self.vtysh(f"show bgp neighbors {address} json"))[address]
        return str(neighbor.get("lastNotificationReason") or neighbor.get("lastResetDueTo", ""))

    def cut(self, name: str) -> None:
        """The node's machine dies for the network: its link goes down, no FIN, no BGP
        NOTIFICATION; only BFD or the hold timer can notice."""
        self.lab.set_link(name, False)

    def mend(self, name: str) -> None:
        """The node's link comes back (with the default route the link-down removed)."""
        self.lab.set_link(name, True)
        ip("-n", self.lab.namespace(name), "route", "replace", "default", "via", ROUTER)

    def spread(self, connections: int) -> Counter[str]:
        """`connections` new connections from the client (each its own source port): which
        node served each ("failed" for those that did not get an answer)."""

        def run() -> Counter[str]:
            served: Counter[str] = Counter()
            for _ in range(connections):
                served[_get_once(1.0) or "failed"] += 1
            return served

        return self.lab.run_in("client", run)

    def prober(self) -> VipProber:
        """A new connection to the VIP every 20 ms from the client, 200 ms timeout, the
        serving node's name kept with each answer (not started: use `with`)."""
        return VipProber(self.lab, VIP, _get_once)

    def logs(self) -> str:
        parts = [node.log() for node in self.nodes.values()]
        for log in sorted(self.workdir.glob("router-*.log")):
            parts.append(f"--- {log.name} ---\n{log.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()
        for name in list(self._backends):
            self.stop_backend(name)
        self.lab.close()
        if self.router is not None:
            self.router.close()


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _get_once(timeout: float) -> str | None:
    """One GET on a new connection to the VIP: the serving node's name, or None."""
    try:
        with socket.create_connection((VIP, PORT), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return _get(conn)
    except OSError:
        return None


def _get(conn: socket.socket) -> str | None:
    conn.sendall(f"GET / HTTP/1.1\r\nHost: {VIP}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.endswith((b"lb1", b"lb2", b"lb3")):
        chunk = conn.recv(4096)
        if not chunk:
            return None
        reply += chunk
    return reply[-3:].decode() if reply.startswith(b"HTTP/1.1 200") else None


class KeptConnections:
    """Keep-alive connections from the client: `ask()` sends one more request on each and
    returns who answered (None where the connection broke)."""

    def __init__(self, lab: Lab, count: int) -> None:
        self._lab = lab
        self.conns = lab.run_in(
            "client",
            lambda: [socket.create_connection((VIP, PORT), timeout=2) for _ in range(count)],
        )

    def ask(self) -> list[str | None]:
        answers: list[str | None] = []
        for conn in self.conns:
            try:
                answers.append(_get(conn))
            except OSError:
                answers.append(None)
        return answers

    def close(self) -> None:
        for conn in self.conns:
            conn.close()


class BgpNode(NamespacedFastlb):
    """`fastlb serve` in a node's namespace with a `bgp:` section peering with the router."""

    log_tail = 6000
    close_gracefully = True  # a drain withdraws the route: the fleet's next test starts clean

    def __init__(self, fleet: Fleet, name: str, bgp: dict[str, Any]) -> None:
        self.name = name
        self.address = f"{SUBNET}.{NODES[name]}"
        check = bgp.pop("health_check", None) or {
            "type": "tcp",
            "interval": "200ms",
            "timeout": "200ms",
            "rise": 1,
            "fall": 1,
        }
        config: dict[str, Any] = {
            "workers": 1,
            "drain_timeout": bgp.pop("drain_timeout", "5s"),
            "api": {"listen": API.removeprefix("http://")},
            "frontends": [{"name": "web", "listen": f"0.0.0.0:{PORT}", "backend": "web"}],
            "backends": [
                {
                    "name": "web",
                    "health_check": check,
                    "servers": [{"name": "app", "address": f"{BACKEND}:{8000 + NODES[name]}"}],
                }
            ],
            "bgp": {
                "local_as": 65000 + NODES[name],
                "local_address": self.address,
                "peers": [{"address": ROUTER, "as": ROUTER_AS}],
                "virtual_ips": [f"{VIP}/32"],
                "hold_time": "3s",
                **bgp,
            },
        }
        super().__init__(fleet.lab, fleet.workdir, name, config)
        self.fleet = fleet

    def wait_established(self) -> BgpNode:
        """Until the API answers and the session with the router is up."""
        self.wait_answering(
            lambda: bool(self.bgp()["peers"][0]["state"] == "established"),
            "peers with the router",
        )
        return self

    def bgp(self) -> dict[str, Any]:
        bgp: dict[str, Any] = self.stats()["bgp"]
        return bgp


def frr_available() -> list[str]:
    """What is missing to build a fleet (empty when everything is there)."""
    missing = [f"{FRR}/{d}" for d in ("zebra", "bgpd") if not (FRR / d).exists()]
    missing += [f"{FRR}/bfdd"] if not (FRR / "bfdd").exists() else []
    for tool in ("vtysh", "nft", "bird", "ip"):
        if not (shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")):
            missing.append(tool)
    return missing
