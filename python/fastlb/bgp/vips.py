"""The virtual IPs on this node's interface (`lo`, or a `dummy` interface fastlb creates):
every node of the fleet holds them all the time so that the kernel accepts the traffic the
routers send; the announcement alone decides whether traffic comes."""

from __future__ import annotations

import errno
import logging
from ipaddress import IPv4Interface
from typing import Any

from ..failover.addresses import VirtualAddresses
from .config import BgpConfig
from .process import BgpError

__all__ = ["NodeAddresses"]

log = logging.getLogger("fastlb.bgp")


class NodeAddresses:
    """Adds the virtual IPs (as /32: a wider prefix on `lo` would make its whole range
    local) through an open AsyncIPRoute; `remove()` takes them away again."""

    def __init__(self, ipr: Any, config: BgpConfig) -> None:
        self._ipr = ipr
        self._config = config
        self._addresses: VirtualAddresses | None = None
        self.created_interface = False

    async def add(self) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        name = self._config.interface
        indexes = await self._ipr.link_lookup(ifname=name)
        if not indexes:
            try:
                await self._ipr.link("add", ifname=name, kind="dummy")
            except NetlinkError as exc:
                hint = " (this kernel has no dummy interfaces: use interface: lo)"
                raise BgpError(
                    f"bgp: cannot create dummy interface {name}: {exc}"
                    + (hint if exc.code == errno.EOPNOTSUPP else "")
                ) from exc
            self.created_interface = True
            indexes = await self._ipr.link_lookup(ifname=name)
            log.info("bgp: created dummy interface %s", name)
        index = indexes[0]
        await self._ipr.link("set", index=index, state="up")
        host_routes = [IPv4Interface(f"{vip.ip}/32") for vip in self._config.virtual_ips]
        self._addresses = VirtualAddresses(self._ipr, index, host_routes)
        try:
            await self._addresses.add()
        except NetlinkError as exc:
            raise BgpError(f"bgp: cannot add the virtual IPs to {name}: {exc}") from exc

    async def remove(self) -> None:
        if self._addresses is not None:
            await self._addresses.remove()
        if self.created_interface:
            from pyroute2.netlink.exceptions import NetlinkError

            try:
                await self._ipr.link("del", ifname=self._config.interface)
            except NetlinkError as exc:
                log.warning("bgp: cannot remove interface %s: %s", self._config.interface, exc)
