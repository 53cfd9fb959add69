"""Real TCP backends in this process: small threaded TCP servers on 127.0.0.1.

Each server owns a listening socket on a free port and serves every accepted connection on its
own thread with a *handler* (a function of the connection and the server). Handlers tolerate
abrupt peers: a reset or a broken pipe ends that connection quietly, never the test.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from ..sockets import hash_exact, recv_exact

Handler = Callable[[socket.socket, "TcpServer"], None]

CHUNK = 256 * 1024


class TcpServer:
    """A threaded TCP server on a free loopback port; `close()` stops all it started."""

    def __init__(self, handler: Handler, name: str = "", host: str = "127.0.0.1") -> None:
        self.name = name
        self._handler = handler
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, 0), family=family, backlog=1024)
        # Polling accept with a short timeout makes close() reliable without OS-specific tricks.
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        # Whatever the handlers want to report back to the test (hashes of what they read ...).
        self.results: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._accepted = 0
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"srv-{name}", daemon=True)
        self._acceptor.start()

    @property
    def accepted(self) -> int:
        """How many connections this server has accepted so far."""
        with self._lock:
            return self._accepted

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._accepted += 1
                self._connections.add(conn)
                self._threads.add(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handler(conn, self)
        except OSError:
            pass  # the peer reset or close() shut the socket: this connection is over
        finally:
            with self._lock:
                self._connections.discard(conn)
                self._threads.discard(threading.current_thread())
                conn.close()

    def close(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> TcpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- handlers -----------------------------------------------------------------------------


def _hash_to_eof(conn: socket.socket) -> tuple[str, int]:
    digest = hashlib.sha256()
    total = 0
    while chunk := conn.recv(CHUNK):
        digest.update(chunk)
        total += len(chunk)
    return digest.hexdigest(), total


def named_echo(name: str) -> Handler:
    """Greets with `name\\n`, then echoes every byte until the client closes."""

    def handle(conn: socket.socket, server: TcpServer) -> None:
        conn.sendall(name.encode() + b"\n")
        while chunk := conn.recv(CHUNK):
            conn.sendall(chunk)

    return handle


def echo(conn: socket.socket, server: TcpServer) -> None:
    """Echoes every byte until the client closes."""
    while chunk := conn.recv(CHUNK):
        conn.sendall(chunk)


def length_prefixed_hash(conn: socket.socket, server: TcpServer) -> None:
    """Reads an 8-byte big-endian length then that many bytes; answers `sha256hex length\\n`."""
    (length,) = struct.unpack("!Q", recv_exact(conn, 8))
    conn.sendall(f"{hash_exact(conn, length)} {length}\n".encode())


def source(data: bytes) -> Handler:
    """Sends `data`, then closes."""

    def handle(conn: socket.socket, server: TcpServer) -> None:
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            conn.sendall(view[start : start + CHUNK])

    return handle


def reply_after_eof(tail: bytes) -> Handler:
    """Reads to EOF (the client's half-close), then answers `sha256hex length\\n` + `tail` and
    closes. The answer travels only after the client has shut down its sending side."""

    def handle(conn: socket.socket, server: TcpServer) -> None:
        digest, total = _hash_to_eof(conn)
        conn.sendall(f"{digest} {total}\n".encode() + tail)

    return handle


def half_close_first(greeting: bytes) -> Handler:
    """Sends `greeting` and half-closes at once, then reads what the client still sends until
    its EOF and reports `(sha256hex, length)` in `server.results`."""

    def handle(conn: socket.socket, server: TcpServer) -> None:
        conn.sendall(greeting)
        conn.shutdown(socket.SHUT_WR)
        server.results.put(_hash_to_eof(conn))

    return handle


def reset_after(data: bytes) -> Handler:
    """Sends `data`, then resets the connection (SO_LINGER 0) instead of closing it."""

    def handle(conn: socket.socket, server: TcpServer) -> None:
        conn.sendall(data)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return handle
