"""The MySQL scenario's data and its endpoints: the tables created at start, and the `--host` URL
that tells a Locust user where to send writes and where to send reads.

Shared by the topology (which creates and fills the tables before any run) and the locustfile
(whose users query them); kept free of Locust so that importing it does not monkey-patch the
runner with gevent.

The URL is `mysql://USER:PASSWORD@HOST:PORT/DATABASE`, plus `?reader=HOST:PORT` when reads go
to another port than writes (HAProxy's port-based twin of read/write splitting: a writer port
to the primary, a reader port to the replica). Without `reader`, reads and writes share one
connection and the load balancer splits them (fastlb's `mode: mysql`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

ROWS = 1000  # rows of ITEMS, ids 1..ROWS: every point select finds exactly one
ITEMS = "lt_items"  # read by primary key, updated in place
EVENTS = "lt_events"  # appended to


def setup_sql(database: str) -> str:
    """The tables, created and filled on the primary (the replica gets them by replication)."""
    return f"""
USE {database};
DROP TABLE IF EXISTS {ITEMS}, {EVENTS};
CREATE TABLE {ITEMS} (
    id INT PRIMARY KEY, counter INT NOT NULL DEFAULT 0, note VARCHAR(64) NOT NULL);
INSERT INTO {ITEMS} (id, note) SELECT seq, CONCAT('item ', seq) FROM seq_1_to_{ROWS};
CREATE TABLE {EVENTS} (
    id BIGINT AUTO_INCREMENT PRIMARY KEY, item INT NOT NULL, note VARCHAR(64) NOT NULL);
"""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class MySQLTarget:
    """Where a user connects: the writer, the reader (the same endpoint when the load balancer
    splits), and how it logs in."""

    writer: Endpoint
    reader: Endpoint
    user: str
    password: str
    database: str


def endpoint(text: str) -> Endpoint:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not HOST:PORT: {text!r}")
    return Endpoint(host, int(port))


def mysql_url(writer: str, user: str, password: str, database: str, reader: str = "") -> str:
    """The `--host` URL of a target (`writer`, `reader` as HOST:PORT)."""
    login = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"mysql://{login}@{writer}/{database}" + (f"?reader={reader}" if reader else "")


def parse_url(url: str) -> MySQLTarget:
    """`mysql_url`'s inverse; ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "mysql" or not parts.hostname or parts.port is None:
        raise ValueError(f"not a mysql://USER:PASSWORD@HOST:PORT/DATABASE URL: {url!r}")
    writer = Endpoint(parts.hostname, parts.port)
    readers = parse_qs(parts.query).get("reader", [])
    database = parts.path.lstrip("/")
    if not parts.username or not database:
        raise ValueError(f"the URL names no user or no database: {url!r}")
    return MySQLTarget(
        writer=writer,
        reader=endpoint(readers[0]) if readers else writer,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        database=database,
    )
