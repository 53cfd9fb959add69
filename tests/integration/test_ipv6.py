"""IPv6 on both sides: a `[::1]` frontend and `[::1]` servers next to IPv4 ones."""

from __future__ import annotations

import hashlib
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from .clients import echo_roundtrip, hash_exact, recv_line
from .proc import FastlbProcess, make_config
from .servers import TcpServer, named_echo, source

pytestmark = pytest.mark.timeout(60)


def free_port_v6() -> int:
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        return int(sock.getsockname()[1])


def connect_v6(port: int) -> socket.socket:
    return socket.create_connection(("::1", port), timeout=10)


def test_ipv6_frontend_relays_to_ipv6_and_ipv4_servers(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    six = backend(named_echo("six"), "six", host="::1")
    four = backend(named_echo("four"), "four")
    config = make_config(
        [
            {"name": "six", "address": six.address, "weight": 1},
            {"name": "four", "address": four.address, "weight": 1},
        ]
    )
    port = free_port_v6()
    config["frontends"][0]["listen"] = f"[::1]:{port}"
    fastlb(config)

    names: Counter[str] = Counter()
    for i in range(6):
        with connect_v6(port) as sock:
            names[recv_line(sock).decode()] += 1
            echo_roundtrip(sock, f"over IPv6 {i}\n".encode() * 500)
    assert names == {"six": 3, "four": 3}


def test_ipv6_large_download_is_byte_exact(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    splice: str,
) -> None:
    data = bytes(range(256)) * (32 * 1024) + b"end"
    server = backend(source(data), "six", host="::1")
    config = make_config([{"name": "six", "address": server.address, "weight": 1}], splice=splice)
    port = free_port_v6()
    config["frontends"][0]["listen"] = f"[::1]:{port}"
    fastlb(config)

    with connect_v6(port) as sock:
        assert hash_exact(sock, len(data)) == hashlib.sha256(data).hexdigest()
        assert sock.recv(1) == b""
