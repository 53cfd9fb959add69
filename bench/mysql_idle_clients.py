"""What 1,000 idle clients cost the database server, side by side: each client logs in, runs
one statement and stays connected, doing nothing, as an application's connection pool or a
fleet of workers does between requests. Counted: the MariaDB server's connections
(Threads_connected) they hold, and what each proxy holds for them (its RSS). (MariaDB's own
RSS is not compared: freed connection memory stays in its allocator's arenas and is reused
by the next side, so its growth depends on the order the sides run in.)

Direct, through HAProxy `mode tcp` and through fastlb without the pool, every idle client
holds a server connection (and its thread and buffers). Through fastlb with multiplexing
they hold none: they logged in through the pool, and their next statement borrows a pooled
connection. Target (issue 15): the server connections held stay within `max_per_server`
for each of fastlb's server entries.

Part of `python -m bench.mysql_pool`, which starts the server and the proxies."""

from __future__ import annotations

import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pymysql

from bench.soak.sampler import read_status
from fastlb.harness.mariadb import PASSWORD, USER, MariaDB

CLIENTS = 1_000
# fastlb's multiplexed sessions give their connection back after a 250 ms hold.
SETTLE_SECONDS = 1.0


@dataclass
class Held:
    """What `CLIENTS` idle clients of one side hold."""

    server_connections: int
    proxy_rss_mb: float | None


def rss_mb(pid: int) -> float:
    return read_status(pid)[0] / 2**20


def threads_connected(server: MariaDB) -> int:
    """The server's client connections, not counting the one that asks."""
    output = server.sql("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
    return int(output.split()[-1]) - 1


def login(port: int) -> pymysql.Connection[Any]:
    session = pymysql.connect(
        host="127.0.0.1",
        port=port,
        user=USER,
        password=PASSWORD,
        database="sbtest",
        # PyMySQL's default is autocommit off, which pins a multiplexed session to its
        # connection (as any per-connection state fastlb can't hand over would).
        autocommit=True,
        connect_timeout=30,
        read_timeout=60,
    )
    with session.cursor() as cursor:
        cursor.execute("SELECT 1")
    return session


def hold(server: MariaDB, port: int, proxy_pid: int | None) -> Held:
    """Logs `CLIENTS` clients in through `port`, lets them sit idle and counts what they
    hold, against what was held before they came; then closes them."""
    # One socket per client in this process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * CLIENTS)), hard))
    connections_before = threads_connected(server)
    proxy_before = rss_mb(proxy_pid) if proxy_pid else None
    sessions: list[pymysql.Connection[Any]] = []
    try:
        with ThreadPoolExecutor(max_workers=8) as logins:
            sessions.extend(logins.map(lambda _: login(port), range(CLIENTS)))
        time.sleep(SETTLE_SECONDS)
        return Held(
            server_connections=threads_connected(server) - connections_before,
            proxy_rss_mb=(
                rss_mb(proxy_pid) - proxy_before if proxy_pid and proxy_before is not None else None
            ),
        )
    finally:
        for session in sessions:
            session.close()
        # The server's threads of the closed sessions end before the next side counts.
        deadline = time.monotonic() + 30
        while threads_connected(server) > connections_before and time.monotonic() < deadline:
            time.sleep(0.2)


def report(held: dict[str, Held], max_per_server: int, entries: int) -> list[str]:
    """The report's section: a row per side."""
    bound = max_per_server * entries
    lines = [
        "",
        f"## Server connections held by {CLIENTS:,} idle clients",
        "",
        "Each client logged in, ran `SELECT 1` and stays connected, idle. Counted after"
        f" {SETTLE_SECONDS:g} s: the MariaDB server's connections they hold, and the memory"
        " the proxy (started fresh for this) holds for them. fastlb lists the one server as"
        f" primary and as replica ({entries} pool entries of `max_per_server`"
        f" {max_per_server}): target <= {bound} connections.",
        "",
        "| side | server connections | proxy RSS held (MiB) | target |",
        "|---|---:|---:|---|",
    ]
    for side, figures in held.items():
        proxy = "-" if figures.proxy_rss_mb is None else f"{figures.proxy_rss_mb:.1f}"
        target = "-"
        if side == "multiplexed":
            met = figures.server_connections <= bound
            target = f"<= {bound}: {'met' if met else 'MISSED'}"
        lines.append(f"| {side} | {figures.server_connections:,} | {proxy} | {target} |")
    return lines
