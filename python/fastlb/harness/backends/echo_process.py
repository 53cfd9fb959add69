"""A killable backend in a process of its own, so that a test can SIGKILL it and start it again
on the same port.

Run as a script (`python echo_process.py NAME PORT`, which `BackendProcess` does), this file
*is* that backend: a tiny threaded TCP server. Clients speak first:

- a first line starting with `GET ` is HTTP/1.0: `GET /health` answers 200, or 503 after the
  process got SIGUSR1 (SIGUSR2 makes it healthy again); any other path answers 200 with the
  name; the connection then closes;
- any other first line gets `NAME\\n`, then the echo of that line and of everything after it
  until the client closes.

Only the standard library is imported at module level, so that the script runs on its own.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

START_TIMEOUT = 10.0


# --- the backend process ------------------------------------------------------------------


class _Health:
    failing = False


def _serve_connection(conn: socket.socket, name: str) -> None:
    with conn:
        reader = conn.makefile("rb")
        first = reader.readline()
        if not first:
            return
        if first.startswith(b"GET "):
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass  # the request headers
            path = first.split()[1] if len(first.split()) > 1 else b"/"
            code = 503 if path == b"/health" and _Health.failing else 200
            reason = "Service Unavailable" if code == 503 else "OK"
            body = f"{name}\n".encode()
            head = f"HTTP/1.0 {code} {reason}\r\nContent-Length: {len(body)}\r\n\r\n"
            conn.sendall(head.encode() + body)
            return
        conn.sendall(name.encode() + b"\n" + first)
        # The makefile reader may hold bytes already: echo from it, not from the socket.
        while chunk := reader.read1(65536):
            conn.sendall(chunk)


def _backend_main(name: str, port: int) -> None:
    def failing(signum: int, frame: object) -> None:
        _Health.failing = True

    def healthy(signum: int, frame: object) -> None:
        _Health.failing = False

    signal.signal(signal.SIGUSR1, failing)
    signal.signal(signal.SIGUSR2, healthy)
    # create_server sets SO_REUSEADDR: a restarted backend binds again over TIME_WAIT leftovers.
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            listener = socket.create_server(("127.0.0.1", port), backlog=1024)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            continue

        def serve(conn: socket.socket = conn) -> None:
            with contextlib.suppress(OSError):
                _serve_connection(conn, name)

        threading.Thread(target=serve, daemon=True).start()


class BackendProcess:
    """`python echo_process.py NAME PORT` in a subprocess: start, SIGKILL, start again, make its
    HTTP health endpoint fail."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BackendProcess:
        from ..ports import listening_ports

        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), self.name, str(self.port)],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while self.port not in listening_ports():
            if self.proc.poll() is not None:
                raise RuntimeError(f"backend {self.name} exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"backend {self.name} not listening on {self.port}")
            time.sleep(0.02)
        return self

    def kill(self) -> float:
        """SIGKILL (by pid) and reap. Returns `time.monotonic()` once the process is gone:
        by then the kernel has closed all its sockets (listener and connections)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return time.monotonic()

    def set_failing(self, failing: bool) -> None:
        """`GET /health` answers 503 (True) or 200 (False) from now on."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1 if failing else signal.SIGUSR2)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class BackendPool:
    """Starts `BackendProcess`es on free ports; `close()` kills those still running."""

    def __init__(self) -> None:
        self.started: list[BackendProcess] = []

    def start(self, name: str) -> BackendProcess:
        from ..ports import free_port

        process = BackendProcess(name, free_port())
        self.started.append(process)
        return process.start()

    def close(self) -> None:
        for process in self.started:
            process.close()


if __name__ == "__main__":
    _backend_main(sys.argv[1], int(sys.argv[2]))
