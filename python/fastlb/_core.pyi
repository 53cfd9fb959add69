"""Type stubs for the native core `fastlb._core` (hand-written; stubtest checks them)."""

from collections.abc import Mapping
from typing import Any, Literal, Self, TypedDict, final

__all__ = [
    "BALANCE_ALGORITHMS",
    "CHECK_TYPES",
    "FRONTEND_MODES",
    "HTTP_PROXY_OWNED_HEADERS",
    "MAX_WEIGHT",
    "MYSQL_DIGESTS_MAX_TOP_K",
    "SERVER_ROLES",
    "SERVER_STATES",
    "SERVER_STATUSES",
    "SPLICE_MODES",
    "Engine",
    "Routing",
    "RoutingPolicy",
    "SessionView",
    "StatementClass",
    "WeightedRoundRobin",
    "__version__",
    "build_info",
    "classify_statement",
    "normalize_statement",
]

__version__: str
HTTP_PROXY_OWNED_HEADERS: list[str]
MYSQL_DIGESTS_MAX_TOP_K: int

# The core's limits and enumerations (fastlb.contract is their typed spelling; a test keeps
# the two equal).
MAX_WEIGHT: int  # a server weight is 0..MAX_WEIGHT
SERVER_STATES: tuple[str, ...]  # the operator's state: ready, drain, maint
SERVER_STATUSES: tuple[str, ...]  # UP, DOWN, DRAIN, MAINT
SERVER_ROLES: tuple[str, ...]  # MySQL: primary, replica
FRONTEND_MODES: tuple[str, ...]  # tcp, mysql, http
BALANCE_ALGORITHMS: tuple[str, ...]  # roundrobin, maglev, source
CHECK_TYPES: tuple[str, ...]  # tcp, http, mysql
SPLICE_MODES: tuple[str, ...]  # auto, always, never

class _BuildInfo(TypedDict):
    """What `build_info()` returns."""

    version: str
    commit: str  # git commit the core was built from, `-dirty` when uncommitted, or unknown
    profile: str  # cargo profile: release or debug
    features: list[str]  # enabled crate features, e.g. abi3, python
    target: str  # target triple, e.g. x86_64-unknown-linux-gnu
    rustc: str  # `rustc --version` of the compiler

def build_info() -> _BuildInfo:
    """What this build is (`fastlb version`), as recorded at compile time."""

@final
class Engine:
    """The Rust data path: per-worker tokio runtimes, listeners, balancer, relay and counters.

    `config_json` is the *core* configuration (see `fastlb.config.Config.to_core_json`):
    addresses are resolved `ip:port` strings and durations are integer milliseconds.
    Raises ValueError when the JSON does not describe a valid core configuration.

    Runtime refusals raise the classes of `fastlb.errors`: UnknownBackendError and
    UnknownServerError (KeyError), ServerExistsError, WeightOutOfRangeError,
    UnknownStateError and UnknownRoleError (ValueError).
    """

    def __new__(cls, config_json: str) -> Self: ...
    def start(self) -> None:
        """Bind every frontend and start serving. Raises OSError naming the frontend when a
        listen address cannot be bound; nothing is left listening in that case."""
    def stop(self, timeout: float) -> None:
        """Stop accepting, let established connections finish for up to `timeout` seconds,
        then close what is left. Releases the GIL while it waits. Idempotent."""
    def adopt_listeners(self, frontend: str, configured: str, fds: list[int]) -> None:
        """Before `start`: serve the frontend configured at `configured` (`ip:port`) on these
        listening sockets, handed over by the fastlb this process upgrades, instead of
        binding. Takes ownership of `fds`, even when it raises (OSError: not a listening
        TCP socket)."""
    def export_listeners(self) -> list[tuple[str, str, list[int]]]:
        """`(frontend, configured ip:port, descriptors)` for each running frontend:
        close-on-exec duplicates of its listening sockets that the caller owns and closes."""
    @property
    def running(self) -> bool: ...
    def listen_addresses(self) -> dict[str, str]:
        """Frontend name -> the bound `ip:port` (tells the real port when the config said 0)."""
    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """Set a server's weight (0..=MAX_WEIGHT). 0 takes no new connections; established
        ones stay. UnknownBackendError, UnknownServerError, WeightOutOfRangeError."""
    def set_state(self, backend: str, server: str, state: str) -> None:
        """One of SERVER_STATES: drain and maint take no new connections.
        UnknownBackendError, UnknownServerError, UnknownStateError."""
    def set_topology(
        self,
        backend: str,
        server: str,
        role: str,
        in_read_pool: bool,
        lag_seconds: float | None = None,
    ) -> None:
        """MySQL backends: the topology monitor's verdict on a server. `role` is one of
        SERVER_ROLES (else UnknownRoleError, checked first); a replica takes reads only
        while `in_read_pool`. UnknownBackendError, UnknownServerError; ValueError for a
        backend without a `mysql` section (its servers have no role)."""
    def hold_writes(self, backend: str, timeout: float) -> None:
        """MySQL backends: hold new writes (a switchover) for at most `timeout` seconds;
        held writes then get ERROR 1290 until `release_writes`."""
    def release_writes(self, backend: str) -> bool:
        """Let held writes go on to the primary of the moment; whether they were held."""
    def write_gate(self, backend: str) -> dict[str, Any]:
        """`{"held": bool, "held_seconds": float, "holds": int}`."""
    def add_server(self, backend: str, server_json: str) -> None:
        """Add a server (JSON of one core server object). ServerExistsError if the name is
        taken, UnknownBackendError, WeightOutOfRangeError; ValueError for invalid JSON."""
    def remove_server(self, backend: str, server: str) -> None:
        """Take a server out at once; its established connections carry on.
        UnknownBackendError, UnknownServerError."""
    def require_server(self, backend: str, server: str) -> None:
        """UnknownBackendError or UnknownServerError unless the core has this backend and
        server; nothing else happens."""
    def reload(self, config_json: str) -> None:
        """Apply a whole new core configuration, keeping established connections. ValueError
        (nothing changed) when it can't be applied without a restart (workers, splice)."""
    def reopen_logs(self) -> None:
        """Reopen the access log files (logrotate renamed them): each writer first finishes
        the lines already handed to it, in the old file. Never blocks."""
    def stats(self) -> dict[str, Any]:
        """A snapshot of every counter (lock-free reads); its one typed description is
        `fastlb.api.stats_models.StatsSnapshot`."""
    def mysql_digests(self) -> dict[str, Any]:
        """The top query digests of each `mode: mysql` frontend, by frontend name: `backend`,
        then (once a statement was recorded) `top_k`, `tracked`, `capacity`, `evictions` and
        `digests` (heaviest total time first); see README "Query digests"."""

