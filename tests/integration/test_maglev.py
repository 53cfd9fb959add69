"""`balance: maglev` (and `source`) end to end: `fastlb serve` in front of three real
servers. A client address always reaches the same server, on one node and on a second,
independent one; draining or removing a server through the API moves only its clients.
In HTTP mode (real nginx servers) every request of a client goes to its server.

Clients come from different loopback addresses (127.0.0.2, 127.0.0.3, ...: Linux accepts
any 127/8 source on lo), which is what the hash sees."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .clients import recv_line
from .http_backends import NAMED, http_config, nginx_servers, read_response
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo
from .traffic import api_ok

pytestmark = pytest.mark.timeout(90)

CLIENTS = [f"127.0.0.{i}" for i in range(2, 32)]
NAMES = ("a", "b", "c")


def server_for(port: int, source: str) -> str:
    """One new connection from `source` through fastlb: which server answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        return recv_line(sock).decode()


def mapping(port: int, connections: int = 1) -> dict[str, str]:
    """Each client address's server, checking that all its `connections` agree."""
    result: dict[str, str] = {}
    for client in CLIENTS:
        seen = {server_for(port, client) for _ in range(connections)}
        assert len(seen) == 1, f"{client} reached {seen}"
        result[client] = seen.pop()
    return result


def maglev_config(servers: dict[str, TcpServer], balance: str = "maglev") -> dict[str, Any]:
    config = make_config(
        [{"name": n, "address": s.address, "weight": 1} for n, s in servers.items()]
    )
    config["backends"][0]["balance"] = balance
    return config


@pytest.fixture
def three(backend: Callable[..., TcpServer]) -> dict[str, TcpServer]:
    return {name: backend(named_echo(name), name) for name in NAMES}


def test_same_client_same_server_across_connections_and_nodes(
    three: dict[str, TcpServer], fastlb: Callable[[dict[str, Any]], FastlbProcess]
) -> None:
    first = fastlb(maglev_config(three))
    one = mapping(frontend_port(first.config), connections=5)
    assert set(one.values()) == set(NAMES), one  # 30 clients spread over all three

    # A second node, configured independently (servers listed in another order, `source`
    # spelling): no shared state, the same answers.
    reordered = {name: three[name] for name in reversed(NAMES)}
    second = fastlb(maglev_config(reordered, balance="source"))
    assert mapping(frontend_port(second.config), connections=3) == one


@pytest.mark.parametrize("change", ["drain", "remove"])
def test_taking_a_server_out_moves_only_its_clients(
    three: dict[str, TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    change: str,
) -> None:
    lb = fastlb(maglev_config(three))
    port = frontend_port(lb.config)
    before = mapping(port)
    if change == "drain":
        api_ok(lb, "PUT", "/api/backends/web/servers/b", {"state": "drain"})
    else:
        api_ok(lb, "DELETE", "/api/backends/web/servers/b")
    after = mapping(port, connections=2)
    for client, server in before.items():
        if server == "b":
            assert after[client] in ("a", "c"), (client, after[client])
        else:
            assert after[client] == server, f"{client} moved from {server} to {after[client]}"
    assert "b" in before.values()

    if change == "drain":
        # Back in: every client is where it was (the table never changed).
        api_ok(lb, "PUT", "/api/backends/web/servers/b", {"state": "ready"})
        assert mapping(port) == before


def http_servers_for(port: int, source: str, requests: int) -> set[bytes]:
    """`requests` keep-alive requests on one connection from `source`: the bodies (server
    names) that answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        buffer = bytearray()
        bodies = set()
        for _ in range(requests):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            bodies.add(read_response(sock, buffer).body)
        return bodies


def test_http_requests_of_a_client_go_to_its_server(
    tmp_path: Path, fastlb: Callable[[dict[str, Any]], FastlbProcess]
) -> None:
    specs = {name: NAMED.format(name=name) for name in NAMES}
    with nginx_servers(tmp_path, specs) as servers:
        config = http_config(
            [
                {"name": n, "address": s.address, "weight": 1}
                for n, s in zip(NAMES, servers, strict=True)
            ]
        )
        config["backends"][0]["balance"] = "maglev"
        port = frontend_port(config)
        fastlb(config)
        chosen = {}
        for client in CLIENTS:
            # Two connections of 4 requests each (round-robin would alternate per request).
            seen = http_servers_for(port, client, 4) | http_servers_for(port, client, 4)
            assert len(seen) == 1, f"{client} reached {seen}"
            chosen[client] = seen.pop().decode()
        assert set(chosen.values()) == set(NAMES), chosen
