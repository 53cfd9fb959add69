"""VRRPv3 advertisements for IPv4 (RFC 5798 section 5): encoding, decoding, checksums.

Two checksum forms exist in the field. RFC 5798 section 5.2.8 says the checksum covers "a
pseudo-header" and keepalived (the reference on Linux), FRR by default and most routers
include the IPv4 pseudo-header (source, destination, zero, protocol 112, VRRP length).
RFC 9568, which obsoletes RFC 5798, settled on the VRRPv2 way for IPv4: the VRRP message
alone (keepalived's `v3_checksum_as_v2`, newer than Debian 12's 2.2.7). We send the
pseudo-header form unless told otherwise and accept both, so either kind of peer
interoperates.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address

__all__ = [
    "IPPROTO_VRRP",
    "MAX_ADVERT_CENTISECONDS",
    "VRRP_MULTICAST_GROUP",
    "VRRP_TTL",
    "Advertisement",
    "ChecksumForm",
    "MalformedPacket",
    "ReceivedAdvertisement",
    "decode",
    "decode_datagram",
    "internet_checksum",
]

IPPROTO_VRRP = 112
VRRP_MULTICAST_GROUP = IPv4Address("224.0.0.18")
# Sent with TTL 255 and refused otherwise: a packet that crossed a router is not from a peer.
VRRP_TTL = 255
VERSION = 3
TYPE_ADVERTISEMENT = 1
# The Max Adver Int field is 12 bits of centiseconds (40.95 s).
MAX_ADVERT_CENTISECONDS = 0x0FFF
_HEADER = struct.Struct("!BBBBHH")
_PSEUDO_HEADER = struct.Struct("!4s4sBBH")
_IPV4_MIN_HEADER = 20


class ChecksumForm(StrEnum):
    """How the checksum is computed (see the module docstring)."""

    PSEUDO_HEADER = "pseudo-header"
    """RFC 5798 as keepalived reads it: the IPv4 pseudo-header is included."""
    RFC9568 = "rfc9568"
    """RFC 9568: the VRRP message only, as in VRRPv2."""


class MalformedPacket(ValueError):
    """A datagram that is not a valid VRRPv3 advertisement; the message says why."""


@dataclass(frozen=True)
class Advertisement:
    """The fields of one VRRPv3 advertisement."""

    vrid: int
    priority: int
    advert_centiseconds: int
    addresses: tuple[IPv4Address, ...]

    def encode(
        self,
        source: IPv4Address,
        destination: IPv4Address,
        form: ChecksumForm = ChecksumForm.PSEUDO_HEADER,
    ) -> bytes:
        """The VRRP message (the IP payload) with its checksum for `source` -> `destination`."""
        if not 1 <= self.vrid <= 255:
            raise ValueError(f"vrid must be 1..255 (got {self.vrid})")
        if not 0 <= self.priority <= 255:
            raise ValueError(f"priority must be 0..255 (got {self.priority})")
        if not 0 <= self.advert_centiseconds <= MAX_ADVERT_CENTISECONDS:
            raise ValueError(f"advert interval must be 0..4095 cs (got {self.advert_centiseconds})")
        if not 1 <= len(self.addresses) <= 255:
            raise ValueError("an advertisement carries 1..255 addresses")
        message = bytearray(
            _HEADER.pack(
                VERSION << 4 | TYPE_ADVERTISEMENT,
                self.vrid,
                self.priority,
                len(self.addresses),
                self.advert_centiseconds,  # the 4 reserved bits above it stay 0
                0,
            )
        )
        for address in self.addresses:
            message += address.packed
        struct.pack_into("!H", message, 6, _checksum(bytes(message), source, destination, form))
        return bytes(message)


@dataclass(frozen=True)
class ReceivedAdvertisement:
    """An advertisement as it arrived: who sent it, to where, with which TTL and checksum form."""

    advertisement: Advertisement
    source: IPv4Address
    destination: IPv4Address
    ttl: int
    checksum_form: ChecksumForm


def internet_checksum(data: bytes) -> int:
    """RFC 1071: the one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _checksum(
    message: bytes, source: IPv4Address, destination: IPv4Address, form: ChecksumForm
) -> int:
    if form is ChecksumForm.RFC9568:
        return internet_checksum(message)
    pseudo = _PSEUDO_HEADER.pack(source.packed, destination.packed, 0, IPPROTO_VRRP, len(message))
    return internet_checksum(pseudo + message)


def decode(message: bytes, source: IPv4Address, destination: IPv4Address) -> Advertisement:
    """Validate a VRRP message (RFC 5798 section 7.1, the checks that need no local state)
    and return its fields; MalformedPacket otherwise. Either checksum form is accepted."""
    return _decode(message, source, destination)[0]


def _decode(
    message: bytes, source: IPv4Address, destination: IPv4Address
) -> tuple[Advertisement, ChecksumForm]:
    if len(message) < _HEADER.size:
        raise MalformedPacket(f"too short for a VRRP header ({len(message)} bytes)")
    version_type, vrid, priority, count, interval, _ = _HEADER.unpack_from(message)
    if version_type >> 4 != VERSION:
        raise MalformedPacket(f"VRRP version {version_type >> 4}, not 3")
    if version_type & 0x0F != TYPE_ADVERTISEMENT:
        raise MalformedPacket(f"unknown VRRP message type {version_type & 0x0F}")
    length = _HEADER.size + 4 * count
    if count == 0 or len(message) < length:
        raise MalformedPacket(f"{count} addresses announced in a {len(message)}-byte message")
    # Trailing bytes (padding from some stacks) are not part of the message.
    message = message[:length]
    if _checksum(message, source, destination, ChecksumForm.PSEUDO_HEADER) == 0:
        form = ChecksumForm.PSEUDO_HEADER
    elif _checksum(message, source, destination, ChecksumForm.RFC9568) == 0:
        form = ChecksumForm.RFC9568
    else:
        raise MalformedPacket("bad checksum (neither with nor without the IPv4 pseudo-header)")
    addresses = tuple(
        IPv4Address(message[offset : offset + 4]) for offset in range(_HEADER.size, length, 4)
    )
    advert = Advertisement(vrid, priority, interval & MAX_ADVERT_CENTISECONDS, addresses)
    return advert, form


def decode_datagram(datagram: bytes) -> ReceivedAdvertisement:
    """Decode what a raw IPv4 socket returns: the IP header, then the VRRP message."""
    if len(datagram) < _IPV4_MIN_HEADER or datagram[0] >> 4 != 4:
        raise MalformedPacket("not an IPv4 datagram")
    header_length = (datagram[0] & 0x0F) * 4
    total_length = struct.unpack_from("!H", datagram, 2)[0]
    if header_length < _IPV4_MIN_HEADER or total_length > len(datagram):
        raise MalformedPacket("truncated IPv4 datagram")
    if datagram[9] != IPPROTO_VRRP:
        raise MalformedPacket(f"IP protocol {datagram[9]}, not VRRP")
    source = IPv4Address(datagram[12:16])
    destination = IPv4Address(datagram[16:20])
    advert, form = _decode(datagram[header_length:total_length], source, destination)
    return ReceivedAdvertisement(advert, source, destination, datagram[8], form)
