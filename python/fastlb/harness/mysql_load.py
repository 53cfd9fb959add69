"""Write load through fastlb for the failover tests and benchmarks: threads insert rows with
unique ids, each on its own client session, and keep what was acknowledged and every error."""

from __future__ import annotations

import threading
import time
from typing import Any

import pymysql

from .background import BackgroundLoop
from .mysql_proxy import connect

TABLE = "fastlb.writes"
CREATE = f"CREATE TABLE {TABLE} (id BIGINT PRIMARY KEY, writer INT, at DOUBLE)"


class WriteLoad(BackgroundLoop):
    """`threads` writers inserting into `TABLE` through the proxy at `port` until `stop()`.
    A writer whose session breaks opens a new one (a client's reconnect)."""

    def __init__(self, port: int, user: str, password: str, threads: int = 4) -> None:
        # A writer may be in a 15 s read when stopped: wait for it to give up.
        super().__init__("write-load", threads=threads, join_timeout=30)
        self.port, self.user, self.password = port, user, password
        self.acknowledged: set[int] = set()
        self.errors: list[tuple[float, str]] = []
        #: time.monotonic() of each acknowledged write.
        self.successes: list[float] = []
        #: (sent, acknowledged) times of each acknowledged write.
        self.timed: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def _session(self) -> Any:
        return connect(
            self.port, user=self.user, password=self.password, database="fastlb", read_timeout=15
        )

    def run(self, writer: int) -> None:
        session = None
        sequence = 0
        while not self.stopping:
            row = writer * 10_000_000 + sequence
            sent = time.monotonic()
            try:
                if session is None:
                    session = self._session()
                with session.cursor() as cursor:
                    cursor.execute(
                        f"INSERT INTO {TABLE} VALUES (%s, %s, %s)", (row, writer, time.time())
                    )
            except (pymysql.err.MySQLError, OSError) as exc:
                with self._lock:
                    self.errors.append((time.monotonic(), repr(exc)))
                if session is not None:
                    session.close()
                session = None
                sequence += 1  # the outcome is unknown: never reuse the id
                self.pause(0.02)
                continue
            with self._lock:
                self.acknowledged.add(row)
                now = time.monotonic()
                self.successes.append(now)
                self.timed.append((sent, now))
            sequence += 1
        if session is not None:
            session.close()

    def first_success_after(self, moment: float) -> float | None:
        """When the first write sent after `moment` was acknowledged (one already under
        way at `moment` may have been acknowledged by the server that then died)."""
        with self._lock:
            later = [acked for sent, acked in self.timed if sent > moment]
        return min(later) if later else None
