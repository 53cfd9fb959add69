"""fastlb's configuration: pydantic models, YAML/TOML loading, `${ENV}` interpolation, and
errors that name the offending field (`backends[0] (web).servers[1] (web-02).weight: ...`).

The user's file is validated here and turned into the *core* configuration (resolved
addresses, durations in milliseconds; its shape is the core's, see docs/architecture.md).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
)

from .bgp.config import BgpConfig, bgp_problems
from .config_cookie import CookieConfig, CookieValue, cookie_problems
from .config_errors import (
    Problem,
    duplicate_names,
    item,
    problems_from_pydantic,
    refuse_planned_keys,
)
from .config_files import interpolate_env, read_config_file
from .config_http import HttpBackendConfig, HttpFrontendConfig
from .config_http_checks import backend_proxy_problems, core_alpn, frontend_http_problems
from .config_mysql import MysqlConfig
from .config_security import (
    AclConfig,
    BackendTlsConfig,
    Cidr,
    FrontendTlsConfig,
    SourceRateConfig,
)
from .config_types import (
    ConfigModel,
    Duration,
    ListenAddress,
    Name,
    PositiveDuration,
    ServerAddress,
    Weight,
    between,
    field_error,
    milliseconds,
    parse_duration,
    refuse_bool,
    resolve_address,
    split_host_port,
)
from .contract import (
    BALANCE_ALGORITHMS,
    BalanceAlgorithm,
    CheckType,
    FrontendMode,
    ServerRole,
    SpliceMode,
)
from .errors import ConfigError
from .failover.config import FailoverConfig

__all__ = [
    "ApiConfig",
    "BackendConfig",
    "Config",
    "Duration",
    "FailoverConfig",
    "FrontendConfig",
    "HealthCheckConfig",
    "HttpBackendConfig",
    "HttpFrontendConfig",
    "ListenAddress",
    "MysqlConfig",
    "ServerAddress",
    "ServerConfig",
    "Weight",
    "load_config",
    "parse_duration",
    "resolve_address",
    "split_host_port",
]

# Bounded integers of this schema (Weight, shared with the API, lives in config_types).
_Retries = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(0, 100))]
_Workers = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(1, 1024))]
_Positive = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(1, None))]
_CheckCount = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(1, 1000))]
_HttpStatus = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(100, 599))]

# The fast interval (used while a server is between `rise`/`fall` counts) defaults to a
# quarter of the interval, but not below this: checks every few ms would be a load of their own.
MIN_DEFAULT_FAST_INTERVAL = 0.1


def _check_balance(value: object) -> object:
    # `source` is HAProxy's name for hashing the client address; the core hashes it with
    # Maglev (like HAProxy's `hash-type consistent`), so it behaves exactly as `maglev`.
    if isinstance(value, str) and value not in BALANCE_ALGORITHMS:
        supported = ", ".join(repr(name) for name in BALANCE_ALGORITHMS)
        raise field_error(f"balance {value!r} is not supported: use one of {supported}")
    return value


def _check_http_path(value: str) -> str:
    # It goes into the request line as is: a space or a control character would break it.
    if not value.startswith("/") or any(c.isspace() or not c.isprintable() for c in value):
        raise field_error(
            f"invalid path {value!r}: must start with '/' and contain no spaces or control "
            "characters (percent-encode them)"
        )
    return value


def _check_host_header(value: str) -> str:
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise field_error(f"invalid host {value!r}: must be a non-empty name without spaces")
    return value


def _check_token(value: str) -> str:
    if not value:
        raise field_error("must not be empty (remove the key to turn authentication off)")
    return value


# --------------------------------------------------------------------------- models


class ServerConfig(ConfigModel):
    name: Name
    address: ServerAddress
    weight: Weight = 1
    backup: bool = False
    # MySQL backends (with a `mysql:` section): the primary takes writes, replicas reads.
    role: ServerRole | None = None
    # Sticky sessions: the backend cookie's value naming this server (default: its name).
    cookie: CookieValue | None = None


class HealthCheckConfig(ConfigModel):
    """A backend's active health check; `observe` also counts failed connects of live traffic."""

    type: CheckType
    interval: PositiveDuration = 2.0
    timeout: PositiveDuration = 1.0
    rise: _CheckCount = 2
    fall: _CheckCount = 3
    fast_interval: PositiveDuration | None = None
    path: Annotated[str, AfterValidator(_check_http_path)] = "/"
    expect_status: _HttpStatus = 200
    host: Annotated[str, AfterValidator(_check_host_header)] | None = None
    # mysql: log in as this user (no password) and quit, like HAProxy's `mysql-check user`.
    # Without it the check only reads the greeting, which MySQL/MariaDB count as aborted
    # connects: after `max_connect_errors` of them the load balancer's host is blocked.
    user: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    observe: bool = True

    @property
    def effective_fast_interval(self) -> float:
        """`fast_interval`, or by default a quarter of `interval`, at least 100 ms (and never
        slower than `interval` itself)."""
        if self.fast_interval is not None:
            return self.fast_interval
        return min(self.interval, max(self.interval / 4, MIN_DEFAULT_FAST_INTERVAL))

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "interval_ms": milliseconds(self.interval),
            "fast_interval_ms": milliseconds(self.effective_fast_interval),
            "timeout_ms": milliseconds(self.timeout),
            "rise": self.rise,
            "fall": self.fall,
            "path": self.path,
            "expect_status": self.expect_status,
            "host": self.host,
            "user": self.user,
            "observe": self.observe,
        }


