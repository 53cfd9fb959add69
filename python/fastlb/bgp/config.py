"""The `bgp:` section: announce the virtual IPs to upstream routers through an existing BGP
speaker (BIRD 2 or ExaBGP) run by fastlb, so that every node of a fleet is active and the
routers spread flows over them with ECMP."""

from __future__ import annotations

import re
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Interface
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from ..config_errors import Problem
from ..config_types import ConfigModel, Duration, between, field_error, refuse_bool

__all__ = ["BgpConfig", "BgpPeer", "Speaker", "bgp_problems"]

# Linux interface names: at most IFNAMSIZ - 1 = 15 bytes, no '/', no whitespace.
_INTERFACE_RE = re.compile(r"[^/\s:]{1,15}")
# RFC 1997 communities as `ASN:value`, each 16 bits.
_COMMUNITY_RE = re.compile(r"(\d{1,5}):(\d{1,5})")
# 4-byte AS numbers (RFC 6793); AS 0 is reserved (RFC 7607).
_AsNumber = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(1, 4294967295))]
_Med = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(0, 4294967295))]


class Speaker(StrEnum):
    """Which BGP daemon fastlb runs as its child (see the README, "Scaling out")."""

    BIRD = "bird"
    EXABGP = "exabgp"


def _address(value: object) -> object:
    try:
        address = IPv4Address(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise field_error(f"invalid address {value!r}: expected an IPv4 address") from None
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        raise field_error(f"{value!r} cannot be a BGP address (multicast, 0.0.0.0 or loopback)")
    return address


def _virtual_ip(value: object) -> object:
    if not isinstance(value, str):
        raise field_error(f"must be an IPv4 prefix like 10.0.0.100/32 (got {value!r})")
    try:
        interface = IPv4Interface(value.strip() if "/" in value else f"{value.strip()}/32")
    except ValueError:
        raise field_error(
            f"invalid virtual IP {value!r}: expected an IPv4 address, announced as a /32 "
            "unless a prefix length is given (IPv6 is not supported)"
        ) from None
    if interface.ip.is_multicast or interface.ip.is_unspecified or interface.ip.is_loopback:
        raise field_error(f"{value!r} cannot be a virtual IP (multicast, 0.0.0.0 or loopback)")
    return interface


def _unique(values: list[Any]) -> list[Any]:
    seen: set[object] = set()
    for value in values:
        key = getattr(value, "ip", value)
        if key in seen:
            raise field_error(f"{key} is listed twice")
        seen.add(key)
    return values


def _community(value: object) -> object:
    match = _COMMUNITY_RE.fullmatch(str(value).strip()) if isinstance(value, str) else None
    if match is None or int(match[1]) > 65535 or int(match[2]) > 65535:
        raise field_error(f"invalid community {value!r}: expected ASN:VALUE, each 0..65535")
    return f"{int(match[1])}:{int(match[2])}"


def _interface(value: str) -> str:
    if not _INTERFACE_RE.fullmatch(value):
        raise field_error(f"invalid interface name {value!r}: 1-15 characters, no '/' or ':'")
    return value


def _hold_time(seconds: float) -> float:
    # RFC 4271 4.2: zero (no keepalives) or at least three seconds, in whole seconds.
    if seconds != 0 and not 3 <= seconds <= 65535:
        raise field_error(f"must be 0 or 3s..65535s (RFC 4271; got {seconds:g}s)")
    if seconds != int(seconds):
        raise field_error(f"BGP counts whole seconds (got {seconds:g}s)")
    return seconds


def _restart_time(seconds: float) -> float:
    # RFC 4724 3: the Restart Time is a 12-bit count of seconds; 0 turns graceful restart off.
    if not 0 <= seconds <= 4095 or seconds != int(seconds):
        raise field_error(f"must be 0 (off) or 1s..4095s in whole seconds (got {seconds:g}s)")
    return seconds


class BgpPeer(ConfigModel):
    """One router this node peers with (eBGP, directly connected)."""

    model_config = ConfigDict(populate_by_name=True)

    address: Annotated[IPv4Address, BeforeValidator(_address)]
    as_: _AsNumber = Field(alias="as")


class BgpConfig(ConfigModel):
    """Announce `virtual_ips` while this node can serve; withdraw them at once when not."""

    speaker: Speaker = Speaker.BIRD
    local_as: _AsNumber
    # The address the sessions start from and the routes' next hop (`self`: this one).
    local_address: Annotated[IPv4Address, BeforeValidator(_address)]
    router_id: Annotated[IPv4Address, BeforeValidator(_address)] | None = None
    peers: Annotated[list[BgpPeer], Field(min_length=1, max_length=32), AfterValidator(_unique)]
    virtual_ips: Annotated[
        list[Annotated[IPv4Interface, BeforeValidator(_virtual_ip)]],
        Field(min_length=1, max_length=255),
        AfterValidator(_unique),
    ]
    # Where the virtual IPs live so that the kernel accepts their traffic: `lo` works on
    # every kernel; another name is created as a `dummy` interface when missing.
    interface: Annotated[str, AfterValidator(_interface)] = "lo"
    next_hop: Annotated[IPv4Address, BeforeValidator(_address)] | None = None
    hold_time: Annotated[Duration, AfterValidator(_hold_time)] = 9.0
    communities: Annotated[
        list[Annotated[str, BeforeValidator(_community)]], AfterValidator(_unique)
    ] = Field(default_factory=list)
    med: _Med = 0
    # Announced instead of `med` while fewer than half of the servers are UP: routers that
    # compare MED (same neighbour AS, or `bgp always-compare-med`) prefer healthier nodes.
    degraded_med: _Med | None = None
    # Bidirectional Forwarding Detection (RFC 5880): a dead node is noticed in ~1 s instead
    # of the hold time. BIRD only; the router must run BFD too.
    bfd: bool = False
    # BGP graceful restart (RFC 4724), for `fastlb serve --upgrade`: the speaker advertises
    # it, the upgraded process ends its sessions without a Cease and the routers keep the
    # routes (stale) until the new process's session is up and has sent End-of-RIB, for at
    # most this long. It is also how long a router keeps sending traffic to a node whose
    # session ended without a Cease otherwise (an ExaBGP speaker killed with fastlb; see the
    # README). RFC 4724 suggests no more than the hold time. 0: off (an upgrade withdraws).
    graceful_restart_time: Annotated[Duration, AfterValidator(_restart_time)] = 9.0

    @property
    def effective_router_id(self) -> IPv4Address:
        return self.router_id or self.local_address

    @property
    def effective_next_hop(self) -> IPv4Address:
        return self.next_hop or self.local_address

    def summary(self) -> dict[str, Any]:
        """The settings as plain JSON values (for the stats snapshot)."""
        return {
            "speaker": str(self.speaker),
            "local_as": self.local_as,
            "local_address": str(self.local_address),
            "router_id": str(self.effective_router_id),
            "next_hop": str(self.effective_next_hop),
            "interface": self.interface,
            "hold_time": self.hold_time,
            "med": self.med,
            "degraded_med": self.degraded_med,
            "communities": list(self.communities),
            "bfd": self.bfd,
            "graceful_restart_time": self.graceful_restart_time,
            "virtual_ips": [str(vip) for vip in self.virtual_ips],
        }


def bgp_problems(bgp: BgpConfig | None, has_failover: bool) -> list[Problem]:
    """Rules between `bgp` and the rest of the configuration (Config's cross-checks)."""
    if bgp is None:
        return []
    problems: list[Problem] = []
    if has_failover:
        # With BGP every node is active and the routers' ECMP already routes around a dead
        # node; VRRP would move the same address away from nodes that still announce it.
        problems.append(
            (
                "bgp",
                "'bgp' and 'failover' exclude each other: with bgp every node serves the "
                "virtual IPs and the routers route around a node that withdraws them",
            )
        )
    if bgp.bfd and bgp.speaker is not Speaker.BIRD:
        problems.append(("bgp.bfd", "BFD needs speaker: bird (ExaBGP has no BFD)"))
    for index, peer in enumerate(bgp.peers):
        if peer.address == bgp.local_address:
            problems.append((f"bgp.peers[{index}].address", "is this node's local_address"))
    return problems
