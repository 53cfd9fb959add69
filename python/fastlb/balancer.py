"""`LoadBalancer`: the embeddable object that runs the Rust core (and, optionally, the API).

Client traffic never touches Python: the core has its own runtime and threads, so a program
embedding fastlb may block, compute or hold the GIL while connections keep flowing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from .config import Config, load_config
from .errors import ConfigError, FastLBError, NotRunningError, UnknownServerError

if TYPE_CHECKING:
    from ._core import Engine
    from .api.server import ApiServer

__all__ = ["SERVER_STATES", "LoadBalancer"]

log = logging.getLogger("fastlb")

SERVER_STATES = ("ready", "drain", "maint")


class LoadBalancer:
    """A fastlb load balancer built from a `Config` or a mapping of the same shape.

    `start()` binds every frontend (and the API when the config has an `api` section) and
    returns at once; `stop()` drains. Also a context manager (`with`, `async with`).
    """

    def __init__(self, config: Config | Mapping[str, Any]) -> None:
        self.config = config if isinstance(config, Config) else Config.from_mapping(config)
        self._engine: Engine | None = None
        # The last stopped engine, so that stats() still gives the final counters.
        self._stopped_engine: Engine | None = None
        self._api: ApiServer | None = None
        # start() and stop() may come from different threads (an API thread, a signal
        # handler's loop, the embedding program): never let them interleave.
        self._lifecycle = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LoadBalancer:
        """Load and validate a `.yaml`/`.yml`/`.toml` file (ConfigError when invalid)."""
        return cls(load_config(path))

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, api_in_thread: bool = True) -> Self:
        """Bind the frontends and start serving; returns self.

        Raises ConfigError when a host name does not resolve, OSError naming the frontend
        when an address cannot be bound (nothing is left listening then). With an `api`
        section, the API runs in a daemon thread; `api_in_thread=False` only binds it, for
        the caller to run with `await serve_api()` on its own event loop.
        """
        with self._lifecycle:
            if self.running:
                raise FastLBError("the load balancer is already running")
            from . import _core  # imported here so that config checks work without the core

            try:
                engine = _core.Engine(self.config.to_core_json())
            except ValueError as exc:
                if isinstance(exc, ConfigError):
                    raise
                raise ConfigError([("", f"the core refused the configuration: {exc}")]) from None
            # Bind the API first: a busy API port must fail before any frontend listens.
            api = self._bind_api() if self.config.api is not None else None
            try:
                engine.start()
                if api is not None and api_in_thread:
                    api.start_in_thread()
            except BaseException:
                if engine.running:
                    engine.stop(0.0)
                if api is not None:
                    api.stop()
                raise
            self._engine, self._api = engine, api
            self._log_started(engine)
        return self

    def _bind_api(self) -> ApiServer:
        from .api import ApiServer, create_app  # FastAPI is heavy: import it only when used

        assert self.config.api is not None
        return ApiServer(create_app(self, token=self.config.api.token), self.config.api.listen)

    async def serve_api(self) -> None:
        """Run the API on the running event loop until `stop()`.

        For callers that started with `start(api_in_thread=False)`, like `fastlb serve`."""
        if self._api is None:
            raise NotRunningError("no API to serve: not started, or no 'api' section")
        await self._api.serve()

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, let established connections finish for up to `timeout` seconds
        (default: the config's `drain_timeout`), close what is left, then stop the API.
        Idempotent."""
        with self._lifecycle:
            engine, self._engine = self._engine, None
            api, self._api = self._api, None
            try:
                if engine is not None:
                    deadline = self.config.drain_timeout if timeout is None else timeout
                    log.info(
                        "stopping: draining %d connections (deadline %gs)",
                        _open_connections(engine),
                        deadline,
                    )
                    engine.stop(deadline)
                    self._stopped_engine = engine
            finally:
                # The API outlives the drain so that it can be watched; it stops last.
                if api is not None:
                    api.stop()
            if engine is not None:
                log.info("stopped")

    @property
    def running(self) -> bool:
        return self._engine is not None and self._engine.running

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        # start() and stop() block (binding, draining): keep them off the event loop.
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ runtime control

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """Set a server's weight, 0..256; 0 takes no new connections, established ones stay."""
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise TypeError(f"weight must be an int, not {type(weight).__name__}")
        if not 0 <= weight <= 256:
            raise ValueError(f"weight must be between 0 and 256 (got {weight})")
        engine = self._require_engine()
        try:
            engine.set_weight(backend, server, weight)
        except KeyError:
            raise self._unknown_server(backend, server) from None
        log.info("backend %s: server %s weight set to %d", backend, server, weight)

    def set_state(self, backend: str, server: str, state: str) -> None:
        """`ready`, `drain` (no new connections) or `maint` (no new connections)."""
        if state not in SERVER_STATES:
            raise ValueError(f"state must be one of {', '.join(SERVER_STATES)} (got {state!r})")
        engine = self._require_engine()
        try:
            engine.set_state(backend, server, state)
        except KeyError:
            raise self._unknown_server(backend, server) from None
        log.info("backend %s: server %s state set to %s", backend, server, state)

    def require_server(self, backend: str, server: str) -> None:
        """Raise UnknownServerError unless the running core has this backend and server."""
        backends = self.stats()["backends"]
        if server not in backends.get(backend, {}).get("servers", {}):
            raise self._unknown_server(backend, server)

    # ------------------------------------------------------------------ observation

    def stats(self) -> dict[str, Any]:
        """A snapshot of every counter (shape: docs/core-interface.md); after `stop()`, the
        final counters."""
        engine = self._engine or self._stopped_engine
        if engine is None:
            raise NotRunningError("the load balancer has not been started")
        return engine.stats()

    @property
    def addresses(self) -> dict[str, str]:
        """Frontend name -> the bound `ip:port` (the real port when the config said 0)."""
        return dict(self._require_engine().listen_addresses())

    @property
    def api_url(self) -> str | None:
        """`http://ip:port` of the API while it runs, else None."""
        return self._api.url if self._api is not None else None

    # ------------------------------------------------------------------ internals

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise NotRunningError("the load balancer is not running: call start() first")
        return self._engine

    def _unknown_server(self, backend: str, server: str) -> UnknownServerError:
        backends = self.stats()["backends"]
        if backend not in backends:
            known = ", ".join(backends) or "none"
            return UnknownServerError(f"unknown backend {backend!r} (backends: {known})")
        return UnknownServerError(f"backend {backend!r} has no server {server!r}")

    def _log_started(self, engine: Engine) -> None:
        bound = engine.listen_addresses()
        for frontend in self.config.frontends:
            log.info(
                "frontend %s listening on %s -> backend %s",
                frontend.name,
                bound.get(frontend.name, frontend.listen),
                frontend.backend,
            )
        for backend in self.config.backends:
            for server in backend.servers:
                log.info(
                    "backend %s: server %s %s weight %d%s",
                    backend.name,
                    server.name,
                    server.address,
                    server.weight,
                    " (backup)" if server.backup else "",
                )
        if self._api is not None:
            log.info("API listening on %s", self._api.url)


def _open_connections(engine: Engine) -> int:
    frontends = engine.stats().get("frontends", {})
    return sum(int(f.get("current_connections", 0)) for f in frontends.values())
