"""Blocking socket clients over loopback (every wait bounded): exact reads, lines, echoes,
resets."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
from pathlib import Path

CHUNK = 256 * 1024
DEFAULT_TIMEOUT = 10.0


class PeerClosed(ConnectionError, EOFError):
    """The peer closed before all that was expected arrived: a ConnectionError (an OSError,
    as the socket's own errors) and an EOFError (what a reader of a stream expects)."""


def connect(port: int, timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_line(sock: socket.socket) -> bytes:
    """One `\\n`-terminated line, read byte by byte so nothing after it is consumed."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = sock.recv(1)
        if not byte:
            raise PeerClosed(f"EOF before end of line (got {bytes(line)!r})")
        line += byte
    return bytes(line[:-1])


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(CHUNK, n - len(buf)))
        if not chunk:
            raise PeerClosed(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock: socket.socket) -> bytes:
    buf = bytearray()
    while chunk := sock.recv(CHUNK):
        buf += chunk
    return bytes(buf)


def hash_exact(sock: socket.socket, n: int) -> str:
    """sha256 of exactly the next `n` bytes (without keeping them)."""
    digest = hashlib.sha256()
    remaining = n
    while remaining:
        chunk = sock.recv(min(CHUNK, remaining))
        if not chunk:
            raise PeerClosed(f"EOF with {remaining} of {n} bytes missing")
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.hexdigest()


def send_length_prefixed(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack("!Q", len(data)))
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        sock.sendall(view[start : start + CHUNK])


def ask_name(port: int) -> str:
    """One new connection through fastlb to a `named_echo` backend: which server answered."""
    with connect(port) as sock:
        return recv_line(sock).decode()


def echo_roundtrip(sock: socket.socket, payload: bytes) -> None:
    """Sends `payload` on an established connection to an echo backend and checks it comes back."""
    sock.sendall(payload)
    got = recv_exact(sock, len(payload))
    assert got == payload, f"echo mismatch: sent {payload[:40]!r}..., got {got[:40]!r}..."


def abort(sock: socket.socket) -> None:
    """Closes with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for_close(sock: socket.socket, timeout: float) -> str:
    """Waits (bounded) until the peer closes: returns "eof" or "reset", or "open" when `timeout`
    passed with the connection still up. Data that arrives meanwhile is discarded."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(CHUNK):
                return "eof"
        except TimeoutError:
            return "open"
        except ConnectionResetError:
            return "reset"
    return "open"


def echo_large(sock: socket.socket, payload: bytes) -> None:
    """Like `echo_roundtrip`, but sends from a thread while this one reads the echo, so a
    payload larger than all the buffers in between cannot deadlock."""
    errors: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(payload)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        got = recv_exact(sock, len(payload))
    finally:
        sender.join(timeout=DEFAULT_TIMEOUT)
    assert not errors, errors
    assert got == payload, f"echo of {len(payload)} bytes differs"


def open_descriptors(pid: int) -> int:
    """How many file descriptors process `pid` has open (for leak checks)."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))