class BackendConfig(ConfigModel):
    name: Name
    balance: Annotated[BalanceAlgorithm, BeforeValidator(_check_balance)] = "roundrobin"
    retries: _Retries = 3
    connect_timeout: PositiveDuration = 5.0
    all_backups: bool = False
    health_check: HealthCheckConfig | None = None
    mysql: MysqlConfig | None = None
    tls: BackendTlsConfig | None = None
    # PROXY protocol header on every new server connection (HAProxy `send-proxy[-v2]`), and
    # on health checks too with check_send_proxy (`check-send-proxy`).
    send_proxy: Literal["v1", "v2"] | None = None
    check_send_proxy: bool = False
    # The server connection pool of mode-http frontends; always sent (defaults included).
    http: HttpBackendConfig = Field(default_factory=HttpBackendConfig)
    # Sticky sessions by cookie (mode-http frontends).
    cookie: CookieConfig | None = None
    servers: Annotated[list[ServerConfig], Field(min_length=1)]


class FrontendConfig(ConfigModel):
    name: Name
    listen: ListenAddress
    mode: FrontendMode = "tcp"
    backend: str
    max_connections: _Positive = 20000
    idle_timeout: PositiveDuration = 60.0
    tls: FrontendTlsConfig | None = None
    acl: AclConfig | None = None
    max_connections_per_source: _Positive | None = None
    connection_rate_per_source: SourceRateConfig | None = None
    # PROXY protocol (v1 or v2, any mode): the client's address comes from the header sent by
    # the load balancer in front, believed only from `trusted_proxies` (also whose
    # X-Forwarded-For a mode-http frontend keeps).
    accept_proxy: bool = False
    proxy_timeout: PositiveDuration = 5.0
    trusted_proxies: list[Cidr] = Field(default_factory=list)
    # mode http only; `mode: http` without it takes every default.
    http: HttpFrontendConfig | None = None

    @property
    def http_settings(self) -> HttpFrontendConfig | None:
        """The HTTP settings of a mode-http frontend (defaults when `http:` is absent), else
        None."""
        if self.mode != "http":
            return None
        return self.http if self.http is not None else HttpFrontendConfig()


class ApiConfig(ConfigModel):
    listen: ListenAddress = "127.0.0.1:9100"
    # repr=False: a logged or printed Config never shows the token.
    token: Annotated[str, AfterValidator(_check_token)] | None = Field(None, repr=False)


