"""Adding and removing the virtual IPs on the interface through netlink (pyroute2)."""

from __future__ import annotations

import errno
import logging
from ipaddress import IPv4Interface
from typing import Any

__all__ = ["VirtualAddresses"]

log = logging.getLogger("fastlb.failover")


class VirtualAddresses:
    """The configured virtual IPs on the interface `index`, through an open AsyncIPRoute."""

    def __init__(self, ipr: Any, index: int, virtual_ips: list[IPv4Interface]) -> None:
        self._ipr = ipr
        self._index = index
        self._virtual_ips = virtual_ips

    async def add(self) -> None:
        """Add every virtual IP (one already there is fine); OSError-like NetlinkError on
        the first that fails."""
        from pyroute2.netlink.exceptions import NetlinkError

        for vip in self._virtual_ips:
            try:
                await self._ipr.addr(
                    "add", index=self._index, address=str(vip.ip), prefixlen=vip.network.prefixlen
                )
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise

    async def remove(self) -> None:
        """Remove every virtual IP that is there; keep going past failures (logged)."""
        from pyroute2.netlink.exceptions import NetlinkError

        for vip in self._virtual_ips:
            try:
                await self._ipr.addr(
                    "del", index=self._index, address=str(vip.ip), prefixlen=vip.network.prefixlen
                )
            except NetlinkError as exc:
                if exc.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                    log.error("failover: cannot remove %s: %s", vip, exc)
