"""X.509 v1 certificates (made by old tooling, e.g. `openssl x509 -req` without extensions,
and by several client libraries' test fixtures): served by a TLS frontend, and accepted from
a server by a backend with `tls: {verify: false}`; a key of another certificate is refused
with the true reason."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from support import fastlb_command

from .clients import connect, echo_roundtrip, recv_line
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo
from .test_tls import tls_echo
from .tls_clients import tls_connect

pytestmark = pytest.mark.timeout(60)

Fastlb = Callable[..., FastlbProcess]
Backend = Callable[..., TcpServer]


def v1_certificate(directory: Path, name: str = "v1") -> tuple[Path, Path]:
    """A self-signed X.509 v1 certificate for CN=localhost and its ECDSA P-256 key."""
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    openssl("req", "-new", "-key", str(key), "-subj", "/CN=localhost", "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-signkey", str(key), "-days", "2", "-out", str(cert))
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Version: 1 (0x0)" in text, text
    return cert, key


def insecure_client() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_a_frontend_serves_a_v1_certificate_and_check_tells_a_wrong_key(
    backend: Backend, fastlb: Fastlb, tmp_path: Path
) -> None:
    cert, key = v1_certificate(tmp_path)
    _, other_key = v1_certificate(tmp_path, "other")
    server = backend(named_echo("s1"), "s1")
    servers = [{"name": "s1", "address": server.address, "weight": 1}]

    wrong = make_config(servers, tls={"cert": str(cert), "key": str(other_key)})
    wrong_file = tmp_path / "wrong.yaml"
    wrong_file.write_text(yaml.safe_dump(wrong))
    checked = subprocess.run(
        [*fastlb_command(), "check", "-c", str(wrong_file)], capture_output=True, text=True
    )
    assert checked.returncode == 2, checked
    assert "the private key does not belong to the certificate" in checked.stderr

    config = make_config(servers, tls={"cert": str(cert), "key": str(key)})
    good_file = tmp_path / "good.yaml"
    good_file.write_text(yaml.safe_dump(config))
    checked = subprocess.run(
        [*fastlb_command(), "check", "-c", str(good_file)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr

    fastlb(config)
    with tls_connect(frontend_port(config), insecure_client(), "localhost") as sock:
        assert recv_line(sock) == b"s1"
        echo_roundtrip(sock, b"over a v1 certificate\n")
        assert b"localhost" in (sock.getpeercert(True) or b"")


def test_verify_false_talks_to_a_server_with_a_v1_certificate_and_warns(
    backend: Backend, fastlb: Fastlb, tmp_path: Path
) -> None:
    cert, key = v1_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = backend(tls_echo(context, "tls-v1"), "s1")
    config = make_config([{"name": "s1", "address": server.address, "weight": 1}], retries=0)
    config["backends"][0]["tls"] = {"verify": False}
    lb = fastlb(config)

    with connect(frontend_port(config)) as sock:
        assert recv_line(sock) == b"tls-v1"
        echo_roundtrip(sock, b"encrypted to a v1 server\n" * 100)
    assert "tls.verify is false: any server certificate is accepted" in lb.log()
