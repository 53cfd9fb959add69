"""What failover needs from the host before it starts: the capabilities, the interface,
its primary IPv4 address (VRRP's source address and tie-break) and its subnets (a virtual
IP must lie in one of them). Problems are reported as config errors naming the field
(`failover.interface`, `failover.virtual_ips[0]`) or, for the environment, FailoverError."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

from ..config_errors import Problem
from ..errors import ConfigError, FastLBError
from .config import FailoverConfig

__all__ = [
    "FailoverError",
    "InterfaceInfo",
    "inspect_interface",
    "interface_problems",
    "missing_capabilities",
]

# linux/capability.h
_CAPABILITIES = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13}
_IFA_F_SECONDARY = 0x01


class FailoverError(FastLBError, OSError):
    """Failover cannot run in this environment (capabilities, sockets, netlink)."""


@dataclass(frozen=True)
class InterfaceInfo:
    name: str
    index: int
    mac: bytes
    primary: IPv4Address
    networks: tuple[IPv4Network, ...]
    addresses: tuple[IPv4Interface, ...]


def missing_capabilities(status: Path = Path("/proc/self/status")) -> list[str]:
    """The capabilities failover needs (raw sockets, address changes) that this process
    does not have in its effective set."""
    effective = 0
    for line in status.read_text().splitlines():
        if line.startswith("CapEff:"):
            effective = int(line.split()[1], 16)
    return [name for name, bit in _CAPABILITIES.items() if not effective >> bit & 1]


def require_capabilities() -> None:
    missing = missing_capabilities()
    if missing:
        raise FailoverError(
            f"failover needs {' and '.join(missing)} (raw VRRP and ARP sockets, adding the "
            "virtual IPs): run as root, or grant them, e.g. systemd's "
            "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN"
        )


async def _read_interface(name: str) -> tuple[int, bytes, list[tuple[IPv4Interface, int]]] | None:
    from pyroute2 import AsyncIPRoute  # netlink: only loaded when failover is configured

    async with AsyncIPRoute() as ipr:
        indexes = await ipr.link_lookup(ifname=name)
        if not indexes:
            return None
        index = indexes[0]
        link = (await ipr.link("get", index=index))[0]
        mac = bytes.fromhex((link.get("address") or "00:00:00:00:00:00").replace(":", ""))
        addresses = []
        async for message in await ipr.get_addr(index=index, family=socket.AF_INET):
            address, prefix = message.get("address"), message["prefixlen"]
            flags = message.get("IFA_FLAGS") or message["flags"]
            addresses.append((IPv4Interface(f"{address}/{prefix}"), int(flags)))
        return index, mac, addresses


def interface_problems(
    config: FailoverConfig, found: tuple[int, bytes, list[tuple[IPv4Interface, int]]] | None
) -> tuple[list[Problem], InterfaceInfo | None]:
    """Check the interface as read from the kernel against the configuration."""
    if found is None:
        names = ", ".join(name for _, name in socket.if_nameindex())
        return [("failover.interface", f"no interface {config.interface!r} (have: {names})")], None
    index, mac, addresses = found
    vips = {vip.ip for vip in config.virtual_ips}
    # Our own addresses, primaries first; a virtual IP left by a crash is not one of them.
    own = sorted((a for a in addresses if a[0].ip not in vips), key=lambda a: a[1] & 1)
    if not own:
        return [
            (
                "failover.interface",
                f"{config.interface} has no IPv4 address of its own: VRRP sends from it",
            )
        ], None
    networks = tuple(dict.fromkeys(a.network for a, _ in own))
    problems: list[Problem] = []
    for position, vip in enumerate(config.virtual_ips):
        if not any(vip.ip in network for network in networks):
            subnets = ", ".join(str(n) for n in networks)
            problems.append(
                (
                    f"failover.virtual_ips[{position}]",
                    f"{vip.ip} is not in a subnet of {config.interface} ({subnets})",
                )
            )
    info = InterfaceInfo(
        config.interface,
        index,
        mac,
        own[0][0].ip,
        networks,
        tuple(a for a, _ in own),
    )
    return problems, info


def inspect_interface(config: FailoverConfig) -> InterfaceInfo:
    """Read the interface from the kernel (from any thread, inside an event loop or not);
    ConfigError naming the field when it does not fit the configuration."""
    result: dict[str, Any] = {}

    def read() -> None:
        try:
            result["found"] = asyncio.run(_read_interface(config.interface))
        except BaseException as exc:
            result["error"] = exc

    # pyroute2 runs its own event loop: give it a thread, so that callers already running
    # one (`fastlb serve`) can use this too.
    thread = threading.Thread(target=read, name="fastlb-netlink")
    thread.start()
    thread.join()
    if "error" in result:
        exc = result["error"]
        raise FailoverError(f"failover: cannot read interface {config.interface}: {exc}") from exc
    problems, info = interface_problems(config, result["found"])
    if problems or info is None:
        raise ConfigError(problems)
    return info
