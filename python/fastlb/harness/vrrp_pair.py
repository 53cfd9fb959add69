"""Two load balancer nodes sharing a virtual IP, a client and a backend on one segment of
network namespaces; `fastlb serve` and keepalived (keepalived.py) run inside them as real
processes. Used by tests/failover, tests/integration and `python -m bench.failover`.

`Cluster.prober()` is the client (vip_prober.py): a request through the virtual IP every
20 ms, each with a short timeout, from which the longest stretch without an answer (the
outage) is read.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fastlb.harness.keepalived import KeepalivedNode, VirtualRouter
from fastlb.harness.netns import Lab
from fastlb.harness.netns_fastlb import API, NamespacedFastlb
from fastlb.harness.vip_prober import VipProber

SUBNET = "10.77.0"
VIP = f"{SUBNET}.50"
ADDRESSES = {"lb1": f"{SUBNET}.11", "lb2": f"{SUBNET}.12", "client": f"{SUBNET}.100"}
BACKEND = f"{SUBNET}.200"
BACKEND_PORT = 8000
FRONTEND_PORT = 8080
VRID = 51
BODY = b"hello from the backend\n"


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def get_backend_page(timeout: float) -> str | None:
    """One GET through the virtual IP on a new connection: "backend" when the backend's page
    came back whole, None otherwise."""
    request = f"GET / HTTP/1.0\r\nHost: {VIP}\r\n\r\n".encode()
    try:
        with socket.create_connection((VIP, FRONTEND_PORT), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(request)
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
    except OSError:
        return None
    return "backend" if reply.startswith(b"HTTP/1.0 200") and reply.endswith(BODY) else None


class Cluster:
    """The segment and its nodes; `close()` stops every process and removes the namespaces."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.lab = Lab()
        self.nodes: list[FastlbNode | KeepalivedNode] = []
        try:
            for host, address in ADDRESSES.items():
                self.lab.host(host, address)
            self.lab.host("backend", BACKEND)
            self._backend = self.lab.run_in(
                "backend", lambda: ThreadingHTTPServer(("0.0.0.0", BACKEND_PORT), _Hello)
            )
        except BaseException:
            self.lab.close()
            raise
        self._backend.daemon_threads = True
        self._backend_thread = threading.Thread(target=self._backend.serve_forever, daemon=True)
        self._backend_thread.start()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fastlb(self, host: str, priority: int, **failover: Any) -> FastlbNode:
        node = FastlbNode(self, host, priority, failover)
        self.nodes.append(node)
        return node

    def keepalived(self, host: str, priority: int, advert: float = 0.1) -> KeepalivedNode:
        """keepalived for the virtual IP beside a `fastlb serve` without `failover:`."""
        data_path = FastlbNode(self, host, 1, {})
        del data_path.config["failover"]
        node = KeepalivedNode(
            self.lab, self.workdir, host, VirtualRouter(VRID, VIP, priority, advert), data_path
        )
        self.nodes.append(node)
        return node

    def holders(self) -> list[str]:
        """The nodes that have the virtual IP on their interface now."""
        return [host for host in ("lb1", "lb2") if self.lab.holds(host, VIP)]

    def assert_single_holder(self, host: str, seconds: float) -> None:
        """Exactly `host` holds the virtual IP at every check for `seconds` (no split brain)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.holders() == [host]
            time.sleep(0.05)

    def prober(self, timeout: float = 0.2) -> VipProber:
        """GET http://VIP:8080/ from the client every 20 ms (not started: use `with`)."""
        return VipProber(self.lab, VIP, get_backend_page, timeout)

    def logs(self) -> str:
        return "\n".join(node.log() for node in self.nodes)

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        self._backend.shutdown()
        self._backend.server_close()
        self.lab.close()


class FastlbNode(NamespacedFastlb):
    """`fastlb serve -c FILE` in a host's namespace, with a `failover:` section."""

    def __init__(self, cluster: Cluster, host: str, priority: int, failover: dict[str, Any]):
        config: dict[str, Any] = {
            "workers": 1,
            "drain_timeout": "1s",
            "api": {"listen": API.removeprefix("http://")},
            "frontends": [{"name": "web", "listen": f"0.0.0.0:{FRONTEND_PORT}", "backend": "web"}],
            "backends": [
                {
                    "name": "web",
                    "servers": [{"name": "app", "address": f"{BACKEND}:{BACKEND_PORT}"}],
                }
            ],
            "failover": {
                "interface": "eth0",
                "vrid": VRID,
                "priority": priority,
                "advert_interval": "100ms",
                "virtual_ips": [f"{VIP}/24"],
                **failover,
            },
        }
        super().__init__(cluster.lab, cluster.workdir, host, config)
        self.cluster = cluster

    def wait_ready(self) -> FastlbNode:
        """Until the API answers inside the namespace (the speaker then runs)."""
        self.wait_answering(lambda: "failover" in self.stats(), "answers")
        return self

    def failover(self) -> dict[str, Any]:
        failover: dict[str, Any] = self.stats()["failover"]
        return failover

    def state(self) -> str:
        return str(self.failover()["state"])