class Config(ConfigModel):
    workers: _Workers = Field(default_factory=lambda: os.cpu_count() or 1)
    splice: SpliceMode = "auto"
    drain_timeout: Duration = 30.0
    # Across all frontends; at the limit fastlb stops accepting until connections end.
    max_connections: _Positive | None = None
    api: ApiConfig | None = None
    frontends: Annotated[list[FrontendConfig], Field(min_length=1)]
    backends: Annotated[list[BackendConfig], Field(min_length=1)]
    failover: FailoverConfig | None = None
    # Active-active behind routers' ECMP (bgp/config.py); excludes `failover`.
    bgp: BgpConfig | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str | None = None) -> Config:
        """Validate a parsed configuration (e.g. a dict) after `${ENV}` interpolation.

        Raises ConfigError listing every problem, each with its field path.
        """
        if not isinstance(data, Mapping):
            raise ConfigError([("", "the configuration must be a mapping of keys")], source=source)
        interpolated, problems = interpolate_env(data, data)
        problems += refuse_planned_keys(interpolated)
        try:
            config = cls.model_validate(interpolated)
        except ValidationError as exc:
            # A field whose ${VAR} is missing already has its problem; skip the knock-on one.
            unset = {path for path, _ in problems}
            problems += [p for p in problems_from_pydantic(exc, data, cls) if p[0] not in unset]
            raise ConfigError(problems, source=source) from None
        problems += config._cross_check()
        if problems:
            raise ConfigError(problems, source=source)
        return config

    def _cross_check(self) -> list[Problem]:
        """Rules spanning several fields: unique names, references, listen clashes."""
        problems = duplicate_names("frontends", [f.name for f in self.frontends])
        problems += duplicate_names("backends", [b.name for b in self.backends])
        for b_index, backend in enumerate(self.backends):
            prefix = item("backends", b_index, backend.name)
            problems += duplicate_names(f"{prefix}.servers", [s.name for s in backend.servers])
            check = backend.health_check
            if check is not None and backend.tls is not None and check.type != "tcp":
                problems.append(
                    (
                        f"{prefix}.health_check.type",
                        f"{check.type!r} checks speak plaintext; with tls use 'tcp' checks",
                    )
                )
            if check is not None:
                problems += [
                    (
                        f"{prefix}.health_check.{key}",
                        f"only used by {kind!r} checks, not {check.type!r}",
                    )
                    for key, kind in (
                        ("path", "http"),
                        ("expect_status", "http"),
                        ("host", "http"),
                        ("user", "mysql"),
                    )
                    if key in check.model_fields_set and check.type != kind
                ]
            problems += _mysql_cross_check(prefix, backend)
            problems += backend_proxy_problems(prefix, backend)
            problems += cookie_problems(prefix, backend)
        backend_names = [b.name for b in self.backends]
        for index, frontend in enumerate(self.frontends):
            target = next((b for b in self.backends if b.name == frontend.backend), None)
            prefix = item("frontends", index, frontend.name)
            if frontend.mode != "mysql" and frontend.tls is not None and not frontend.tls.required:
                problems.append(
                    (
                        f"{prefix}.tls.required",
                        "only mysql frontends can take plaintext clients beside TLS ones; "
                        f"a {frontend.mode} frontend with tls speaks TLS from the first byte",
                    )
                )
            problems += frontend_http_problems(prefix, frontend, backend_names)
            if frontend.mode == "mysql" and target is not None and target.mysql is None:
                problems.append(
                    (
                        f"{item('frontends', index, frontend.name)}.mode",
                        f"mode 'mysql' needs a 'mysql:' section (users, ...) on backend "
                        f"{target.name!r}",
                    )
                )
            if frontend.backend not in backend_names:
                problems.append(
                    (
                        f"{item('frontends', index, frontend.name)}.backend",
                        f"no backend named {frontend.backend!r} "
                        f"(defined: {', '.join(backend_names)})",
                    )
                )
        listeners: dict[str, str] = {}
        named = [(item("frontends", i, f.name), f.listen) for i, f in enumerate(self.frontends)]
        if self.api is not None:
            named.append(("api", self.api.listen))
        for owner, listen in named:
            if listen.endswith(":0"):
                continue
            if listen in listeners:
                problems.append(
                    (f"{owner}.listen", f"{listen} is already used by {listeners[listen]}")
                )
            listeners.setdefault(listen, owner)
        return problems + bgp_problems(self.bgp, self.failover is not None)

    def to_core_dict(self) -> dict[str, Any]:
        """The core configuration (every field, defaults included), host names resolved.

        Raises ConfigError naming the field whose host name cannot be resolved.
        """
        problems: list[Problem] = []

        def resolve(path: str, address: str) -> str:
            try:
                return resolve_address(address)
            except OSError as exc:
                problems.append((path, f"cannot resolve {address!r}: {exc.strerror or exc}"))
                return address

        frontends = [
            {
                "name": f.name,
                "listen": resolve(f"{item('frontends', i, f.name)}.listen", f.listen),
                "backend": f.backend,
                "mode": f.mode,
                "max_connections": f.max_connections,
                "idle_timeout_ms": milliseconds(f.idle_timeout),
                **_frontend_security(f),
                "accept_proxy": f.accept_proxy,
                "proxy_timeout_ms": milliseconds(f.proxy_timeout),
                "trusted_proxies": list(f.trusted_proxies),
                # Present exactly on mode-http frontends (the core checks it).
                **({"http": http.to_core_dict()} if (http := f.http_settings) else {}),
            }
            for i, f in enumerate(self.frontends)
        ]
        backends = [
            {
                "name": b.name,
                "balance": b.balance,
                "retries": b.retries,
                "connect_timeout_ms": milliseconds(b.connect_timeout),
                "all_backups": b.all_backups,
                # Only when configured: absent means "no check" to the core.
                **({"health_check": b.health_check.to_core_dict()} if b.health_check else {}),
                **({"mysql": b.mysql.to_core_dict()} if b.mysql else {}),
                **({"tls": b.tls.to_core_dict()} if b.tls else {}),
                "send_proxy": b.send_proxy,
                "check_send_proxy": b.check_send_proxy,
                "http": {
                    **b.http.to_core_dict(),
                    **({"cookie": b.cookie.to_core_dict()} if b.cookie else {}),
                },
                "servers": [
                    {
                        "name": s.name,
                        "address": resolve(
                            f"{item('backends', bi, b.name)}.{item('servers', si, s.name)}.address",
                            s.address,
                        ),
                        "weight": s.weight,
                        "backup": s.backup,
                        **({"role": _role(b, s)} if b.mysql else {}),
                        **({"tls_name": _host_name(s.address)} if b.tls else {}),
                        **({"cookie": s.cookie} if s.cookie is not None else {}),
                    }
                    for si, s in enumerate(b.servers)
                ],
            }
            for bi, b in enumerate(self.backends)
        ]
        if problems:
            raise ConfigError(problems)
        return {
            "workers": self.workers,
            "splice": self.splice,
            **({"max_connections": self.max_connections} if self.max_connections else {}),
            "frontends": frontends,
            "backends": backends,
        }

    def to_core_json(self) -> str:
        """`to_core_dict()` as the JSON string `fastlb._core.Engine` takes."""
        return json.dumps(self.to_core_dict())


