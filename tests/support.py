"""Small helpers shared by the tests (tests/integration may import them too: keep these names
and signatures stable, add rather than change).

- `free_port()`: a TCP port free on 127.0.0.1 right now.
- `wait_for_port(port)`: bounded retries until something accepts on 127.0.0.1:port.
- `NamedHTTPBackend(name)`: a real HTTP server in this process answering `hello from NAME`.
- `BackendProcess(name)`: the same server in a child process, for tests in which this
  process must not serve anything (e.g. while the test holds the GIL).
- `http_get(url)`: the body of a GET, one new connection each time.
- `fastlb_command()`: how to run the `fastlb` command of this environment (both from
  fastlb.harness, like `free_port()`).
- `set_at(path, value)`: a mutation of a config mapping (`a.0.b` = value; None removes).

`python tests/support.py NAME` runs a NamedHTTPBackend in the foreground and prints its port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

# Re-exported: the tests import them from here.
from fastlb.harness.ports import LOOPBACK
from fastlb.harness.ports import free_port as free_port
from fastlb.harness.process import fastlb_command as fastlb_command


def wait_for_port(port: int, host: str = LOOPBACK, timeout: float = 15.0) -> None:
    """Return once a TCP connect to host:port succeeds; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepts on {host}:{port} after {timeout}s") from exc
            time.sleep(0.05)


def http_get(url: str, timeout: float = 5.0) -> str:
    """The decoded body of `GET url` (raises urllib's errors for a non-2xx answer)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body.decode()


def set_at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `a.0.b` = value in a config mapping (None removes the key)."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


class NamedHTTPBackend:
    """An HTTP server on 127.0.0.1 (free port) answering every GET with `hello from NAME\\n`.

    Counts the requests it answered in `requests`. Use as a context manager or call close().
    """

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        self.requests = 0
        reply = f"hello from {name}\n".encode()
        backend = self

        class SayName(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                backend.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((LOOPBACK, port), SayName)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self.address = f"{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"backend-{name}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class BackendProcess:
    """A NamedHTTPBackend running in a child Python process (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._proc = subprocess.Popen(
            [sys.executable, __file__, name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        first_line = self._proc.stdout.readline()
        if not first_line.strip().isdigit():
            self.close()
            raise RuntimeError(f"backend process {name} did not start: {first_line!r}")
        self.port = int(first_line)
        self.address = f"{LOOPBACK}:{self.port}"

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = NamedHTTPBackend(sys.argv[1])
    print(server.port, flush=True)
    try:
        threading.Event().wait()
    finally:
        server.close()
