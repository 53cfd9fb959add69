"""TLS termination on frontends and TLS to backends, through the real `fastlb serve`, with a
certificate authority made in the test."""

from __future__ import annotations

import signal
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .clients import connect, echo_roundtrip, open_descriptors, recv_line, wait_until
from .pki import TestCA, serial_of
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo
from .tls_clients import client_context, first_record_type, tls11_client_hello, tls_connect

pytestmark = pytest.mark.timeout(60)

Fastlb = Callable[..., FastlbProcess]
Backend = Callable[..., TcpServer]


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


def tls_frontend(server: TcpServer, tls: dict[str, Any], **frontend: Any) -> dict[str, Any]:
    return make_config(
        [{"name": server.name, "address": server.address, "weight": 1}], tls=tls, **frontend
    )


def test_tls_terminates_and_relays_to_a_plain_backend(
    backend: Backend, fastlb: Fastlb, ca: TestCA
) -> None:
    server = backend(named_echo("s1"), "s1")
    site = ca.issue("site", ["web.test"])
    config = tls_frontend(server, site.files)
    lb = fastlb(config)
    port = frontend_port(config)

    with tls_connect(port, client_context(ca.cert_path), "web.test") as sock:
        assert sock.version() == "TLSv1.3", "TLS 1.3 is preferred when the client has it"
        assert serial_of(sock.getpeercert(True) or b"") == site.serial
        assert recv_line(sock) == b"s1"
        payload = bytes(range(256)) * 1024
        echo_roundtrip(sock, payload)
    with tls_connect(
        port, client_context(ca.cert_path, maximum=ssl.TLSVersion.TLSv1_2), "web.test"
    ) as sock:
        assert sock.version() == "TLSv1.2"
        assert recv_line(sock) == b"s1"

    frontend = lb.stats()["frontends"]["web"]
    # Plaintext bytes are counted (what the backend got), not TLS records.
    assert frontend["bytes_in"] == 256 * 1024, frontend
    assert frontend["tls_handshake_failures"] == 0
    assert server.accepted == 2


