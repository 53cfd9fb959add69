"""Loopback ports: a free one now, which ones are listening (from the kernel's tables)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"

# Below Linux's default ephemeral range (32768-60999), so a client's connect() can't take
# one of our listening ports between picking it and binding it; above the well-known ones.
STABLE_PORT_RANGE = (20000, 32000)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on at `host` right now (an ephemeral one from the kernel,
    never 3306, which the machine's own MariaDB holds); bind it soon."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct ports in STABLE_PORT_RANGE that nothing listens on right now (for a
    benchmark that opens many client connections: outside the ephemeral range)."""
    ports: list[int] = []
    candidates = list(range(*STABLE_PORT_RANGE))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"no {count} free ports in {STABLE_PORT_RANGE}")


def port_of(address: str) -> int:
    """The port of `host:port` (or `[v6]:port`)."""
    return int(address.rsplit(":", 1)[1])


def listening_ports() -> set[int]:
    """Every local TCP port in LISTEN state on this host (IPv4 and IPv6). Reading the kernel's
    table checks readiness without a probe connection, which would take a round-robin pick
    or show in a load balancer's stats."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
