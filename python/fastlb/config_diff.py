"""What a reload changes: one line per difference between two configurations, for the log
(`backend web: server web-03 added (127.0.0.1:9003, weight 1)`)."""

from __future__ import annotations

from .config import BackendConfig, Config, ServerConfig

__all__ = ["describe_changes", "restart_only_changes"]

# What applies them without losing a connection (README "Upgrading without downtime").
UPGRADE_HINT = " (or `fastlb serve --upgrade`: no connection lost)"


def restart_only_changes(old: Config, new: Config) -> list[tuple[str, str]]:
    """`(field, message)` for each change the running core cannot apply (a ConfigError's
    problems): the number of I/O threads and the splice mode are fixed at start."""
    problems = []
    if new.workers != old.workers:
        problems.append(
            (
                "workers",
                f"changing workers ({old.workers} -> {new.workers}) needs a restart" + UPGRADE_HINT,
            )
        )
    if new.splice != old.splice:
        problems.append(
            (
                "splice",
                f"changing splice ({old.splice} -> {new.splice}) needs a restart" + UPGRADE_HINT,
            )
        )
    return problems


def describe_changes(old: Config, new: Config) -> list[str]:
    """Every difference that matters to an operator, frontends first, then backends."""
    changes: list[str] = []
    old_frontends = {f.name: f for f in old.frontends}
    new_frontends = {f.name: f for f in new.frontends}
    for name, frontend in new_frontends.items():
        before = old_frontends.get(name)
        if before is None:
            changes.append(
                f"frontend {name} added ({frontend.listen} -> backend {frontend.backend})"
            )
            continue
        for field in ("listen", "backend", "max_connections", "idle_timeout"):
            old_value, new_value = getattr(before, field), getattr(frontend, field)
            if old_value != new_value:
                changes.append(f"frontend {name}: {field} {old_value} -> {new_value}")
        if before.mode != frontend.mode:
            changes.append(f"frontend {name}: mode {before.mode} -> {frontend.mode}")
        for field in (
            "acl",
            "max_connections_per_source",
            "connection_rate_per_source",
            "accept_proxy",
            "proxy_timeout",
            "trusted_proxies",
        ):
            if getattr(before, field) != getattr(frontend, field):
                changes.append(f"frontend {name}: {field} changed")
        if before.http_settings != frontend.http_settings and frontend.mode == before.mode:
            changes.append(f"frontend {name}: http settings changed")
        if before.tls != frontend.tls:
            changes.append(f"frontend {name}: tls settings changed")
        elif frontend.tls is not None:
            # Same paths, but the files may hold renewed certificates: the core re-read them.
            changes.append(f"frontend {name}: tls certificates re-read")
    changes += [f"frontend {name} removed" for name in old_frontends if name not in new_frontends]

    old_backends = {b.name: b for b in old.backends}
    new_backends = {b.name: b for b in new.backends}
    for name, backend in new_backends.items():
        old_backend = old_backends.get(name)
        if old_backend is None:
            changes.append(f"backend {name} added ({len(backend.servers)} servers)")
        else:
            changes += _backend_changes(old_backend, backend)
    changes += [f"backend {name} removed" for name in old_backends if name not in new_backends]

    if old.max_connections != new.max_connections:
        changes.append(f"max_connections {old.max_connections} -> {new.max_connections}")
    if old.drain_timeout != new.drain_timeout:
        changes.append(f"drain_timeout {old.drain_timeout:g}s -> {new.drain_timeout:g}s")
    if old.api != new.api:
        changes.append("api: changes to the api section take effect at the next restart")
    if old.failover != new.failover:
        changes.append("failover: changes take effect at the next restart")
    if old.bgp != new.bgp:
        changes.append("bgp: changes take effect at the next restart")
    return changes


def _backend_changes(old: BackendConfig, new: BackendConfig) -> list[str]:
    prefix = f"backend {new.name}"
    changes = []
    for field in ("balance", "retries", "connect_timeout", "all_backups", "tls", "send_proxy"):
        old_value, new_value = getattr(old, field), getattr(new, field)
        if old_value != new_value:
            changes.append(f"{prefix}: {field} {old_value} -> {new_value}")
    if old.check_send_proxy != new.check_send_proxy:
        changes.append(
            f"{prefix}: check_send_proxy {old.check_send_proxy} -> {new.check_send_proxy}"
        )
    if old.http != new.http:
        changes.append(f"{prefix}: http settings changed")
    if old.cookie != new.cookie:
        changes.append(f"{prefix}: sticky-session cookie settings changed")
    if old.health_check != new.health_check:
        check = new.health_check
        what = f"{check.type} every {check.interval:g}s" if check is not None else "none"
        changes.append(f"{prefix}: health check now {what}")

    old_servers = {s.name: s for s in old.servers}
    new_servers = {s.name: s for s in new.servers}
    for name, server in new_servers.items():
        before = old_servers.get(name)
        if before is None:
            changes.append(f"{prefix}: server {name} added ({_describe(server)})")
            continue
        if before.address != server.address:
            changes.append(f"{prefix}: server {name} address {before.address} -> {server.address}")
        if before.weight != server.weight:
            changes.append(f"{prefix}: server {name} weight {before.weight} -> {server.weight}")
        if before.backup != server.backup:
            role = "backup" if server.backup else "no longer backup"
            changes.append(f"{prefix}: server {name} is now {role}")
        if before.cookie != server.cookie:
            changes.append(f"{prefix}: server {name} cookie {before.cookie} -> {server.cookie}")
    changes += [
        f"{prefix}: server {name} removed" for name in old_servers if name not in new_servers
    ]
    return changes


def _describe(server: ServerConfig) -> str:
    return f"{server.address}, weight {server.weight}" + (", backup" if server.backup else "")
