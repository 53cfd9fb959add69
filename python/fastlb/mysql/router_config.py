"""`Router.from_config`: the Router's arguments from one `mode: mysql` backend of the proxy's
configuration, so that an application and the proxy share one `mysql:` section.

The backend is the validated model (`fastlb.config.BackendConfig`, e.g. an item of
`Config.backends`); a mapping of the same shape is validated into one first, by the same
pydantic models the proxy's configuration uses:

    name: db
    servers:
      - {name: db-primary, address: 127.0.0.1:3307, role: primary}
      - {name: db-replica, address: 127.0.0.1:3308, role: replica, weight: 1}
    mysql:
      users: [{user: app, password: secret}]     # the Router logs in as one of them
      monitor: {user: monitor, password: "...", interval: 1s}   # optional
      max_replication_lag: 5s
      causal_reads: session
      causal_timeout: 500ms
      primary_failure: error_on_write
      rules:
        - {match: "^SELECT .* FROM reports", route: primary}
    tls: {verify: true, ca: /etc/mysql/ca.pem}   # optional: TLS to the servers

Unset fields take the proxy's defaults (they are the model's), and the user rules go to the
core as `MysqlConfig.to_core_dict()` makes them for the proxy: one section routes alike in
both. A server without a role is a replica, as in the proxy. `${ENV}` references must
already be expanded (the config loader does it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import BackendConfig
from ..config_types import split_host_port
from .topology import ServerSpec

__all__ = ["router_arguments"]


def _spec(name: str, address: str, role: str | None, weight: int) -> ServerSpec:
    host, port = split_host_port(address)
    # In a MySQL backend a server without a role is a replica: it never takes writes.
    return ServerSpec(
        name, host, port, role="primary" if role == "primary" else "replica", weight=weight
    )


def router_arguments(
    backend: BackendConfig | Mapping[str, Any], *, user: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for `Router(...)`; `user` picks one of `mysql.users` (default: the
    first). ValueError (a pydantic ValidationError for a mapping) naming what is wrong."""
    model = backend if isinstance(backend, BackendConfig) else BackendConfig.model_validate(backend)
    mysql = model.mysql
    if mysql is None:
        raise ValueError(f"backend {model.name!r}: a Router needs its 'mysql:' section")
    specs = [_spec(s.name, s.address, s.role, s.weight) for s in model.servers]
    primaries = [spec for spec in specs if spec.role == "primary"]
    if len(primaries) != 1:
        raise ValueError(
            f"servers: a mysql backend needs exactly one role: primary (got {len(primaries)})"
        )
    if mysql.causal_reads == "global":
        # The proxy sees every session's writes; a Router only its own process's.
        raise ValueError(
            "mysql.causal_reads: 'global' is a proxy setting; the Router takes 'session' or 'off'"
        )
    chosen = [u for u in mysql.users if user is None or u.user == user]
    if not chosen:
        raise ValueError(f"mysql.users: no user {user!r}")
    arguments: dict[str, Any] = {
        "primary": primaries[0],
        "replicas": [spec for spec in specs if spec.role == "replica"],
        "user": chosen[0].user,
        "password": chosen[0].password,
        "max_replication_lag": mysql.max_replication_lag,
        "causal_reads": mysql.causal_reads,
        "causal_wait_timeout": mysql.causal_timeout,
        "primary_failure": mysql.primary_failure,
        "rules": [(rule.match, rule.route) for rule in mysql.rules],
    }
    if model.tls is not None:
        arguments["ssl"] = model.tls.ssl_context()
    if mysql.monitor is not None:
        arguments["monitor_user"] = mysql.monitor.user
        arguments["monitor_password"] = mysql.monitor.password
        arguments["monitor_interval"] = mysql.monitor.interval
        arguments["monitor_timeout"] = mysql.monitor.timeout
        arguments["monitor_failcount"] = mysql.monitor.failcount
    return arguments