def _role(backend: BackendConfig, server: ServerConfig) -> str:
    # In a MySQL backend a server without a role is a replica: it never takes writes.
    return server.role or "replica"


def _mysql_cross_check(prefix: str, backend: BackendConfig) -> list[Problem]:
    """Roles only with a mysql section, at most one primary, no backups among them."""
    problems: list[Problem] = []
    roles = [(si, s) for si, s in enumerate(backend.servers) if s.role is not None]
    if backend.mysql is None:
        return [
            (
                f"{prefix}.{item('servers', si, s.name)}.role",
                "only used by backends with a 'mysql:' section",
            )
            for si, s in roles
        ]
    primaries = [(si, s) for si, s in roles if s.role == "primary"]
    for si, s in primaries[1:]:
        problems.append(
            (
                f"{prefix}.{item('servers', si, s.name)}.role",
                f"only one server can be the primary ({primaries[0][1].name!r} is)",
            )
        )
    for si, s in enumerate(backend.servers):
        if s.backup:
            problems.append(
                (
                    f"{prefix}.{item('servers', si, s.name)}.backup",
                    "MySQL backends route by role (primary/replica), not by backup",
                )
            )
    failover = backend.mysql.failover
    names = {s.name for s in backend.servers}
    if failover is not None:
        unknown = [name for name in failover.promotion_order if name not in names]
        if unknown:
            problems.append(
                (
                    f"{prefix}.mysql.failover.promotion_order",
                    f"names servers not in this backend: {', '.join(unknown)}",
                )
            )
    return problems


def _frontend_security(frontend: FrontendConfig) -> dict[str, Any]:
    """The frontend's TLS, ACL and per-source limits as the core wants them (only those
    configured: absent means "none" to the core)."""
    rate = frontend.connection_rate_per_source
    settings = {
        "tls": (
            {**frontend.tls.to_core_dict(), "alpn": core_alpn(frontend)} if frontend.tls else None
        ),
        "acl": frontend.acl.model_dump() if frontend.acl else None,
        "max_connections_per_source": frontend.max_connections_per_source,
        "connection_rate_per_source": (
            {"connections": rate.connections, "window_ms": milliseconds(rate.window)}
            if rate
            else None
        ),
    }
    return {key: value for key, value in settings.items() if value is not None}


def _host_name(address: str) -> str | None:
    """The host of `host:port` when it is a name (SNI and certificate checks use it), else
    None (the core then verifies the IP address)."""
    host, _ = split_host_port(address)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.rstrip(".")
    return None


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read a `.yaml`/`.yml`/`.toml` file, interpolate `${ENV}` and validate.

    Raises ConfigError (with the file as `source`) for any problem, syntax errors included.
    """
    data, source = read_config_file(path)
    return Config.from_mapping(data, source=source)
