"""Gratuitous ARP: tell the segment's hosts and switches that a virtual IP now lives at
this node's MAC address, as keepalived does (an ARP request for the address itself, sent
to the broadcast address: the same 42-byte frame)."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address

__all__ = ["ETH_P_ARP", "GratuitousArp", "gratuitous_arp_frame"]

ETH_P_ARP = 0x0806
_BROADCAST = b"\xff" * 6
_ARP_REQUEST = 1


def gratuitous_arp_frame(mac: bytes, address: IPv4Address) -> bytes:
    """An Ethernet frame: ARP request "who has `address`? tell `address` at `mac`"."""
    if len(mac) != 6:
        raise ValueError(f"expected a 6-byte MAC address (got {len(mac)} bytes)")
    ethernet = _BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, _ARP_REQUEST)
    arp += mac + address.packed + _BROADCAST + address.packed
    return ethernet + arp


class GratuitousArp:
    """A packet socket on one interface that sends gratuitous ARPs (needs CAP_NET_RAW)."""

    def __init__(self, interface: str, mac: bytes) -> None:
        self._mac = mac
        # Protocol 0: the socket receives nothing, it only sends whole frames.
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            self._socket.bind((interface, 0))
            self._socket.setblocking(False)
        except OSError:
            self._socket.close()
            raise

    def send(self, addresses: list[IPv4Address]) -> int:
        """One frame per address; returns how many could not be sent (e.g. link down)."""
        failed = 0
        for address in addresses:
            try:
                self._socket.send(gratuitous_arp_frame(self._mac, address))
            except OSError:
                failed += 1
        return failed

    def close(self) -> None:
        self._socket.close()
