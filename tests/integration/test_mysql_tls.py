"""TLS on a `mode: mysql` frontend (the client's SSLRequest) and to its servers (fastlb's
SSLRequest), through a real `fastlb serve` in front of two private MariaDB servers that
refuse plaintext (`require_secure_transport`), so every statement that works proves the
server side is encrypted too."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mysql.connector
import pymysql
import pytest

from fastlb.errors import NoPrimaryError
from fastlb.mysql import Router

from . import mariadb as mariadb_helpers
from .clients import recv_exact, recv_until_eof, wait_until
from .mariadb import PASSWORD, USER, Template
from .mysql_proxy import (
    PRIMARY_ID,
    REPLICA_ID,
    Pair,
    connect,
    mysql_stats,
    one,
    proxy_config,
    running_proxy,
    server_id,
    sql_port,
    standalone_pair,
)
from .pki import TestCA, serial_of
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(60)

CLIENT_SSL = 1 << 11
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_PLUGIN_AUTH = 1 << 19


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_pair(mariadb_template: Template, ca: TestCA) -> Iterator[Pair]:
    """Two servers with certificates from the test CA that refuse plaintext clients."""
    server = ca.issue("mariadb", ["db.test"], ips=("127.0.0.1",))
    options = (
        f"--ssl-cert={server.cert_path}",
        f"--ssl-key={server.key_path}",
        f"--ssl-ca={ca.cert_path}",
        "--require-secure-transport=ON",
    )
    with standalone_pair(mariadb_template, options=options) as pair:
        yield pair


def tls_config(pair: Pair, ca: TestCA, **frontend_tls: Any) -> dict[str, Any]:
    """fastlb with TLS on the `sql` frontend (a certificate for 127.0.0.1) and to the
    servers (verified against the test CA)."""
    config = proxy_config(pair)
    site = ca.issue("proxy", ["sql.test"], ips=("127.0.0.1",))
    config["frontends"][0]["tls"] = {**site.files, **frontend_tls}
    config["backends"][0]["tls"] = {"verify": True, "ca": str(ca.cert_path)}
    return config


@pytest.fixture(scope="module")
def proxy(
    tls_pair: Pair, ca: TestCA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastlbProcess]:
    with running_proxy(tls_config(tls_pair, ca), tmp_path_factory.mktemp("fastlb")) as process:
        yield process


@pytest.fixture
def port(proxy: FastlbProcess) -> int:
    return sql_port(proxy)


def tls_options(ca: TestCA) -> dict[str, Any]:
    """PyMySQL over TLS, verifying fastlb's certificate and its name (127.0.0.1)."""
    return {"ssl_ca": str(ca.cert_path), "ssl_verify_identity": True}


def test_tls_from_the_client_through_fastlb_to_both_servers(
    proxy: FastlbProcess, port: int, ca: TestCA
) -> None:
    before = mysql_stats(proxy)
    with connect(port, **tls_options(ca)) as connection:
        sock = connection._sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() == "TLSv1.3"
        # Reads on the replica, writes on the primary: both servers refuse plaintext, so
        # fastlb reached each over TLS; the cipher is what the server itself reports.
        assert server_id(connection) == REPLICA_ID
        assert one(
            connection,
            "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
            "WHERE VARIABLE_NAME = 'Ssl_cipher'",
        )
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO items (v) VALUES ('over tls')")
            cursor.execute("SELECT @@server_id FOR UPDATE")
            assert cursor.fetchone() == (PRIMARY_ID,)
        connection.begin()
        assert server_id(connection) == PRIMARY_ID  # a transaction stays on the primary
        connection.commit()
    after = mysql_stats(proxy)
    assert after["sessions"] == before["sessions"] + 1
    assert after["tls_sessions"] == before["tls_sessions"] + 1


def test_plaintext_clients_are_refused_when_tls_is_required(
    proxy: FastlbProcess, port: int
) -> None:
    before = mysql_stats(proxy)["auth_failures"]
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(port, ssl_disabled=True)
    assert refused.value.args[0] == 3159
    assert "must use TLS" in refused.value.args[1]
    assert mysql_stats(proxy)["auth_failures"] == before + 1