@final
class WeightedRoundRobin:
    """Smooth weighted round-robin (nginx's algorithm), lock-free picks.

    Over one cycle each name is picked exactly `weight` times, interleaved (5:3:1 picks
    a,b,a,c,a,b,a,b,a ...). Weight 0 never picks that name. Weights are 0..=MAX_WEIGHT
    (else WeightOutOfRangeError); `set_weight` of an unknown name: UnknownServerError."""

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

@final
class SessionView:
    """What a MySQL session has done so far, as the routing policy reads it (immutable;
    compares by value). The default is a free session: no transaction, no pin, autocommit."""

    def __new__(
        cls,
        *,
        in_transaction: Literal["primary", "replica"] | None = None,
        pinned: bool = False,
        autocommit: bool = True,
    ) -> Self:
        """ValueError when `in_transaction` is anything but primary, replica or None."""
    @property
    def in_transaction(self) -> Literal["primary", "replica"] | None:
        """The connection a transaction is open on: everything stays there until it ends."""
    @property
    def pinned(self) -> bool:
        """Temporary tables, locks, user variables, SQL PREPARE: the primary from now on."""
    @property
    def autocommit(self) -> bool:
        """False after `SET autocommit = 0`: every statement is in a transaction, primary."""

@final
class Routing:
    """One decision of `RoutingPolicy.decide`: where, and what it was made from."""

    @property
    def target(self) -> Literal["primary", "replica"]: ...
    @property
    def rule(self) -> int | None:
        """The index in `rules` of the first user rule that matched, None when none did (a
        rule may match and still not decide: transactions, pins and state changes win)."""
    @property
    def statement(self) -> StatementClass: ...

@final
class RoutingPolicy:
    """The `mode: mysql` proxy's routing policy for one `mysql:` section: the same decision
    function and compiled user rules the proxy uses. Rules are searched anywhere in the text,
    ignoring case, `.` matching newlines; the first match wins. Order: an open transaction,
    then the session's pin and autocommit=0, then state changes (primary), then the rules
    (a replica rule doesn't move a multi-statement), then the classifier.

    `config_json` is the section in the core's form (`MysqlConfig.to_core_dict()` as JSON).
    ValueError when it isn't valid, naming a rule whose regular expression doesn't compile.
    """

    def __new__(cls, config_json: str) -> Self: ...
    def route(
        self, sql: str | bytes, session: SessionView | None = None
    ) -> Literal["primary", "replica"]:
        """Where `sql` runs for `session` (a free session when None). TypeError for anything
        but str or bytes."""
    def decide(self, sql: str | bytes, session: SessionView | None = None) -> Routing:
        """`route()` with the matching rule and the statement's classification."""

def normalize_statement(sql: str | bytes) -> tuple[str, str]:
    """A statement's query digest as the proxy counts it: (16 hex digits, normalised text)."""
