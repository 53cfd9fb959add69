"""Runs the API app with uvicorn, either on the caller's asyncio loop or in a daemon thread.

The listening socket is bound up front, in the constructor, so that the caller learns the
real port (for `listen: ...:0`) and sees a bind error synchronously, before anything runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from ..config import resolve_address, split_host_port


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: fastlb's CLI (or the embedding program) owns
    SIGTERM/SIGINT and stops the API itself, after draining the core."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ApiServer:
    """The HTTP API bound to `listen` (`host:port`, port 0 = any free port)."""

    def __init__(self, app: FastAPI, listen: str, sock: socket.socket | None = None) -> None:
        """`sock`: a listening socket already bound at `listen` (handed over on upgrade)."""
        host, port = split_host_port(resolve_address(listen), min_port=0)
        host = host.strip("[]")
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        try:
            self._socket = sock or socket.create_server((host, port), family=family)
        except OSError as exc:
            # create_server's own message repeats the address; keep the OS's words only.
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise OSError(exc.errno, f"api: cannot listen on {listen}: {reason}") from None
        # Loopback only (the default 127.0.0.1): nothing beyond this host can reach it.
        self.loopback = ipaddress.ip_address(host).is_loopback
        bound_port = self._socket.getsockname()[1]
        self.url = (
            f"http://[{host}]:{bound_port}"
            if family == socket.AF_INET6
            else (f"http://{host}:{bound_port}")
        )
        config = uvicorn.Config(
            app,
            log_config=None,  # leave the embedding program's logging configuration alone
            access_log=False,
            lifespan="off",
            ws="none",
            server_header=False,
        )
        self._server = _EmbeddedServer(config)
        self._thread: threading.Thread | None = None

    def duplicate_socket(self) -> socket.socket:
        """A duplicate of the listening socket, for the process that upgrades this one."""
        return self._socket.dup()

    async def serve(self) -> None:
        """Serve on the running loop until `stop()` (or `request_stop()`) is called."""
        await self._server.serve(sockets=[self._socket])

    def start_in_thread(self, startup_timeout: float = 10.0) -> None:
        """Serve from a daemon thread with its own event loop; return once it accepts."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.serve()), name="fastlb-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API server at {self.url} did not start")
            time.sleep(0.01)

    def request_stop(self) -> None:
        """Ask the server to finish (thread-safe); `serve()` returns shortly after."""
        self._server.should_exit = True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; when running in a thread, wait up to `timeout` for it to end."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if not self._server.started:
            # uvicorn closes the socket on shutdown; it never started, so close it here.
            self._socket.close()