def test_prepared_statements_and_the_mariadb_cli_over_tls(
    proxy: FastlbProcess, port: int, ca: TestCA, tls_pair: Pair
) -> None:
    connection = mysql.connector.connect(
        host="127.0.0.1",
        port=port,
        user=USER,
        password=PASSWORD,
        database="app",
        ssl_ca=str(ca.cert_path),
        ssl_verify_cert=True,
        ssl_verify_identity=True,
        autocommit=True,
    )
    try:
        cursor = connection.cursor(prepared=True)
        cursor.execute("SELECT @@server_id + ?", (100,))
        assert cursor.fetchone() == (REPLICA_ID + 100,)
        cursor.close()
    finally:
        connection.close()
    cli = tls_pair.primary.client_command(
        "--ssl",
        f"--ssl-ca={ca.cert_path}",
        "--ssl-verify-server-cert",
        "--skip-column-names",
        "-e",
        "SELECT @@server_id; \\s",
        tcp_port=port,
    )
    done = subprocess.run(
        cli, env=tls_pair.primary.client_env(), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(REPLICA_ID)
    assert "Cipher in use is TLS_AES" in done.stdout


def test_required_false_takes_plaintext_and_tls_clients(
    tls_pair: Pair, ca: TestCA, tmp_path: Path
) -> None:
    with running_proxy(tls_config(tls_pair, ca, required=False), tmp_path) as process:
        port = sql_port(process)
        with (
            connect(port, ssl_disabled=True) as plain,
            connect(port, **tls_options(ca)) as encrypted,
        ):
            assert not isinstance(plain._sock, ssl.SSLSocket)
            assert isinstance(encrypted._sock, ssl.SSLSocket)
            # fastlb -> server is TLS either way (the backend's tls).
            assert server_id(plain) == server_id(encrypted) == REPLICA_ID
        assert mysql_stats(process)["tls_sessions"] == 1


def test_a_hello_in_the_same_segment_as_the_ssl_request_is_not_lost(port: int, ca: TestCA) -> None:
    """Clients send their TLS ClientHello right behind the SSLRequest; fastlb may have read
    both at once, and must hand the hello's bytes to the handshake."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        greeting = read_packet(sock)
        capabilities, scramble = parse_greeting(greeting)
        assert capabilities & CLIENT_SSL
        ours = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_SSL
        fixed = struct.pack("<IIB23x", ours, 1 << 24, 45)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        context = ssl.create_default_context(cafile=str(ca.cert_path))
        tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
        with pytest.raises(ssl.SSLWantReadError):
            tls.do_handshake()
        sock.sendall(frame(fixed, 1) + outgoing.read())  # request and hello together
        for _ in range(20):
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    sock.sendall(outgoing.read())
                data = sock.recv(65536)
                assert data, "fastlb closed the connection during the handshake"
                incoming.write(data)
        sock.sendall(outgoing.read())
        token = native_password_token(PASSWORD.encode(), scramble)
        response = fixed + USER.encode() + b"\0" + bytes([len(token)]) + token
        response += b"mysql_native_password\0"
        tls.write(frame(response, 2))
        sock.sendall(outgoing.read())
        reply = b""
        while len(reply) < 5:
            try:
                reply += tls.read(65536)
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    sock.sendall(outgoing.read())
                data = sock.recv(65536)
                assert data, "fastlb closed the connection after the handshake"
                incoming.write(data)
        assert reply[3] == 3, reply  # sequence id after the request (1) and response (2)
        assert reply[4] == 0x00, reply  # OK: logged in


def test_garbage_after_the_ssl_request_closes_only_that_connection(
    proxy: FastlbProcess, port: int, ca: TestCA
) -> None:
    failures = proxy.stats()["frontends"]["sql"]["tls_handshake_failures"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as hostile:
        read_packet(hostile)
        request = struct.pack("<IIB23x", CLIENT_PROTOCOL_41 | CLIENT_SSL, 1 << 24, 45)
        hostile.sendall(frame(request, 1) + b"GET / HTTP/1.0\r\n\r\n" * 10)
        with connect(port, **tls_options(ca)) as other:
            assert server_id(other) == REPLICA_ID
        recv_until_eof(hostile)  # an alert or nothing, then EOF (still open after 10 s: fails)
    assert wait_until(
        lambda: proxy.stats()["frontends"]["sql"]["tls_handshake_failures"] == failures + 1,
        timeout=5,
    )


def test_reload_serves_the_renewed_certificate(proxy: FastlbProcess, port: int, ca: TestCA) -> None:
    with connect(port, **tls_options(ca)) as before:
        old_serial = serial_of(before._sock.getpeercert(True) or b"")
        renewed = ca.issue("proxy", ["sql.test"], ips=("127.0.0.1",))  # same files
        assert proxy.api("POST", "/api/reload")[0] == 200

        def serial_now() -> int:
            with connect(port, **tls_options(ca)) as connection:
                return serial_of(connection._sock.getpeercert(True) or b"")

        assert wait_until(lambda: serial_now() == renewed.serial, timeout=10)
        assert renewed.serial != old_serial
        assert server_id(before) == REPLICA_ID  # the established session goes on


def test_a_server_without_tls_behind_a_tls_backend_is_a_clear_error(
    mariadb_template: Template, ca: TestCA, tmp_path: Path
) -> None:
    with (
        standalone_pair(mariadb_template) as plain_pair,
        running_proxy(tls_config(plain_pair, ca), tmp_path) as process,
    ):
        with pytest.raises(pymysql.err.OperationalError) as refused:
            connect(sql_port(process), **tls_options(ca))
        assert "the backend has tls, but the server doesn't offer TLS" in refused.value.args[1]


def test_the_topology_monitor_reaches_tls_only_servers(
    tls_pair: Pair, ca: TestCA, tmp_path: Path
) -> None:
    config = tls_config(tls_pair, ca)
    config["backends"][0]["mysql"]["monitor"] = {
        "user": USER,
        "password": PASSWORD,
        "interval": "200ms",
    }
    with running_proxy(config, tmp_path) as process:

        def servers() -> list[dict[str, Any]]:
            decision = process.stats().get("mysql_topology", {}).get("db")
            return [] if decision is None else list(decision["servers"])

        assert wait_until(lambda: len(servers()) == 2, timeout=10), process.log()
        assert all(server["reachable"] for server in servers()), servers()


def test_the_in_process_router_uses_the_backends_tls(tls_pair: Pair, ca: TestCA) -> None:
    backend = tls_config(tls_pair, ca)["backends"][0]
    # Without a monitor: these two servers don't replicate, a monitor would keep the
    # unreplicating one out of the read pool.
    router = Router.from_config(backend, db="app", causal_reads="off", monitor_interval=None)

    async def main() -> None:
        async with router:
            assert await router.fetchone("SELECT @@server_id") == (REPLICA_ID,)
            cipher = await router.fetchone("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            assert cipher is not None and cipher[1]

    asyncio.run(main())


@pytest.mark.parametrize(("server_name", "works"), [("db.test", True), ("other.test", False)])
# aiomysql leaves the transport of a connection whose TLS handshake failed to be closed by
# the garbage collector, which may find it after asyncio.run() closed the loop ("fd is not
# registered", reported as unraisable): its cleanup, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_routers_tls_checks_the_configured_server_name(
    tls_pair: Pair, ca: TestCA, server_name: str, works: bool
) -> None:
    backend = tls_config(tls_pair, ca)["backends"][0]
    backend["tls"]["server_name"] = server_name
    router = Router.from_config(backend, db="app", causal_reads="off", monitor_interval=None)

    async def main() -> None:
        async with router:
            if works:
                assert await router.fetchone("SELECT @@server_id") == (REPLICA_ID,)
            else:
                # Refused by the certificate check alone: the same setup with the name the
                # certificate carries works (the other case).
                with pytest.raises(NoPrimaryError):
                    await router.fetchone("SELECT @@server_id")
                # Collect the failed connections now, while the loop runs, not during a
                # later test.
                gc.collect()
                await asyncio.sleep(0.1)

    asyncio.run(main())


def test_a_stalled_tls_handshake_counts_as_a_handshake_timeout(
    tls_pair: Pair, ca: TestCA, tmp_path: Path
) -> None:
    config = tls_config(tls_pair, ca)
    # The login budget (the idle timeout, at most 10 s) ends before the handshake's own
    # 10 s timeout: either way it's a handshake that didn't finish.
    config["frontends"][0]["idle_timeout"] = "1s"
    with running_proxy(config, tmp_path) as process:
        port = sql_port(process)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            read_packet(slow)
            request = struct.pack("<IIB23x", CLIENT_PROTOCOL_41 | CLIENT_SSL, 1 << 24, 45)
            slow.sendall(frame(request, 1) + b"\x16\x03")  # a hello that never completes
            started = time.monotonic()
            recv_until_eof(slow)  # closed by fastlb
            assert time.monotonic() - started < 5
        frontend = process.stats()["frontends"]["sql"]
        assert wait_until(
            lambda: process.stats()["frontends"]["sql"]["tls_handshake_timeouts"] == 1,
            timeout=5,
        ), frontend
        assert frontend["mysql"]["protocol_errors"] == 0


# --- the MySQL wire protocol, by hand ------------------------------------------------------


def frame(payload: bytes, seq: int) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def read_packet(sock: socket.socket) -> bytes:
    header = recv_exact(sock, 4)
    return recv_exact(sock, int.from_bytes(header[:3], "little"))


def parse_greeting(payload: bytes) -> tuple[int, bytes]:
    """(capabilities, the 20-byte scramble) of a HandshakeV10."""
    assert payload[0] == 10
    at = payload.index(b"\0", 1) + 1 + 4  # server version, connection id
    part1 = payload[at : at + 8]
    at += 8 + 1
    low = int.from_bytes(payload[at : at + 2], "little")
    at += 2 + 1 + 2  # capabilities (low), collation, status
    high = int.from_bytes(payload[at : at + 2], "little")
    at += 2 + 1 + 10  # capabilities (high), auth data length, reserved
    part2 = payload[at : at + 12]
    return low | high << 16, part1 + part2


def native_password_token(password: bytes, scramble: bytes) -> bytes:
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(stage1).digest()
    mask = hashlib.sha1(scramble + stage2).digest()
    return bytes(a ^ b for a, b in zip(stage1, mask, strict=True))
