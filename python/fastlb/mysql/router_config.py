"""`Router.from_config`: the Router's arguments from one `mode: mysql` backend of the proxy's
configuration, so that an application and the proxy share one `mysql:` section.

Accepted shape (a mapping, or any object with these attributes, e.g. the config models):

    name: db
    servers:
      - {name: db-primary, address: 127.0.0.1:3307, role: primary}
      - {name: db-replica, address: 127.0.0.1:3308, role: replica, weight: 1}
    mysql:
      users: [{user: app, password: secret}]     # the Router logs in as one of them
      monitor: {user: monitor, password: "...", interval: 1s}   # optional
      max_replication_lag: 5s                    # optional (10s)
      causal_reads: session                      # optional: off | session (off)
      causal_timeout: 500ms                      # optional (500ms)
      primary_failure: error_on_write            # optional (error_on_write)
      rules:                                     # optional, in order
        - {match: "^SELECT .* FROM reports", route: primary}
    tls: {verify: true, ca: /etc/mysql/ca.pem}   # optional: TLS to the servers

Defaults are the proxy's (`config_mysql.MysqlConfig`), so that one section routes alike in
the proxy and the Router. Durations are numbers of seconds or `250ms` / `2s` / `1m` strings.
`${ENV}` references must already be expanded (the config loader does it). ValueError names
the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config_mysql import MysqlConfig
from ..config_security import BackendTlsConfig
from ..config_types import parse_duration, split_host_port
from .topology import ServerSpec

__all__ = ["router_arguments"]

_MISSING = object()


def _get(obj: Any, key: str, default: Any = _MISSING, *, where: str) -> Any:
    value = obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)
    if value is _MISSING:
        raise ValueError(f"{where}.{key}: required")
    return value


def _default(field: str) -> Any:
    """The proxy's default for a `mysql:` field: one section routes the same in both."""
    return MysqlConfig.model_fields[field].default


def _seconds(value: Any, where: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _server(server: Any, index: int) -> ServerSpec:
    where = f"servers[{index}]"
    name = str(_get(server, "name", where=where))
    where = f"servers[{index}] ({name})"
    address = str(_get(server, "address", where=where))
    try:
        host, port = split_host_port(address)
    except ValueError as exc:
        raise ValueError(f"{where}.address: {exc}") from None
    role = _get(server, "role", None, where=where)
    if role not in ("primary", "replica"):
        raise ValueError(f"{where}.role: must be primary or replica (got {role!r})")
    weight = _get(server, "weight", 1, where=where)
    return ServerSpec(name, host, port, role=role, weight=int(weight))


def router_arguments(backend: Any, *, user: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `Router(...)`; `user` picks one of `mysql.users` (default: the
    first)."""
    specs = [
        _server(server, index)
        for index, server in enumerate(_get(backend, "servers", where="backend"))
    ]
    primaries = [spec for spec in specs if spec.role == "primary"]
    if len(primaries) != 1:
        raise ValueError(
            f"servers: a mysql backend needs exactly one role: primary (got {len(primaries)})"
        )
    mysql = _get(backend, "mysql", where="backend")
    users = list(_get(mysql, "users", where="mysql"))
    chosen = [u for u in users if user is None or _get(u, "user", where="mysql.users") == user]
    if not chosen:
        raise ValueError(f"mysql.users: no user {user!r}" if user else "mysql.users: empty")
    login = chosen[0]
    arguments: dict[str, Any] = {
        "primary": primaries[0],
        "replicas": [spec for spec in specs if spec.role == "replica"],
        "user": str(_get(login, "user", where="mysql.users[]")),
        "password": str(_get(login, "password", "", where="mysql.users[]")),
        "max_replication_lag": _seconds(
            _get(mysql, "max_replication_lag", _default("max_replication_lag"), where="mysql"),
            "mysql.max_replication_lag",
        ),
        "causal_reads": _get(mysql, "causal_reads", _default("causal_reads"), where="mysql"),
        "causal_wait_timeout": _seconds(
            _get(mysql, "causal_timeout", _default("causal_timeout"), where="mysql"),
            "mysql.causal_timeout",
        ),
        "primary_failure": _get(
            mysql, "primary_failure", _default("primary_failure"), where="mysql"
        ),
        "rules": [
            (
                str(_get(rule, "match", where=f"mysql.rules[{index}]")),
                _get(rule, "route", where=f"mysql.rules[{index}]"),
            )
            for index, rule in enumerate(_get(mysql, "rules", None, where="mysql") or ())
        ],
    }
    tls = _get(backend, "tls", None, where="backend")
    if tls is not None:
        # A config model has the TLS policy already; a mapping is checked like the proxy's.
        policy = tls if hasattr(tls, "ssl_context") else BackendTlsConfig.model_validate(tls)
        arguments["ssl"] = policy.ssl_context()
    monitor = _get(mysql, "monitor", None, where="mysql")
    if monitor is not None:
        arguments["monitor_user"] = _get(monitor, "user", where="mysql.monitor")
        arguments["monitor_password"] = str(_get(monitor, "password", "", where="mysql.monitor"))
        arguments["monitor_interval"] = _seconds(
            _get(monitor, "interval", 1.0, where="mysql.monitor"), "mysql.monitor.interval"
        )
    return arguments
