"""The PROXY protocol in `mode: http`, end to end through `fastlb serve`: `send_proxy` v1/v2 on
the backend of an http frontend in front of a real nginx that requires the header
(`listen ... proxy_protocol`, `real_ip_header proxy_protocol`) and answers `$remote_addr`; and
`accept_proxy` on an http frontend (curl `--haproxy-protocol`, hand-written v1/v2 headers)
whose claimed address becomes the X-Forwarded-For the server sees.

Clients bind 127.0.0.2 / 127.0.0.3 and fastlb connects from 127.0.0.1, so an address nginx
reports can only have come from the header."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .http_backends import Nginx, http_config, read_response
from .proc import FastlbProcess, free_port, frontend_port
from .test_proxy_protocol import running_nginx, v2_header

Start = Callable[[dict[str, Any]], FastlbProcess]

GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture
def proxy_nginx(tmp_path: Path) -> Iterator[str]:
    """nginx that wants a PROXY header first; `/` answers `remote=... client=... server=...`."""
    with running_nginx(tmp_path / "nginx") as address:
        yield address


def bound_client(port: int, source: str) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(10)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def send_proxy_config(server: str, version: str) -> dict[str, Any]:
    config = http_config([{"name": "n1", "address": server}], workers=2)
    config["backends"][0]["send_proxy"] = version
    return config


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_shows_nginx_each_keep_alive_client(
    proxy_nginx: str, fastlb: Start, version: str
) -> None:
    config = send_proxy_config(proxy_nginx, version)
    fastlb(config)
    port = frontend_port(config)
    clients = {source: bound_client(port, source) for source in ("127.0.0.2", "127.0.0.3")}
    buffers = {source: bytearray() for source in clients}
    try:
        # Interleaved keep-alive requests: a pooled connection carrying 127.0.0.2's header
        # must never answer for 127.0.0.3 (PROXY spec §2, HAProxy keeps them private).
        for _ in range(10):
            for source, sock in clients.items():
                sock.sendall(GET)
                response = read_response(sock, buffers[source])
                assert response.status == 200, response.body
                own = f"{source}:{sock.getsockname()[1]}"
                assert response.body.decode().startswith(f"remote={source} client={own} "), (
                    source,
                    response.body,
                )
    finally:
        for sock in clients.values():
            sock.close()
    # A new connection from the same address later still shows its own port.
    with bound_client(port, "127.0.0.2") as sock:
        sock.sendall(GET)
        body = read_response(sock, bytearray()).body.decode()
        assert body.startswith(f"remote=127.0.0.2 client=127.0.0.2:{sock.getsockname()[1]} ")


# --- accept_proxy on an http frontend --------------------------------------------------------


@pytest.fixture
def xff_nginx(tmp_path: Path) -> Iterator[Nginx]:
    server = Nginx(
        tmp_path / "xff",
        "xff",
        "location / { return 200 'xff=$http_x_forwarded_for peer=$remote_addr\\n'; }",
    )
    try:
        yield server
    finally:
        server.close()


def accept_proxy_config(server: Nginx) -> dict[str, Any]:
    config = http_config([{"name": "n1", "address": server.address}])
    config["frontends"][0].update(accept_proxy=True, trusted_proxies=["127.0.0.0/8"])
    return config


def test_accept_proxy_from_curl_haproxy_protocol(xff_nginx: Nginx, fastlb: Start) -> None:
    config = accept_proxy_config(xff_nginx)
    proxy = fastlb(config)
    port = frontend_port(config)
    urls = [f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"]
    options = ["-sS", "--max-time", "10", "--interface", "127.0.0.2", "--haproxy-protocol"]
    done = subprocess.run(["curl", *options, *urls], capture_output=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr.decode()
    # Two requests on one connection (curl reuses it): one header, both forwarded for it.
    assert done.stdout.decode() == "xff=127.0.0.2 peer=127.0.0.1\n" * 2
    # Without the header the frontend refuses the connection (curl sees it closed).
    plain = subprocess.run(
        ["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert plain.returncode != 0, plain.stdout
    assert proxy.stats()["frontends"]["web"]["proxy_refused"] >= 1


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_accept_proxy_claimed_address_becomes_x_forwarded_for(
    xff_nginx: Nginx, fastlb: Start, version: str
) -> None:
    config = accept_proxy_config(xff_nginx)
    fastlb(config)
    port = frontend_port(config)
    claimed = ("192.0.2.7", 40000)
    with bound_client(port, "127.0.0.3") as sock:
        if version == "v1":
            header = f"PROXY TCP4 {claimed[0]} 127.0.0.1 {claimed[1]} {port}\r\n".encode()
        else:
            header = v2_header(claimed, ("127.0.0.1", port))
        sock.sendall(header + GET)
        buffer = bytearray()
        bodies = [read_response(sock, buffer).body]
        sock.sendall(GET)
        bodies.append(read_response(sock, buffer).body)
    # The proxied address, not the peer (127.0.0.3), on every request of the connection.
    assert bodies == [b"xff=192.0.2.7 peer=127.0.0.1\n"] * 2


def test_accept_proxy_header_sent_in_pieces(xff_nginx: Nginx, fastlb: Start) -> None:
    config = accept_proxy_config(xff_nginx)
    fastlb(config)
    port = frontend_port(config)
    header = f"PROXY TCP4 198.51.100.9 127.0.0.1 1234 {port}\r\n".encode()
    with bound_client(port, "127.0.0.2") as sock:
        for piece in (header[:7], header[7:20], header[20:] + GET[:5], GET[5:]):
            sock.sendall(piece)
            time.sleep(0.05)  # separate segments: the reader must wait for the rest
        body = read_response(sock, bytearray()).body.decode()
    assert re.fullmatch(r"xff=198\.51\.100\.9 peer=127\.0\.0\.1\n", body), body


def test_accept_proxy_behind_a_send_proxy_tcp_frontend(xff_nginx: Nginx, fastlb: Start) -> None:
    # A real chain: curl (127.0.0.3) -> tcp frontend `edge` (send_proxy v2) -> http frontend
    # `web` (accept_proxy, trusting 127.0.0.1 only) -> nginx. `web`'s peer is 127.0.0.1; the
    # X-Forwarded-For it writes must be the client the header names.
    config = accept_proxy_config(xff_nginx)
    config["frontends"][0]["trusted_proxies"] = ["127.0.0.1/32"]
    web = config["frontends"][0]["listen"]
    edge_port = free_port()
    config["frontends"].append(
        {"name": "edge", "listen": f"127.0.0.1:{edge_port}", "mode": "tcp", "backend": "hop"}
    )
    config["backends"].append(
        {"name": "hop", "send_proxy": "v2", "servers": [{"name": "web", "address": web}]}
    )
    proxy = fastlb(config)
    options = ["-sS", "--max-time", "10", "--interface", "127.0.0.3"]
    done = subprocess.run(
        ["curl", *options, f"http://127.0.0.1:{edge_port}/"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == "xff=127.0.0.3 peer=127.0.0.1\n"
    # The same client straight at `web` (untrusted peer 127.0.0.3, even with a header) is
    # refused.
    done = subprocess.run(
        ["curl", *options, "--haproxy-protocol", f"http://{web}/"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert done.returncode != 0, done.stdout
    assert proxy.stats()["frontends"]["web"]["proxy_refused"] == 1
