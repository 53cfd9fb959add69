"""Type stubs for the native core `fastlb._core` (hand-written; stubtest checks them)."""

from collections.abc import Mapping
from typing import Any, Literal, Self, final

__all__ = [
    "Engine",
    "StatementClass",
    "WeightedRoundRobin",
    "__version__",
    "classify_statement",
]

__version__: str

@final
class Engine:
    """The Rust data path: per-worker tokio runtimes, listeners, balancer, relay and counters.

    `config_json` is the *core* configuration (see `fastlb.config.Config.to_core_json`):
    addresses are resolved `ip:port` strings and durations are integer milliseconds.
    Raises ValueError when the JSON does not describe a valid core configuration.
    """

    def __new__(cls, config_json: str) -> Self: ...
    def start(self) -> None:
        """Bind every frontend and start serving. Raises OSError naming the frontend when a
        listen address cannot be bound; nothing is left listening in that case."""
    def stop(self, timeout: float) -> None:
        """Stop accepting, let established connections finish for up to `timeout` seconds,
        then close what is left. Releases the GIL while it waits. Idempotent."""
    @property
    def running(self) -> bool: ...
    def listen_addresses(self) -> dict[str, str]:
        """Frontend name -> the bound `ip:port` (tells the real port when the config said 0)."""
    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """Set a server's weight (0..=256). 0 takes no new connections; established ones stay.
        KeyError for an unknown backend/server, ValueError for a weight out of range."""
    def set_state(self, backend: str, server: str, state: str) -> None:
        """`ready` | `drain` | `maint`: drain and maint take no new connections."""
    def set_topology(
        self,
        backend: str,
        server: str,
        role: str,
        in_read_pool: bool,
        lag_seconds: float | None = None,
    ) -> None:
        """MySQL backends: the topology monitor's verdict on a server. `role` is `primary`
        or `replica`; a replica takes reads only while `in_read_pool`."""
    def add_server(self, backend: str, server_json: str) -> None:
        """Add a server (JSON of one core server object). ValueError if the name is taken,
        KeyError for an unknown backend."""
    def remove_server(self, backend: str, server: str) -> None:
        """Take a server out at once; its established connections carry on."""
    def reload(self, config_json: str) -> None:
        """Apply a whole new core configuration, keeping established connections. ValueError
        (nothing changed) when it can't be applied without a restart (workers, splice)."""
    def reopen_logs(self) -> None:
        """Reopen the access log files (logrotate renamed them): each writer first finishes
        the lines already handed to it, in the old file. Never blocks."""
    def stats(self) -> dict[str, Any]:
        """A snapshot of every counter (lock-free reads); see README "Stats" for the shape."""

@final
class WeightedRoundRobin:
    """Smooth weighted round-robin (nginx's algorithm), lock-free picks.

    Over one cycle each name is picked exactly `weight` times, interleaved (5:3:1 picks
    a,b,a,c,a,b,a,b,a ...). Weight 0 never picks that name. Weights are 0..=256."""

    def __new__(cls, weights: Mapping[str, int]) -> Self: ...
    def pick(self) -> str | None:
        """The next name, or None when every weight is 0."""
    def set_weight(self, name: str, weight: int) -> None: ...
    def weights(self) -> dict[str, int]: ...
    def cycle(self) -> list[str]:
        """One full cycle of the current schedule (its length is the sum of the weights
        divided by their greatest common divisor)."""

@final
class StatementClass:
    """What `classify_statement` decided about one statement text (immutable; compares by
    value)."""

    @property
    def kind(
        self,
    ) -> Literal[
        "read",
        "write",
        "begin",
        "begin_read_only",
        "end",
        "set_autocommit",
        "session_state",
        "call",
        "other",
    ]:
        """read: SELECT/SHOW/DESCRIBE/EXPLAIN...; write: data, DDL, anything unknown, a mix
        of statements; begin / begin_read_only / end: transaction control; set_autocommit:
        `SET autocommit = ...` alone; session_state: SET/USE to replay on every connection;
        call: CALL; other: runs on the primary without writing (SAVEPOINT, LOCK, PREPARE...)."""
    @property
    def autocommit(self) -> bool | None:
        """The value set by a `set_autocommit` statement; None for every other kind."""
    @property
    def route(self) -> Literal["replica", "primary"]:
        """replica only for side-effect-free reads and START TRANSACTION READ ONLY."""
    @property
    def pins_primary(self) -> bool:
        """The session must stay on the primary from now on (temporary table, lock, user
        variable, SQL-level prepared statement...)."""
    @property
    def multi_statement(self) -> bool:
        """More than one statement in the text."""

def classify_statement(sql: str | bytes) -> StatementClass:
    """Classify one statement text (what a client sends in COM_QUERY / COM_STMT_PREPARE) with
    the proxy's rules. TypeError for anything but str or bytes; never fails on content."""
