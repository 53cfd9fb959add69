"""HAProxy's value syntaxes turned into fastlb's: times, addresses, names, header values."""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "ValueProblem",
    "bind_addresses",
    "duration",
    "fastlb_name",
    "parse_time_ms",
    "server_address",
    "static_value",
]

# HAProxy times: a number with an optional unit; no unit means milliseconds.
_TIME_RE = re.compile(r"(\d+)(us|ms|s|m|h|d)?")
_TIME_UNITS_MS = {"us": 0.001, "ms": 1, None: 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_TIME_UNITS_MS["d"] = 86_400_000
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]")


class ValueProblem(ValueError):
    """A value the importer cannot carry over; the message says why."""


def parse_time_ms(text: str) -> int:
    """`5000`, `5s`, `1m`, `100us`... -> milliseconds (rounded up: never 0 from a non-zero
    time, which fastlb would refuse)."""
    match = _TIME_RE.fullmatch(text)
    if not match:
        raise ValueProblem(f"{text!r} is not an HAProxy time (e.g. 5000, 5s, 1m)")
    milliseconds = int(match[1]) * _TIME_UNITS_MS[match[2]]
    return int(-(-milliseconds // 1))


def duration(milliseconds: int) -> str:
    """Milliseconds as fastlb writes durations: `1h`, `2m`, `5s` or `250ms`."""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if milliseconds and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"


def fastlb_name(name: str) -> str:
    """A proxy or server name as fastlb takes it (letters, digits, `.`, `_`, `-`, starting
    with a letter or digit, at most 64)."""
    cleaned = _NAME_BAD.sub("-", name).lstrip("._-")[:64]
    return cleaned or "unnamed"


def _host_port(text: str, what: str) -> tuple[str, str]:
    """Split HAProxy's `host:port`, where an IPv6 host is written bare (`:::80`,
    `::1:80`), bracketed, or after `ipv6@`."""
    for prefix in ("ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"):
        text = text.removeprefix(prefix)
    if "@" in text or text.startswith("/"):
        raise ValueProblem(
            f"{text!r}: fastlb {what} on TCP addresses only (no UNIX sockets, fd@, abns@)"
        )
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            host, port = text, ""
    return host, port


def _format(host: str, port: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"{host}:{port}"
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def bind_addresses(text: str) -> list[str]:
    """`*:80`, `:443`, `10.0.0.1:80,10.0.0.2:80`, `:::80`, `ipv6@:80` -> fastlb listen
    addresses. An empty or `*` host is every IPv4 address, as in HAProxy."""
    addresses = []
    for part in text.split(","):
        host, port = _host_port(part, "listens")
        if not port.isdigit():
            raise ValueProblem(
                f"{part!r}: a port range or missing port cannot be imported; "
                "give one frontend per port"
            )
        if host in ("", "*"):
            host = "0.0.0.0"
        elif host == "::":
            host = "::"
        addresses.append(_format(host, port))
    return addresses


def server_address(text: str) -> str:
    """A server's `host:port`. HAProxy also takes no port (the client's destination port)
    and `+N` offsets: fastlb needs a fixed port."""
    host, port = _host_port(text, "connects")
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueProblem(
            f"{text!r}: fastlb needs a fixed port for each server (HAProxy's missing port or "
            "+N offset reuses the client's destination port)"
        )
    return _format(host, port)


def static_value(text: str) -> str | None:
    """A header value of HAProxy's log-format syntax as a constant (`%%` is `%`), or None
    when it is computed per request (`%[...]`, `%ci`, ...)."""
    if "%" not in text.replace("%%", ""):
        return text.replace("%%", "%")
    return None
