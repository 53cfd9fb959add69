"""`LoadBalancer`: the embeddable object that runs the Rust core (and, optionally, the API).

Client traffic never touches Python: the core has its own runtime and threads, so a program
embedding fastlb may block, compute or hold the GIL while connections keep flowing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from pydantic import ValidationError

from .config import Config, ServerConfig, load_config, resolve_address
from .config_diff import describe_changes, restart_only_changes
from .config_errors import problems_from_pydantic
from .contract import MAX_WEIGHT
from .errors import (
    ConfigError,
    FastLBError,
    NoConfigFileError,
    NotRunningError,
)
from .logs import log_started

if TYPE_CHECKING:
    from ._core import Engine
    from .api.server import ApiServer
    from .api.stats_models import ServerStats, StatsSnapshot
    from .bgp.speaker import BgpSpeaker
    from .failover.speaker import VrrpSpeaker
    from .mysql.topology_sync import TopologyMonitors
    from .upgrade import Inheritance

__all__ = ["LoadBalancer", "weight_from"]

log = logging.getLogger("fastlb")

_PERCENT_RE = re.compile(r"\s*(\d{1,6})\s*%\s*")


def weight_from(weight: int | str, initial_weight: int) -> int:
    """An absolute weight, or `"N%"` of `initial_weight` as HAProxy's `set weight ... N%`
    (rounded down, capped at MAX_WEIGHT). ValueError/TypeError say what is wrong; the core
    refuses an absolute weight out of range (WeightOutOfRangeError)."""
    if isinstance(weight, str):
        match = _PERCENT_RE.fullmatch(weight)
        if match is None:
            raise ValueError(
                f"weight must be 0..{MAX_WEIGHT} or a percentage like '50%' (got {weight!r})"
            )
        return min(MAX_WEIGHT, initial_weight * int(match[1]) // 100)
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise TypeError(f"weight must be an int or a percentage, not {type(weight).__name__}")
    return weight


class LoadBalancer:
    """A fastlb load balancer built from a `Config` or a mapping of the same shape.

    `start()` binds every frontend (and the API when the config has an `api` section) and
    returns at once; `stop()` drains. Also a context manager (`with`, `async with`).
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any],
        *,
        config_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config if isinstance(config, Config) else Config.from_mapping(config)
        self._config_file = Path(config_file) if config_file is not None else None
        # Runtime changes of the server set and reloads replace self.config: one at a time.
        self._changes = threading.Lock()
        self._engine: Engine | None = None
        # The last stopped engine, so that stats() still gives the final counters.
        self._stopped_engine: Engine | None = None
        self._api: ApiServer | None = None
        # The VRRP speaker, or the BGP one (`bgp:` excludes `failover:`): same lifecycle.
        self._failover: VrrpSpeaker | BgpSpeaker | None = None
        self._failover_thread: threading.Thread | None = None
        self._stopped_failover: VrrpSpeaker | BgpSpeaker | None = None
        # Called (from a thread) when `drain_node()` is done; default: `stop()`.
        self.on_drained: Callable[[], object] | None = None
        self._mysql_monitors: TopologyMonitors | None = None
        # start() and stop() may come from different threads (an API thread, a signal
        # handler's loop, the embedding program): never let them interleave.
        self._lifecycle = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LoadBalancer:
        """Load and validate a `.yaml`/`.yml`/`.toml` file (ConfigError when invalid).

        `reload()` without arguments re-reads this file."""
        return cls(load_config(path), config_file=path)

    @property
    def config_file(self) -> Path | None:
        """The file the configuration was loaded from (what `reload()` re-reads), if any."""
        return self._config_file

    # ------------------------------------------------------------------ lifecycle

    def start(
        self,
        *,
        api_in_thread: bool = True,
        failover_in_thread: bool = True,
        inherited: Inheritance | None = None,
    ) -> Self:
        """Bind the frontends and start serving; returns self.

        Raises ConfigError when a host name does not resolve, OSError naming the frontend
        when an address cannot be bound (nothing is left listening then). With an `api`
        section, the API runs in a daemon thread; `api_in_thread=False` only binds it, for
        the caller to run with `await serve_api()` on its own event loop. Likewise the
        `failover` speaker (VRRP): checked and its sockets opened here (FailoverError, an
        OSError, for missing capabilities), run in a thread or by `await serve_failover()`.

        `inherited` (`fastlb serve --upgrade`): listening sockets and failover state handed
        over by the fastlb this process replaces; frontends on the same addresses serve on
        those sockets instead of binding, and a master stays master.
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
            # Failover's environment and the API's port are checked first: their errors must
            # come before any frontend listens.
            if inherited is not None:
                for frontend, listen, fds in inherited.listeners:
                    engine.adopt_listeners(frontend, listen, fds)
                inherited.listeners = []
            resume = inherited.failover if inherited is not None else None
            bgp_resume = inherited.bgp if inherited is not None else None
            failover = (
                self._prepare_failover(engine, resume, bgp_resume)
                if self.config.failover or self.config.bgp
                else None
            )
            try:
                api = self._bind_api(inherited) if self.config.api is not None else None
            except BaseException:
                if failover is not None:
                    failover.close()
                raise
            try:
                engine.start()
                if api is not None and api_in_thread:
                    api.start_in_thread()
                if failover is not None and failover_in_thread:
                    self._failover_thread = threading.Thread(
                        target=lambda: asyncio.run(failover.run()),
                        name="fastlb-failover",
                        daemon=True,
                    )
                    self._failover_thread.start()
                self._mysql_monitors = self._start_mysql_monitors(engine, failover)
            except BaseException:
                if engine.running:
                    engine.stop(0.0)
                if api is not None:
                    api.stop()
                if failover is not None:
                    failover.close()
                raise
            self._engine, self._api, self._failover = engine, api, failover
            log_started(self.config, engine.listen_addresses(), self.api_url)
        return self

    def _start_mysql_monitors(
        self, engine: Engine, speaker: VrrpSpeaker | BgpSpeaker | None
    ) -> TopologyMonitors | None:
        """The topology monitors of the MySQL backends with a `monitor:` section, started
        (their first round done) so that the core knows the topology before clients come.
        With a VRRP pair only the MASTER may switch or fail over a primary (two nodes
        promoting two replicas would be a split brain)."""
        if not any(b.mysql and b.mysql.monitor for b in self.config.backends):
            return None
        from .failover.speaker import VrrpSpeaker
        from .mysql.topology_sync import TopologyMonitors  # aiomysql: imported only when used

        def may_act() -> bool:
            if isinstance(speaker, VrrpSpeaker):
                return bool(speaker.snapshot().get("state") == "master")
            return True

        monitors = TopologyMonitors(self.config, engine, may_act)
        monitors.start()
        return monitors

    def _bind_api(self, inherited: Inheritance | None = None) -> ApiServer:
        from .api import ApiServer, create_app  # FastAPI is heavy: import it only when used

        api = self.config.api
        assert api is not None
        sock = inherited.take_api_socket(api.listen) if inherited is not None else None
        server = ApiServer(create_app(self, token=api.token), api.listen, sock=sock)
        if api.token is None and not server.loopback:
            log.warning(
                "the API at %s is reachable beyond this host and has no api.token: anyone who "
                "can connect can change weights, remove servers and reload; set api.token "
                "(or listen on 127.0.0.1)",
                server.url,
            )
        return server

    def _prepare_failover(
        self, engine: Engine, resume: str | None = None, bgp_resume: object = None
    ) -> VrrpSpeaker | BgpSpeaker:
        from .failover.health import serving_problem
        from .failover.speaker import VrrpSpeaker

        if self.config.bgp is not None:
            from .bgp.node import prepare_bgp

            return prepare_bgp(self.config, engine, bgp_resume)
        assert self.config.failover is not None
        speaker = VrrpSpeaker(self.config.failover, lambda: serving_problem(engine), resume=resume)
        try:
            speaker.prepare()
        except ConfigError as exc:
            exc.source = os.fspath(self._config_file) if self._config_file else None
            raise
        return speaker

    async def serve_failover(self) -> None:
        """Run the failover speaker on the running event loop until `stop()`.

        For callers that started with `start(failover_in_thread=False)`, like `fastlb serve`."""
        if self._failover is None:
            raise NotRunningError("no failover to run: not started, or no 'failover' section")
        await self._failover.run()

    async def serve_api(self) -> None:
        """Run the API on the running event loop until `stop()`.

        For callers that started with `start(api_in_thread=False)`, like `fastlb serve`."""
        if self._api is None:
            raise NotRunningError("no API to serve: not started, or no 'api' section")
        await self._api.serve()

    def stop(self, timeout: float | None = None, *, handed_over: bool = False) -> None:
        """Stop accepting, let established connections finish for up to `timeout` seconds
        (default: the config's `drain_timeout`), close what is left, then stop the API.
        Idempotent.

        `handed_over`: a new process (`fastlb serve --upgrade`) serves the same sockets and
        holds the virtual IPs now: keep them (no priority-0 advertisement, no removal) and
        stop the API first, so that the API's shared socket answers from the new process."""
        with self._lifecycle:
            engine, self._engine = self._engine, None
            api, self._api = self._api, None
            if handed_over and api is not None:
                api.stop()
                api = None
            # Give the virtual IPs up first (priority 0: the peer takes over at once), then
            # drain what this node still serves.
            self._stop_failover(release=not handed_over)
            monitors, self._mysql_monitors = self._mysql_monitors, None
            if monitors is not None:
                monitors.stop()
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

    def _stop_failover(self, timeout: float = 5.0, release: bool = True) -> None:
        speaker, self._failover = self._failover, None
        thread, self._failover_thread = self._failover_thread, None
        if speaker is None:
            return
        if release:
            speaker.request_stop()
        else:
            from .failover.speaker import VrrpSpeaker

            # BGP: the routers keep the routes (graceful restart) until the new process's
            # speaker announces them.
            if isinstance(speaker, VrrpSpeaker):
                speaker.request_stop(release=False)
            else:
                speaker.request_stop(hand_over=True)
        if thread is not None:
            thread.join(timeout)
        elif not speaker.wait_stopped(timeout):
            log.warning("failover did not stop within %gs", timeout)
        self._stopped_failover = speaker

    def failover_state(self) -> str | None:
        """The VRRP state (`master`, `backup`...), for the process that upgrades this one."""
        from .failover.speaker import VrrpSpeaker

        speaker = self._failover
        return speaker.state if isinstance(speaker, VrrpSpeaker) else None

    def bgp_handover(self) -> dict[str, Any] | None:
        """The BGP announcement, for the process that upgrades this one (None without BGP)."""
        from .bgp.node import handover_inventory

        return handover_inventory(self._failover)

    def export_listeners(self) -> list[tuple[str, str, list[int]]]:
        """Duplicates of the running frontends' listening sockets (the caller closes them)."""
        return self._require_engine().export_listeners()

    def export_api_socket(self) -> tuple[str, socket.socket] | None:
        """The API's `listen` setting and a duplicate of its listening socket, if it has one."""
        if self._api is None or self.config.api is None:
            return None
        return self.config.api.listen, self._api.duplicate_socket()

    def drain_node(self) -> float:
        """Leave the BGP fleet (`fastlb ctl node drain`): withdraw the virtual IPs now, let
        established connections finish within `drain_timeout`, then stop (or call
        `on_drained`). Returns the drain_timeout; the wait runs in a thread."""
        from .bgp.node import drain_node

        return drain_node(self, self._failover)

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

    def set_weight(self, backend: str, server: str, weight: int | str) -> int:
        """Set a server's weight: 0..MAX_WEIGHT, or `"N%"` of its configured (initial) weight
        like HAProxy's `set weight`. 0 takes no new connections, established ones stay.
        Returns the weight set. The core's refusals: UnknownBackendError, UnknownServerError,
        WeightOutOfRangeError."""
        if isinstance(weight, str):
            # Validate the text before looking the server up: a bad value is the first error.
            weight_from(weight, 0)
            initial = self._server_stats(backend, server).initial_weight
            absolute = weight_from(weight, initial)
        else:
            absolute = weight_from(weight, 0)
        self._require_engine().set_weight(backend, server, absolute)
        log.info("backend %s: server %s weight set to %d", backend, server, absolute)
        return absolute

    def set_state(self, backend: str, server: str, state: str) -> None:
        """`ready`, `drain` (no new connections) or `maint` (no new connections). The core's
        refusals: UnknownBackendError, UnknownServerError, UnknownStateError."""
        self._require_engine().set_state(backend, server, state)
        log.info("backend %s: server %s state set to %s", backend, server, state)

    def add_server(
        self, backend: str, name: str, address: str, weight: int = 1, backup: bool = False
    ) -> None:
        """Add a server to a running backend; it takes new connections at once (after its
        health check passes, when the backend has one).

        ConfigError names the bad field (name, address, weight); the core refuses an unknown
        backend (UnknownBackendError) and a name the backend already has (ServerExistsError).
        """
        fields = {"name": name, "address": address, "weight": weight, "backup": backup}
        try:
            server = ServerConfig.model_validate(fields)
        except ValidationError as exc:
            raise ConfigError(problems_from_pydantic(exc, fields, ServerConfig)) from None
        try:
            resolved = resolve_address(server.address)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError([("address", f"cannot resolve {address!r}: {reason}")]) from None
        engine = self._require_engine()
        core_server = {**server.model_dump(), "address": resolved}
        with self._changes:
            engine.add_server(backend, json.dumps(core_server))
            self._replace_servers(backend, lambda servers: [*servers, server])
        log.info(
            "backend %s: server %s %s weight %d%s added",
            backend,
            name,
            server.address,
            server.weight,
            " (backup)" if backup else "",
        )

    def remove_server(self, backend: str, server: str) -> None:
        """Take a server out of its backend at once; its established connections carry on
        until they close. The core's refusals: UnknownBackendError, UnknownServerError."""
        engine = self._require_engine()
        with self._changes:
            engine.remove_server(backend, server)
            self._replace_servers(backend, lambda servers: [s for s in servers if s.name != server])
        log.info("backend %s: server %s removed", backend, server)

    def reload(self, config: Config | Mapping[str, Any] | None = None) -> list[str]:
        """Apply a new configuration without dropping established connections: re-read the
        file the balancer was loaded from, or take `config`. Returns (and logs) what changed.

        An invalid configuration raises ConfigError and changes nothing, as does a change
        only a restart can apply (workers, splice). NoConfigFileError without `config` when
        the balancer was not loaded from a file.
        """
        with self._changes:
            source = None
            if config is None:
                if self._config_file is None:
                    raise NoConfigFileError(
                        "this load balancer was not loaded from a file: nothing to re-read"
                    )
                source = os.fspath(self._config_file)
                new = load_config(self._config_file)
            else:
                new = config if isinstance(config, Config) else Config.from_mapping(config)
            problems = restart_only_changes(self.config, new)
            if problems:
                raise ConfigError(problems, source=source)
            try:
                core_json = new.to_core_json()
            except ConfigError as exc:
                exc.source = source
                raise
            engine = self._engine
            if engine is not None:
                try:
                    engine.reload(core_json)
                except ValueError as exc:
                    message = f"the core refused the new configuration: {exc}"
                    raise ConfigError([("", message)], source=source) from None
            changes = describe_changes(self.config, new)
            self.config = new
        for change in changes or ["no changes"]:
            log.info("reloaded: %s", change)
        return changes

    def reopen_logs(self) -> None:
        """Reopen the access log files, after logrotate renamed them (what SIGUSR1 does to
        `fastlb serve`). Lines logged before the call end in the old files. Does nothing
        when not running."""
        engine = self._engine
        if engine is not None:
            engine.reopen_logs()
            log.info("access logs reopened")

    def require_server(self, backend: str, server: str) -> None:
        """The core's UnknownBackendError or UnknownServerError unless it has this backend and
        server."""
        self._require_engine().require_server(backend, server)

    # ------------------------------------------------------------------ observation

    def stats(self) -> dict[str, Any]:
        """A snapshot of every counter (shape: `fastlb.api.stats_models.StatsSnapshot`); after
        `stop()`, the final counters."""
        engine = self._engine or self._stopped_engine
        if engine is None:
            raise NotRunningError("the load balancer has not been started")
        stats = engine.stats()
        failover = self._failover or self._stopped_failover
        if failover is not None:
            stats["bgp" if self.config.bgp else "failover"] = failover.snapshot()
        if self._mysql_monitors is not None:
            stats["mysql_topology"] = self._mysql_monitors.snapshot()
        return stats

    def stats_snapshot(self) -> StatsSnapshot:
        """`stats()` as its typed model (`fastlb.api.stats_models.StatsSnapshot`): what
        Python code that reads the stats (metrics, health) uses instead of key lookups."""
        # Imported here: fastlb.api imports FastAPI, which an embedder may never need.
        from .api.stats_models import StatsSnapshot

        return StatsSnapshot.model_validate(self.stats())

    def mysql_switchover(self, backend: str, to: str | None = None) -> dict[str, Any]:
        """Makes `to` (default: the most advanced healthy replica) the primary of MySQL
        backend `backend`, holding writes meanwhile (see the README's "Database failover").
        Returns `{"primary", "previous", "gtid", "write_pause_seconds", ...}`. KeyError: no
        such backend or no `mysql.failover`; SwitchoverError: refused or failed."""
        monitors = self._mysql_monitors
        if monitors is None:
            raise KeyError(f"backend {backend!r} has no MySQL monitor (mysql.monitor)")
        return monitors.switchover(backend, to)

    def mysql_digests(self) -> dict[str, Any]:
        """The top query digests of each `mode: mysql` frontend, by frontend name (shape:
        README "Query digests"); after `stop()`, the final ones."""
        engine = self._engine or self._stopped_engine
        if engine is None:
            raise NotRunningError("the load balancer has not been started")
        return engine.mysql_digests()

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

    def _server_stats(self, backend: str, server: str) -> ServerStats:
        self.require_server(backend, server)
        return self.stats_snapshot().backends[backend].servers[server]

    def _replace_servers(
        self, backend: str, change: Callable[[list[ServerConfig]], list[ServerConfig]]
    ) -> None:
        """Keep self.config in step with a runtime change of `backend`'s servers."""
        backends = [
            b.model_copy(update={"servers": change(list(b.servers))}) if b.name == backend else b
            for b in self.config.backends
        ]
        self.config = self.config.model_copy(update={"backends": backends})


def _open_connections(engine: Engine) -> int:
    # Imported here, as in stats_snapshot(): fastlb.api imports FastAPI.
    from .api.stats_models import StatsSnapshot

    return StatsSnapshot.model_validate(engine.stats()).open_connections()
