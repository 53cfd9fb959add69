"""The raw IP socket (protocol 112) that sends and receives VRRP advertisements on one
interface: multicast to 224.0.0.18 or unicast to configured peers, TTL 255, sent from the
interface's primary address whatever else (virtual IPs) the interface carries."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from ipaddress import IPv4Address

from .interface import InterfaceInfo
from .packet import IPPROTO_VRRP, VRRP_MULTICAST_GROUP, VRRP_TTL

__all__ = ["VrrpSocket"]

# linux/in.h (Python's socket module does not export IP_PKTINFO on Linux).
_IP_PKTINFO = 8
# IPTOS_PREC_INTERNETCONTROL, as keepalived sends.
_TOS_INTERNETCONTROL = 0xC0
_MAX_DATAGRAM = 4096
# Bound the work per wake-up; the rest is read on the next one.
_MAX_READS = 64


class VrrpSocket:
    """Non-blocking; `receive()` returns whole IPv4 datagrams (header included)."""

    def __init__(self, info: InterfaceInfo, multicast: bool) -> None:
        self._info = info
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_VRRP)
        try:
            self._configure(multicast)
        except OSError:
            self._socket.close()
            raise
        # struct in_pktinfo: the source address and interface of every packet we send (the
        # socket itself stays unbound so that it receives multicast and unicast alike).
        self._pktinfo = struct.pack("@i4s4s", info.index, info.primary.packed, bytes(4))

    def _configure(self, multicast: bool) -> None:
        sock, info = self._socket, self._info
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, info.name.encode())
        mreqn = struct.pack("@4s4si", VRRP_MULTICAST_GROUP.packed, info.primary.packed, info.index)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, _TOS_INTERNETCONTROL)
        if multicast:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        sock.setblocking(False)

    def fileno(self) -> int:
        return self._socket.fileno()

    def send(self, message: bytes, destination: IPv4Address) -> None:
        """One VRRP message; OSError when the kernel refuses (e.g. the link is down)."""
        self._socket.sendmsg(
            [message],
            [(socket.IPPROTO_IP, _IP_PKTINFO, self._pktinfo)],
            0,
            (str(destination), 0),
        )

    def receive(self) -> Iterable[bytes]:
        """The datagrams waiting now (at most a bounded number per call)."""
        for _ in range(_MAX_READS):
            try:
                yield self._socket.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return

    def close(self) -> None:
        self._socket.close()
