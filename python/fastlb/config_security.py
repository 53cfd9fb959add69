"""The security sections of fastlb's configuration: TLS on frontends and backends, the
source-address ACL and per-source connection limits (README, "Security").

Certificate, key and CA paths are checked here (they must be readable files) and handed to
the core as absolute paths; the core reads them at start and again at each reload, so a
renewed certificate is picked up by `SIGHUP` or `POST /api/reload` without a restart.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    model_validator,
)

from .config_types import (
    ConfigModel,
    PositiveDuration,
    between,
    field_error,
    milliseconds,
    refuse_bool,
)

__all__ = [
    "AclConfig",
    "BackendTlsConfig",
    "CertificatePair",
    "Cidr",
    "FrontendTlsConfig",
    "SourceRateConfig",
]


def _readable_file(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise field_error(f"must be the path of a file (got {value!r})")
    path = Path(value).expanduser()
    if not path.is_file():
        raise field_error(f"no such file: {value}")
    if not os.access(path, os.R_OK):
        raise field_error(f"cannot read {value}: permission denied")
    # Absolute: the core reads it later, possibly after the working directory changed.
    return str(path.resolve())


ReadableFile = Annotated[str, BeforeValidator(_readable_file)]
"""A PEM file that exists and can be read now (relative paths: to the working directory)."""


def _check_cidr(value: object) -> str:
    if not isinstance(value, str):
        raise field_error(f"must be a CIDR block like '10.0.0.0/8' or an address (got {value!r})")
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise field_error(
            f"invalid CIDR block {value!r}: expected e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32"
        ) from None
    # IPv4-mapped IPv6 blocks (::ffff:10.0.0.0/104) mean IPv4 addresses: peers are judged by
    # their IPv4 form, so the rule is too.
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    return str(network)


Cidr = Annotated[str, BeforeValidator(_check_cidr)]
"""`10.0.0.0/8`, `2001:db8::/32` or one address; normalised to the network (`10.0.0.0/8`)."""


def _tls_version(value: object) -> object:
    # YAML reads `min_version: 1.2` as a float.
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.1f}"
    return value


_Count = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(1, 2**31 - 1))]
_AlpnProtocol = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class CertificatePair(ConfigModel):
    cert: ReadableFile = Field(description="PEM: the certificate, then its intermediates")
    key: ReadableFile = Field(description="PEM: its private key (PKCS#8, RSA or EC)")


class FrontendTlsConfig(ConfigModel):
    """TLS termination: `{cert, key}` for one certificate, or `certificates: [{cert, key},
    ...]` chosen by SNI (the names in each certificate), the first being the default."""

    cert: ReadableFile | None = None
    key: ReadableFile | None = None
    certificates: Annotated[list[CertificatePair], Field(min_length=1)] | None = None
    alpn: list[_AlpnProtocol] = Field(
        default_factory=list, description="offered, most preferred first, e.g. [h2, http/1.1]"
    )
    min_version: Annotated[Literal["1.2", "1.3"], BeforeValidator(_tls_version)] = "1.2"
    handshake_timeout: PositiveDuration = 10.0
    session_resumption: bool = True
    required: bool = Field(
        True,
        description="mode mysql only: refuse clients that don't ask for TLS (MySQL's "
        "require_secure_transport); false lets plaintext clients in too",
    )

    @model_validator(mode="after")
    def _one_way_to_give_certificates(self) -> FrontendTlsConfig:
        single = self.cert is not None or self.key is not None
        if single and self.certificates is not None:
            raise field_error("give either cert and key, or certificates, not both")
        if single and (self.cert is None or self.key is None):
            missing = "key" if self.key is None else "cert"
            raise field_error(f"{missing} is required with {'cert' if missing == 'key' else 'key'}")
        if not single and self.certificates is None:
            raise field_error("needs cert and key (or certificates: [{cert, key}, ...])")
        return self

    @property
    def pairs(self) -> list[CertificatePair]:
        if self.certificates is not None:
            return list(self.certificates)
        assert self.cert is not None and self.key is not None
        return [CertificatePair(cert=self.cert, key=self.key)]

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "certificates": [{"cert": p.cert, "key": p.key} for p in self.pairs],
            "alpn": list(self.alpn),
            "min_version": self.min_version,
            "handshake_timeout_ms": milliseconds(self.handshake_timeout),
            "session_resumption": self.session_resumption,
            "required": self.required,
        }


class AclConfig(ConfigModel):
    """Refused: a source in `deny`, or not in `allow` when `allow` is not empty."""

    allow: list[Cidr] = Field(default_factory=list)
    deny: list[Cidr] = Field(default_factory=list)


class SourceRateConfig(ConfigModel):
    """At most `connections` new connections per `window` from one address."""

    connections: _Count
    window: PositiveDuration


class BackendTlsConfig(ConfigModel):
    """TLS to the backend's servers; `verify: false` encrypts without checking who answers."""

    verify: bool = True
    ca: ReadableFile | None = Field(None, description="CA bundle; default: the system's")
    server_name: Annotated[str, StringConstraints(min_length=1, max_length=253)] | None = None

    def to_core_dict(self) -> dict[str, Any]:
        return {"verify": self.verify, "ca": self.ca, "server_name": self.server_name}

    def ssl_context(self) -> ssl.SSLContext:
        """The same policy for fastlb's own Python clients of these servers (the MySQL
        topology monitor, `fastlb.mysql.Router`): the chain verified against `ca` (else
        the system's), the name against `server_name` (else the host dialled)."""
        context: ssl.SSLContext
        if self.server_name is not None:
            context = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
            context.server_name = self.server_name
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.ca is not None:
            context.load_verify_locations(cafile=self.ca)
        else:
            context.load_default_certs()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class _ServerNameContext(ssl.SSLContext):
    """Checks every server's certificate for one configured name (and sends it as SNI),
    whatever host the client library dialled: aiomysql passes the address it connected
    to, usually an IP."""

    server_name: str

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side,
            do_handshake_on_connect,
            suppress_ragged_eofs,
            self.server_name,
            session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side, self.server_name, session)
