"""The soak's traffic: threads that keep requesting at a bounded pace until told to stop, count
what was served and record every failure with the time and the kind the verdict judges.

- `http-keepalive`: GET / on one kept-alive connection to the `mode: http` frontend;
- `http-new`: GET / with `Connection: close`, a new connection each;
- `tcp-bulk`: a new connection to the `mode: tcp` frontend per stream, 1 MiB echoed back and
  compared byte for byte;
- `mysql`: point reads (to the replica), updates and inserts (to the primary) through the
  `mode: mysql` frontend, the session recycled every few seconds as a pool would.

A keep-alive client that finds its reused connection closed before any byte of the answer
retries the GET once on a new connection, as HTTP clients do for idempotent requests; the close
is still recorded ("keepalive closed"), and nothing explains it (an upgrading process answers
the last request with `Connection: close`).
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

import pymysql

from bench.locust.mysql_workload import EVENTS, ITEMS, ROWS
from bench.soak.model import ClientError
from bench.soak.topology import Endpoints
from fastlb.harness.background import BackgroundLoop
from fastlb.harness.sockets import recv_exact

TIMEOUT_S = 10.0
BULK_BYTES = 1 << 20
BULK_CHUNK = 64 * 1024
MYSQL_SESSION_S = 5.0
# Seconds between two requests of one client: a steady load that leaves the shared 2-core
# machine room for fastlb, the backends and the sampler.
PACE_S = {"http-keepalive": 0.01, "http-new": 0.02, "tcp-bulk": 0.1, "mysql": 0.02}
THREADS = {"http-keepalive": 3, "http-new": 2, "tcp-bulk": 2, "mysql": 2}


def error_kind(exc: BaseException) -> str:
    """The kind of a failure, as the verdict names them."""
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return f"mysql {exc.args[0]}"
    if isinstance(exc, http.client.RemoteDisconnected | EOFError):
        return "eof"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, BrokenPipeError):
        return "broken pipe"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ValueError):
        return "wrong data"
    return type(exc).__name__


class Traffic(BackgroundLoop):
    """Every client thread (`THREADS` of each kind of traffic), from `start()` until `stop()`."""

    def __init__(self, endpoints: Endpoints, started_at: float) -> None:
        # The kind of traffic of each thread, by worker number.
        self._kinds = [traffic for traffic, threads in THREADS.items() for _ in range(threads)]
        # A client in the middle of a request ends it first: at most its timeout.
        super().__init__("soak-traffic", threads=len(self._kinds), join_timeout=TIMEOUT_S + 5)
        self.endpoints = endpoints
        self.started_at = started_at
        self.served: Counter[str] = Counter()
        self.keepalive_retries = 0
        self.errors: list[ClientError] = []
        self._lock = threading.Lock()

    def run(self, worker: int) -> None:
        traffic = self._kinds[worker]
        loops: dict[str, Callable[[str], None]] = {
            "http-keepalive": self._http_keepalive,
            "http-new": self._http_new,
            "tcp-bulk": self._tcp_bulk,
            "mysql": self._mysql,
        }
        loops[traffic](traffic)

    def _now(self) -> float:
        return time.monotonic() - self.started_at

    def _ok(self, traffic: str) -> None:
        with self._lock:
            self.served[traffic] += 1

    def _failed(self, traffic: str, kind: str, detail: str) -> None:
        with self._lock:
            self.errors.append(ClientError(self._now(), traffic, kind, detail[:200]))

    def _pace(self, traffic: str) -> bool:
        """Sleeps between requests; False once the soak is over."""
        return not self.pause(PACE_S[traffic])

    # --- HTTP ------------------------------------------------------------------------------

    def _get(self, conn: http.client.HTTPConnection, traffic: str, close: bool) -> None:
        conn.request("GET", "/", headers={"Connection": "close"} if close else {})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            self._failed(traffic, f"status {response.status}", body.decode(errors="replace"))
        elif not body.startswith(b"web-"):
            self._failed(traffic, "wrong body", repr(body))
        else:
            self._ok(traffic)

    def _http_keepalive(self, traffic: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.endpoints.http_port, timeout=TIMEOUT_S)
        reused = False
        while self._pace(traffic):
            try:
                try:
                    self._get(conn, traffic, close=False)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    if not reused:
                        raise
                    # Closed under us before any answer: once more on a new connection.
                    self._failed(traffic, "keepalive closed", "reused connection closed")
                    with self._lock:
                        self.keepalive_retries += 1
                    conn.close()
                    self._get(conn, traffic, close=False)
                reused = conn.sock is not None  # http.client closed it if the answer said so
            except (OSError, http.client.HTTPException) as exc:
                self._failed(traffic, error_kind(exc), repr(exc))
                conn.close()
                reused = False
        conn.close()

    def _http_new(self, traffic: str) -> None:
        while self._pace(traffic):
            conn = http.client.HTTPConnection(
                "127.0.0.1", self.endpoints.http_port, timeout=TIMEOUT_S
            )
            try:
                self._get(conn, traffic, close=True)
            except (OSError, http.client.HTTPException) as exc:
                self._failed(traffic, error_kind(exc), repr(exc))
            finally:
                conn.close()

    # --- bulk TCP --------------------------------------------------------------------------

    def _tcp_bulk(self, traffic: str) -> None:
        payload = os.urandom(BULK_BYTES)
        while self._pace(traffic):
            try:
                self._one_stream(payload)
            except (OSError, EOFError, ValueError) as exc:
                self._failed(traffic, error_kind(exc), repr(exc))
            else:
                self._ok(traffic)

    def _one_stream(self, payload: bytes) -> None:
        """The echo backend (fastlb.harness.backends.echo_process) greets a non-HTTP first line with
        its name and echoes the line and everything after it."""
        with socket.create_connection(
            ("127.0.0.1", self.endpoints.tcp_port), timeout=TIMEOUT_S
        ) as sock:
            sock.sendall(b"bulk\n")
            head = _recv_until(sock, b"bulk\n")
            if not head.startswith(b"tcp-"):
                raise ValueError(f"unexpected greeting {head!r}")
            view = memoryview(payload)
            # Chunk by chunk, each read back before the next is sent: the echo can't deadlock
            # on full socket buffers.
            for start in range(0, len(view), BULK_CHUNK):
                chunk = view[start : start + BULK_CHUNK]
                sock.sendall(chunk)
                if recv_exact(sock, len(chunk)) != chunk:
                    raise ValueError(f"corrupt echo at byte {start}")
            sock.shutdown(socket.SHUT_WR)
            if sock.recv(1):
                raise ValueError("bytes after the echo")

    # --- MySQL -----------------------------------------------------------------------------

    def _connect_mysql(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        e = self.endpoints
        return pymysql.connect(
            host="127.0.0.1",
            port=e.mysql_port,
            user=e.mysql_user,
            password=e.mysql_password,
            database=e.database,
            autocommit=True,
            connect_timeout=TIMEOUT_S,
            read_timeout=TIMEOUT_S,
            write_timeout=TIMEOUT_S,
        )

    def _mysql(self, traffic: str) -> None:
        rng = random.Random()
        conn: pymysql.connections.Connection[pymysql.cursors.Cursor] | None = None
        opened = 0.0
        while self._pace(traffic):
            try:
                if conn is None or time.monotonic() - opened > MYSQL_SESSION_S:
                    if conn is not None:
                        conn.close()
                    conn = None
                    conn = self._connect_mysql()
                    opened = time.monotonic()
                self._one_query(conn, rng)
            except (pymysql.err.MySQLError, OSError, ValueError) as exc:
                self._failed(traffic, error_kind(exc), repr(exc))
                if conn is not None:
                    conn.close()
                conn = None
            else:
                self._ok(traffic)
        if conn is not None:
            conn.close()

    @staticmethod
    def _one_query(
        conn: pymysql.connections.Connection[pymysql.cursors.Cursor], rng: random.Random
    ) -> None:
        item = rng.randint(1, ROWS)
        with conn.cursor() as cursor:
            roll = rng.random()
            if roll < 0.8:
                cursor.execute(f"SELECT note FROM {ITEMS} WHERE id = %s", (item,))
                row = cursor.fetchone()
                if row is None or row[0] != f"item {item}":
                    raise ValueError(f"item {item}: got {row!r}")
            elif roll < 0.9:
                cursor.execute(f"UPDATE {ITEMS} SET counter = counter + 1 WHERE id = %s", (item,))
            else:
                cursor.execute(f"INSERT INTO {EVENTS} (item, note) VALUES (%s, %s)", (item, "soak"))


def _recv_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(256)
        if not chunk:
            raise EOFError(f"EOF after {data!r}")
        data += chunk
    return data
