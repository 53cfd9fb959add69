"""A throwaway certificate authority for TLS tests and benchmarks, made fresh each time with the
`cryptography` package: ECDSA P-256 keys, certificates valid for one day."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class TestCA:
    """A self-signed CA that issues server certificates for DNS names and IP addresses."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "fastlb test CA") -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = directory / f"{name.replace(' ', '-')}.pem"
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        self, stem: str, names: list[str], *, ips: tuple[str, ...] = (), client: bool = False
    ) -> Server:
        """A server certificate for `names` (the first is also the CN), written to
        `<stem>.pem` (leaf then this CA: a chain) and `<stem>.key`; with `client`, one for
        TLS client authentication."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [
                        x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
                        if client
                        else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
                    ]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        server = Server(self.directory / f"{stem}.pem", self.directory / f"{stem}.key", cert)
        chain = cert.public_bytes(serialization.Encoding.PEM)
        chain += self._cert.public_bytes(serialization.Encoding.PEM)
        server.cert_path.write_bytes(chain)
        server.key_path.write_bytes(_pem_key(key))
        return server


class Server:
    """An issued certificate: its files and serial number."""

    def __init__(self, cert_path: Path, key_path: Path, cert: x509.Certificate) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.serial = cert.serial_number

    @property
    def files(self) -> dict[str, str]:
        """`{cert, key}` as a frontend's `tls` wants them."""
        return {"cert": str(self.cert_path), "key": str(self.key_path)}


def serial_of(der: bytes) -> int:
    """The serial number of a DER certificate (what `SSLSocket.getpeercert(True)` gives)."""
    return x509.load_der_x509_certificate(der).serial_number