def test_tls_1_1_and_plaintext_are_refused_before_any_backend_is_contacted(
    backend: Backend, fastlb: Fastlb, ca: TestCA
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = tls_frontend(server, ca.issue("site", ["web.test"]).files)
    lb = fastlb(config)
    port = frontend_port(config)

    with connect(port) as sock:
        sock.sendall(tls11_client_hello("web.test"))
        assert first_record_type(sock) in {"alert", "eof", "reset"}
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n")
        assert first_record_type(sock) in {"alert", "eof", "reset"}

    def failures() -> int:
        return int(lb.stats()["frontends"]["web"]["tls_handshake_failures"])

    assert wait_until(lambda: failures() == 2, timeout=5), lb.stats()["frontends"]["web"]
    assert server.accepted == 0, "a refused handshake must not cost a backend connection"
    with tls_connect(port, client_context(ca.cert_path), "web.test") as sock:
        assert recv_line(sock) == b"s1"


def test_sni_picks_the_certificate_and_unknown_names_get_the_first(
    backend: Backend, fastlb: Fastlb, ca: TestCA
) -> None:
    server = backend(named_echo("s1"), "s1")
    default = ca.issue("default", ["default.test"])
    shop = ca.issue("shop", ["shop.test", "www.shop.test"])
    wildcard = ca.issue("wild", ["*.apps.test"])
    config = tls_frontend(server, {"certificates": [default.files, shop.files, wildcard.files]})
    fastlb(config)
    port = frontend_port(config)

    verified = client_context(ca.cert_path)
    for name, expected in [
        ("default.test", default),
        ("www.shop.test", shop),
        ("shop.test", shop),
        ("billing.apps.test", wildcard),
    ]:
        # The hostname check of the client passing is itself the proof of the right choice.
        with tls_connect(port, verified, name) as sock:
            assert serial_of(sock.getpeercert(True) or b"") == expected.serial, name
            assert recv_line(sock) == b"s1"
    unverified = client_context(None)
    for name in ("unknown.test", None):
        with tls_connect(port, unverified, name) as sock:
            assert serial_of(sock.getpeercert(True) or b"") == default.serial, name


def test_alpn_offers_the_configured_protocols_in_their_order(
    backend: Backend, fastlb: Fastlb, ca: TestCA
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = tls_frontend(
        server, {**ca.issue("site", ["web.test"]).files, "alpn": ["h2", "http/1.1"]}
    )
    fastlb(config)
    port = frontend_port(config)
    for offered, chosen in [
        (["http/1.1", "h2"], "h2"),
        (["http/1.1"], "http/1.1"),
        (None, None),
    ]:
        context = client_context(ca.cert_path, alpn=offered)
        with tls_connect(port, context, "web.test") as sock:
            assert sock.selected_alpn_protocol() == chosen, offered


def test_reload_serves_the_renewed_certificate_and_keeps_established_connections(
    backend: Backend, fastlb: Fastlb, ca: TestCA
) -> None:
    server = backend(named_echo("s1"), "s1")
    old = ca.issue("site", ["web.test"])
    config = tls_frontend(server, old.files)
    lb = fastlb(config)
    port = frontend_port(config)
    context = client_context(ca.cert_path)

    with tls_connect(port, context, "web.test") as established:
        assert recv_line(established) == b"s1"
        renewed = ca.issue("site", ["web.test"])  # same paths, new certificate and key
        assert renewed.serial != old.serial
        lb.popen.send_signal(signal.SIGHUP)

        def serial_now() -> int:
            with tls_connect(port, context, "web.test") as sock:
                return serial_of(sock.getpeercert(True) or b"")

        assert wait_until(lambda: serial_now() == renewed.serial, timeout=10), lb.log()
        echo_roundtrip(established, b"still encrypted with the old session\n")
        assert serial_of(established.getpeercert(True) or b"") == old.serial
    assert "tls certificates re-read" in lb.log()


def tls_echo(context: ssl.SSLContext, name: str) -> Callable[[socket.socket, TcpServer], None]:
    """A backend speaking TLS: greets with `name` then echoes."""
    plain = named_echo(name)

    def handle(conn: socket.socket, server: TcpServer) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            plain(tls, server)

    return handle


def test_backend_tls_verifies_the_server_against_the_ca(
    backend: Backend, fastlb: Fastlb, ca: TestCA, tmp_path: Path
) -> None:
    issued = ca.issue("backend", ["localhost"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_path, issued.key_path)
    server = backend(tls_echo(context, "tls-s1"), "s1")
    servers = [{"name": "s1", "address": f"localhost:{server.port}", "weight": 1}]
    config = make_config(servers, retries=0)
    config["backends"][0]["tls"] = {"verify": True, "ca": str(ca.cert_path)}
    lb = fastlb(config)
    port = frontend_port(config)

    # Verified as "localhost", the name it was configured with (resolved to 127.0.0.1).
    with connect(port) as sock:
        assert recv_line(sock) == b"tls-s1"
        echo_roundtrip(sock, b"encrypted to the backend\n" * 1000)

    # A CA that did not sign the backend's certificate: no connection gets through.
    (tmp_path / "other").mkdir()
    other = TestCA(tmp_path / "other", "other CA")
    config["backends"][0]["tls"] = {"verify": True, "ca": str(other.cert_path)}
    lb.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    lb.popen.send_signal(signal.SIGHUP)

    def refused() -> bool:
        with connect(port) as sock:
            sock.settimeout(5)
            try:
                return sock.recv(64) == b""
            except ConnectionResetError:
                return True

    assert wait_until(refused, timeout=10), lb.log()
    stats = lb.stats()
    assert stats["frontends"]["web"]["no_server_errors"] >= 1
    assert stats["backends"]["web"]["servers"]["s1"]["connect_errors"] >= 1


def test_slow_handshakes_time_out_and_leave_no_descriptor_behind(
    backend: Backend, fastlb: Fastlb, ca: TestCA
) -> None:
    server = backend(named_echo("s1"), "s1")
    config = tls_frontend(
        server, {**ca.issue("site", ["web.test"]).files, "handshake_timeout": "1s"}
    )
    lb = fastlb(config)
    port = frontend_port(config)
    descriptors = open_descriptors(lb.pid)

    hello = tls11_client_hello("web.test")
    started = time.monotonic()
    slow = [connect(port) for _ in range(20)]
    try:
        # Slow-loris: a byte every 200 ms would never finish; silence neither.
        for i in range(4):
            for sock in slow[:10]:
                sock.sendall(hello[i : i + 1])
            time.sleep(0.2)
        with tls_connect(port, client_context(ca.cert_path), "web.test") as sock:
            assert recv_line(sock) == b"s1", "others are served while the slow ones wait"
        for sock in slow:
            assert first_record_type(sock) in {"eof", "reset", "alert"}
        assert time.monotonic() - started < 10
    finally:
        for sock in slow:
            sock.close()

    # The socket closes as the timed-out handshake is dropped, a moment before the
    # counter moves: a busy machine can show the client its EOF first.
    def timeouts() -> int:
        return int(lb.stats()["frontends"]["web"]["tls_handshake_timeouts"])

    assert wait_until(lambda: timeouts() == 20, timeout=5), timeouts()
    assert server.accepted == 1
    assert wait_until(lambda: open_descriptors(lb.pid) <= descriptors, timeout=10), (
        f"{open_descriptors(lb.pid)} descriptors open, {descriptors} before"
    )


def test_the_negotiated_alpn_protocol_is_passed_to_a_tls_backend(
    backend: Backend, fastlb: Fastlb, ca: TestCA
) -> None:
    issued = ca.issue("backend", ["localhost"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_path, issued.key_path)
    context.set_alpn_protocols(["h2", "http/1.1"])

    def say_protocol(conn: socket.socket, server: TcpServer) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(f"{tls.selected_alpn_protocol()}\n".encode())
            while chunk := tls.recv(65536):
                tls.sendall(chunk)

    server = backend(say_protocol, "s1")
    servers = [{"name": "s1", "address": f"localhost:{server.port}", "weight": 1}]
    site = ca.issue("site", ["web.test"])
    config = make_config(servers, tls={**site.files, "alpn": ["h2", "http/1.1"]})
    config["backends"][0]["tls"] = {"ca": str(ca.cert_path)}
    fastlb(config)
    port = frontend_port(config)
    for offered, expected in [(["http/1.1", "h2"], b"h2"), (["http/1.1"], b"http/1.1")]:
        with tls_connect(port, client_context(ca.cert_path, alpn=offered), "web.test") as sock:
            assert sock.selected_alpn_protocol() == expected.decode()
            assert recv_line(sock) == expected, "the backend was offered what the client chose"
            echo_roundtrip(sock, b"TLS on both sides\n" * 100)
    with tls_connect(port, client_context(ca.cert_path), "web.test") as sock:
        assert recv_line(sock) == b"None", "no ALPN from the client: none to the backend"
