"""TLS clients for the integration tests: Python's ssl (OpenSSL) against fastlb, and a raw
TLS 1.1 ClientHello that no library will send any more."""

from __future__ import annotations

import os
import socket
import ssl
import struct
from pathlib import Path

from .clients import connect


def client_context(
    ca: Path | None,
    *,
    maximum: ssl.TLSVersion | None = None,
    alpn: list[str] | None = None,
) -> ssl.SSLContext:
    """Verifies against `ca` (hostname included); without `ca`, verifies nothing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(ca)
    if maximum is not None:
        context.maximum_version = maximum
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def tls_connect(
    port: int, context: ssl.SSLContext, server_name: str | None, timeout: float = 10.0
) -> ssl.SSLSocket:
    sock = connect(port, timeout=timeout)
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise


def tls11_client_hello(server_name: str) -> bytes:
    """A ClientHello that offers TLS 1.1 at most (legacy version 3.2, no supported_versions
    extension), with TLS 1.1-era cipher suites and SNI."""
    name = server_name.encode()
    sni = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    extensions = struct.pack("!HH", 0, len(sni)) + sni
    suites = bytes.fromhex("c013c014002f0035000a")
    body = (
        b"\x03\x02"
        + os.urandom(32)
        + b"\x00"
        + struct.pack("!H", len(suites))
        + suites
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def first_record_type(sock: socket.socket) -> str:
    """What the server answered first: "alert", "handshake", "eof" or "reset"."""
    try:
        data = sock.recv(5)
    except ConnectionResetError:
        return "reset"
    if not data:
        return "eof"
    return {0x15: "alert", 0x16: "handshake"}.get(data[0], f"record type {data[0]:#x}")
