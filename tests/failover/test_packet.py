"""VRRPv3 packets against bytes that Debian's keepalived 2.2.7 sent (captured with tcpdump
between two network namespaces, `vrrp_version 3`, vrid 51, priority 150)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastlb.failover.packet import (
    Advertisement,
    ChecksumForm,
    MalformedPacket,
    decode,
    decode_datagram,
    internet_checksum,
)

SOURCE = IPv4Address("10.9.0.2")
GROUP = IPv4Address("224.0.0.18")
PEER = IPv4Address("10.9.0.3")
VIPS = (IPv4Address("10.9.0.100"), IPv4Address("10.9.0.101"))

# (what keepalived sent, destination, the advertisement, checksum form): VRRP messages only.
KEEPALIVED_VECTORS = [
    # advert_int 1, one VIP
    (
        "31339601006443600a090064",
        GROUP,
        Advertisement(51, 150, 100, VIPS[:1]),
        ChecksumForm.PSEUDO_HEADER,
    ),
    # advert_int 0.1 (10 cs), two VIPs; then its priority-0 advert at shutdown
    (
        "31339602000a39470a0900640a090065",
        GROUP,
        Advertisement(51, 150, 10, VIPS),
        ChecksumForm.PSEUDO_HEADER,
    ),
    (
        "31330002000acf470a0900640a090065",
        GROUP,
        Advertisement(51, 0, 10, VIPS),
        ChecksumForm.PSEUDO_HEADER,
    ),
    # advert_int 1, two VIPs; then its priority-0 advert at shutdown
    (
        "31339602006438ed0a0900640a090065",
        GROUP,
        Advertisement(51, 150, 100, VIPS),
        ChecksumForm.PSEUDO_HEADER,
    ),
    (
        "313300020064ceed0a0900640a090065",
        GROUP,
        Advertisement(51, 0, 100, VIPS),
        ChecksumForm.PSEUDO_HEADER,
    ),
    # unicast_peer 10.9.0.3: the peer's address is the pseudo-header's destination
    (
        "3133960200640ef40a0900640a090065",
        PEER,
        Advertisement(51, 150, 100, VIPS),
        ChecksumForm.PSEUDO_HEADER,
    ),
]

# The whole datagram (IP header included, TOS 0xc0, TTL 255) of the first vector.
KEEPALIVED_DATAGRAM = "45c000200001000 0ff70d08f0a090002e00000123133960100644360 0a090064".replace(
    " ", ""
)


@pytest.mark.parametrize(("hex_bytes", "destination", "advert", "form"), KEEPALIVED_VECTORS)
def test_encodes_byte_for_byte_what_keepalived_sends(
    hex_bytes: str, destination: IPv4Address, advert: Advertisement, form: ChecksumForm
) -> None:
    assert advert.encode(SOURCE, destination, form).hex() == hex_bytes


@pytest.mark.parametrize(("hex_bytes", "destination", "advert", "form"), KEEPALIVED_VECTORS)
def test_decodes_what_keepalived_sends_in_either_checksum_form(
    hex_bytes: str, destination: IPv4Address, advert: Advertisement, form: ChecksumForm
) -> None:
    datagram = _ip_header(SOURCE, destination, len(hex_bytes) // 2) + bytes.fromhex(hex_bytes)
    received = decode_datagram(datagram)
    assert received.advertisement == advert
    assert received.checksum_form is form
    assert (received.source, received.destination, received.ttl) == (SOURCE, destination, 255)
    assert decode(bytes.fromhex(hex_bytes), SOURCE, destination) == advert


def test_rfc9568_form_leaves_out_the_pseudo_header() -> None:
    # keepalived 2.2.7 has no `v3_checksum_as_v2` yet: this vector is the VRRPv2 sum of the
    # message alone (checked independently below), as RFC 9568 and Cisco compute it.
    advert = Advertisement(51, 150, 100, VIPS)
    message = advert.encode(SOURCE, GROUP, ChecksumForm.RFC9568)
    assert message.hex() == "313396020064238b0a0900640a090065"
    assert internet_checksum(message) == 0
    assert decode_datagram(_ip_header(SOURCE, GROUP, 16) + message).checksum_form == "rfc9568"


def test_decodes_a_captured_datagram() -> None:
    received = decode_datagram(bytes.fromhex(KEEPALIVED_DATAGRAM))
    assert received.advertisement == Advertisement(51, 150, 100, VIPS[:1])
    assert (received.source, received.destination, received.ttl) == (SOURCE, GROUP, 255)
    # The kernel checks the IP header's own checksum; it is valid in the capture too.
    assert internet_checksum(bytes.fromhex(KEEPALIVED_DATAGRAM)[:20]) == 0


def test_a_wrong_source_breaks_the_pseudo_header_checksum() -> None:
    message = bytes.fromhex(KEEPALIVED_VECTORS[0][0])
    with pytest.raises(MalformedPacket, match="checksum"):
        decode(message, IPv4Address("10.9.0.9"), GROUP)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: m[:7], "too short"),
        (lambda m: bytes([0x21]) + m[1:], "version 2"),
        (lambda m: bytes([0x32]) + m[1:], "message type 2"),
        (lambda m: m[:3] + bytes([2]) + m[4:], "2 addresses announced in a 12-byte"),
        (lambda m: m[:3] + bytes([0]) + m[4:], "0 addresses"),
        (lambda m: m[:9] + bytes([m[9] ^ 1]) + m[10:], "checksum"),
    ],
)
def test_refuses_malformed_messages(mutate: object, reason: str) -> None:
    message = bytes.fromhex(KEEPALIVED_VECTORS[0][0])
    assert callable(mutate)
    with pytest.raises(MalformedPacket, match=reason):
        decode(mutate(message), SOURCE, GROUP)


def test_refuses_datagrams_that_are_not_vrrp() -> None:
    datagram = bytearray(bytes.fromhex(KEEPALIVED_DATAGRAM))
    with pytest.raises(MalformedPacket, match="IPv4"):
        decode_datagram(bytes(datagram[:10]))
    datagram[9] = 17
    with pytest.raises(MalformedPacket, match="protocol 17"):
        decode_datagram(bytes(datagram))


def test_ignores_trailing_padding() -> None:
    message = bytes.fromhex(KEEPALIVED_VECTORS[0][0]) + b"\0\0\0\0"
    assert decode(message, SOURCE, GROUP).priority == 150


def test_encode_refuses_out_of_range_fields() -> None:
    with pytest.raises(ValueError, match="vrid"):
        Advertisement(0, 100, 100, VIPS).encode(SOURCE, GROUP)
    with pytest.raises(ValueError, match="advert interval"):
        Advertisement(1, 100, 4096, VIPS).encode(SOURCE, GROUP)
    with pytest.raises(ValueError, match="addresses"):
        Advertisement(1, 100, 100, ()).encode(SOURCE, GROUP)


@given(
    vrid=st.integers(1, 255),
    priority=st.integers(0, 255),
    interval=st.integers(0, 4095),
    addresses=st.lists(st.integers(0, 2**32 - 1).map(IPv4Address), min_size=1, max_size=20),
    form=st.sampled_from(ChecksumForm),
)
def test_round_trip(
    vrid: int, priority: int, interval: int, addresses: list[IPv4Address], form: ChecksumForm
) -> None:
    advert = Advertisement(vrid, priority, interval, tuple(addresses))
    message = advert.encode(SOURCE, GROUP, form)
    datagram = decode_datagram(_ip_header(SOURCE, GROUP, len(message)) + message)
    assert datagram.advertisement == advert
    # A message whose two checksums coincide is read as the pseudo-header form.
    assert datagram.checksum_form is form or (
        advert.encode(SOURCE, GROUP, ChecksumForm.PSEUDO_HEADER) == message
    )


def _ip_header(source: IPv4Address, destination: IPv4Address, payload: int) -> bytes:
    header = bytearray(20)
    header[0], header[1], header[8], header[9] = 0x45, 0xC0, 255, 112
    header[2:4] = (20 + payload).to_bytes(2, "big")
    header[12:16], header[16:20] = source.packed, destination.packed
    return bytes(header)
