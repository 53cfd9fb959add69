"""The `failover:` section: one VRRPv3 virtual router sharing `virtual_ips` with a peer."""

from __future__ import annotations

import math
import re
from ipaddress import IPv4Address, IPv4Interface
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from ..config_types import ConfigModel, Duration, between, field_error, refuse_bool
from ..notify_command import check_notify_command
from .packet import MAX_ADVERT_CENTISECONDS, ChecksumForm

__all__ = ["FailoverConfig"]

# Linux interface names: at most IFNAMSIZ - 1 = 15 bytes, no '/', no whitespace.
_INTERFACE_RE = re.compile(r"[^/\s:]{1,15}")


def _check_interface(value: str) -> str:
    if not _INTERFACE_RE.fullmatch(value):
        raise field_error(
            f"invalid interface name {value!r}: 1-15 characters, no '/', ':' or spaces"
        )
    return value


def _check_advert_interval(seconds: float) -> float:
    # Sent in centiseconds (12 bits): 10 ms steps from 10 ms to 40.95 s.
    centiseconds = seconds * 100
    if not 1 <= round(centiseconds) <= MAX_ADVERT_CENTISECONDS:
        raise field_error(f"must be between 10ms and 40.95s (got {seconds:g}s)")
    if not math.isclose(centiseconds, round(centiseconds), abs_tol=1e-6):
        raise field_error(
            f"must be a multiple of 10ms: VRRPv3 counts centiseconds (got {seconds:g}s)"
        )
    return seconds


def _virtual_ip(value: object) -> object:
    if not isinstance(value, str):
        raise field_error(f"must be an IPv4 address like 10.0.0.100/24 (got {value!r})")
    try:
        interface = IPv4Interface(value.strip())
    except ValueError:
        raise field_error(
            f"invalid virtual IP {value!r}: expected an IPv4 address with an optional prefix "
            "length, like 10.0.0.100/24 (IPv6 is not supported)"
        ) from None
    if interface.ip.is_multicast or interface.ip.is_unspecified or interface.ip.is_loopback:
        raise field_error(f"{value!r} cannot be a virtual IP (multicast, 0.0.0.0 or loopback)")
    return interface


def _unique_ips(values: list[IPv4Interface]) -> list[IPv4Interface]:
    seen: set[IPv4Address] = set()
    for interface in values:
        if interface.ip in seen:
            raise field_error(f"{interface.ip} is listed twice")
        seen.add(interface.ip)
    return values


def _peer(value: object) -> object:
    try:
        address = IPv4Address(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise field_error(f"invalid peer {value!r}: expected an IPv4 address") from None
    if address.is_multicast or address.is_unspecified:
        raise field_error(f"{value!r} cannot be a unicast peer")
    return address


_Vrid = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(1, 255))]
_Priority = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(1, 255))]


class FailoverConfig(ConfigModel):
    """Active-passive failover: VRRPv3 (RFC 5798) on `interface`, interoperable with
    keepalived's `vrrp_version 3`."""

    interface: Annotated[str, AfterValidator(_check_interface)]
    vrid: _Vrid
    # 255 claims to own the addresses (RFC 5798): such a node takes over at once at start.
    priority: _Priority = 100
    advert_interval: Annotated[Duration, AfterValidator(_check_advert_interval)] = 1.0
    virtual_ips: Annotated[
        list[Annotated[IPv4Interface, BeforeValidator(_virtual_ip)]],
        Field(min_length=1, max_length=255),
        AfterValidator(_unique_ips),
    ]
    preempt: bool = True
    unicast_peers: list[Annotated[IPv4Address, BeforeValidator(_peer)]] = Field(
        default_factory=list
    )
    notify: Annotated[str, AfterValidator(check_notify_command)] | None = None
    checksum: ChecksumForm = ChecksumForm.PSEUDO_HEADER

    @property
    def advert_centiseconds(self) -> int:
        return round(self.advert_interval * 100)

    def summary(self) -> dict[str, Any]:
        """The settings as plain JSON values (for the stats snapshot)."""
        return {
            "interface": self.interface,
            "vrid": self.vrid,
            "priority": self.priority,
            "advert_interval": self.advert_interval,
            "virtual_ips": [str(ip) for ip in self.virtual_ips],
            "preempt": self.preempt,
            "unicast_peers": [str(peer) for peer in self.unicast_peers],
            "checksum": str(self.checksum),
        }
