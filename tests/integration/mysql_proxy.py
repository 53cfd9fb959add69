"""Helpers for the `mode: mysql` tests: fastlb.harness.mysql_proxy (two private MariaDB
servers, a `fastlb serve` in front of them, client shortcuts)."""

from fastlb.harness.mysql_proxy import (
    PRIMARY_ID,
    REPLICA_ID,
    SCHEMA,
    SERVER_OPTIONS,
    Pair,
    connect,
    global_status,
    mysql_stats,
    one,
    pooled_config,
    pooled_proxy,
    proxy_config,
    running_proxy,
    seeded_pair,
    server_id,
    sql_port,
    standalone_pair,
)

__all__ = [
    "PRIMARY_ID",
    "REPLICA_ID",
    "SCHEMA",
    "SERVER_OPTIONS",
    "Pair",
    "connect",
    "global_status",
    "mysql_stats",
    "one",
    "pooled_config",
    "pooled_proxy",
    "proxy_config",
    "running_proxy",
    "seeded_pair",
    "server_id",
    "sql_port",
    "standalone_pair",
]
