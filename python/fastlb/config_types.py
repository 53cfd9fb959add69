"""Reusable field types of fastlb's configuration: durations, addresses, names, bounded
integers, each an `Annotated` type whose errors read well in `fastlb check`."""

from __future__ import annotations

import ipaddress
import math
import re
import socket
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from .contract import MAX_WEIGHT


class ConfigModel(BaseModel):
    """Base of every configuration section: an unknown key is an error that names it (a typo
    never silently falls back to a default), and a validated section can't change afterwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = [
    "FIELD_ERROR_TYPE",
    "Duration",
    "ListenAddress",
    "Name",
    "PositiveDuration",
    "ServerAddress",
    "Weight",
    "between",
    "field_error",
    "parse_duration",
    "refuse_bool",
    "resolve_address",
    "split_host_port",
]

# Every custom error uses this type so the formatter knows its message is already complete.
FIELD_ERROR_TYPE = "fastlb"


def field_error(message: str) -> PydanticCustomError:
    # The message is used as a format string by pydantic-core: escape literal braces.
    return PydanticCustomError(FIELD_ERROR_TYPE, message.replace("{", "{{").replace("}", "}}"))


# --------------------------------------------------------------------------- field types

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """`250ms`, `2s`, `1m`, `1h`, or a number of seconds -> seconds as a float."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.fullmatch(value.strip())):
        seconds = float(match[1]) * _DURATION_UNITS[match[2]]
    else:
        raise field_error(
            f"invalid duration {value!r}: use a number of seconds or a number with a unit "
            "(250ms, 2s, 1m, 1h)"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise field_error(f"invalid duration {value!r}: must be a finite, non-negative time")
    return seconds


def _require_positive_duration(seconds: float) -> float:
    if seconds <= 0:
        raise field_error("must be longer than 0s")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds (float), written `250ms`, `2s`, `1m`, `1h` or as a number of seconds."""
PositiveDuration = Annotated[Duration, AfterValidator(_require_positive_duration)]


def refuse_bool(value: object) -> object:
    # pydantic's lax mode takes True/False as 1/0; in a config file that is always a mistake.
    if isinstance(value, bool):
        raise field_error(f"must be an integer, not a boolean (got {value!r})")
    return value


def between(low: int, high: int | None) -> Callable[[int], int]:
    def check_range(value: int) -> int:
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise field_error(f"must be {bounds} (got {value})")
        return value

    return check_range


Weight = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(0, MAX_WEIGHT))]
"""A server weight, 0..MAX_WEIGHT (HAProxy's range); 0 takes no new connections."""


# RFC 1123 labels, plus '_' because container and service names (docker compose) use it.
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)


def split_host_port(address: str, *, min_port: int = 1) -> tuple[str, int]:
    """Split `host:port` or `[v6]:port`, checking the host's syntax and the port's range.

    Raises ValueError with a message meant for the user.
    """
    if address.startswith("["):
        host, closed, rest = address[1:].partition("]")
        if not closed or not rest.startswith(":"):
            raise ValueError(f"invalid address {address!r}: write IPv6 as [addr]:port")
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(
                f"invalid address {address!r}: {host!r} is not an IPv6 address"
            ) from None
    else:
        host, colon, port_text = address.rpartition(":")
        if not colon:
            raise ValueError(f"invalid address {address!r}: expected host:port")
        if ":" in host:
            raise ValueError(f"invalid address {address!r}: write IPv6 as [addr]:port")
        if not _HOSTNAME_RE.fullmatch(host):
            raise ValueError(f"invalid address {address!r}: {host!r} is not a valid host")
    if not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"invalid address {address!r}: port must be a number")
    port = int(port_text)
    if not min_port <= port <= 65535:
        raise ValueError(f"invalid address {address!r}: port must be between {min_port} and 65535")
    return host, port


def _address_validator(min_port: int) -> Callable[[object], str]:
    def validate(value: object) -> str:
        if not isinstance(value, str):
            raise field_error(f"must be a string 'host:port' (got {value!r})")
        try:
            split_host_port(value, min_port=min_port)
        except ValueError as exc:
            raise field_error(str(exc)) from None
        return value

    return validate


ListenAddress = Annotated[str, BeforeValidator(_address_validator(min_port=0))]
"""`host:port` or `[v6]:port` to listen on; port 0 picks any free port."""
ServerAddress = Annotated[str, BeforeValidator(_address_validator(min_port=1))]
"""`host:port` or `[v6]:port` of a server; the host may be a name, resolved at start."""

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_name(value: str) -> str:
    # Names end up in log lines, API URLs and Prometheus labels: keep them plain.
    if not _NAME_RE.fullmatch(value):
        raise field_error(
            f"invalid name {value!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]


def resolve_address(address: str) -> str:
    """`host:port` -> literal `ip:port` (`[v6]:port`), preferring IPv4.

    IPv4 first because `localhost` often resolves to ::1 first while small test servers and
    most backends listen on 127.0.0.1 only.
    """
    host, port = split_host_port(address, min_port=0)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"no address for {host!r}") from None
        infos.sort(key=lambda info: info[0] != socket.AF_INET)
        ip = ipaddress.ip_address(infos[0][4][0])
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def milliseconds(seconds: float) -> int:
    """A duration for the core: rounded up, so that a sub-millisecond duration never
    becomes 0 ("no timeout" to some code)."""
    return max(1, math.ceil(seconds * 1000))
