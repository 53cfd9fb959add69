"""The one typed description of the stats snapshot (`GET /api/stats`, `LoadBalancer.stats()`):
the core's counters (`src/stats/snapshot.rs`) plus what the Python speakers add (failover,
bgp, mysql_topology). `tests/integration/test_stats_contract.py` runs a real engine with
every frontend mode and fails, naming the path, for any field the core emits that is not
described here. The models still allow extra keys so that an API response never fails
because of a counter; the test is where a missing description is caught."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..contract import CheckType, FrontendMode, ServerRole, ServerState, ServerStatus


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Histogram(_Open):
    """An HDR histogram: percentiles in seconds (0.0 while empty) and cumulative buckets."""

    count: int
    sum_seconds: float
    p50: float
    p90: float
    p99: float
    p999: float
    buckets: list[tuple[float, int]] = Field(
        description="[upper bound in seconds, cumulative count]; the +Inf bucket is `count`"
    )


class CheckResult(_Open):
    # The core sends null `type` and `checked_at` while the first check is pending.
    type: CheckType | None
    status: Literal["ok", "failed", "pending"]
    last_error: str | None
    duration_seconds: float
    checked_at: float | None = Field(description="Unix time of the last check (null: none yet)")
    consecutive_successes: int
    consecutive_failures: int


class ServerStats(_Open):
    address: str
    weight: int
    initial_weight: int = Field(
        description="The weight from the configuration (what '50%' weights are relative to)"
    )
    state: ServerState = Field(description="The operator's state")
    status: ServerStatus = Field(description="All things considered: operator states win")
    health: Literal["up", "down"] = Field(description="As checks and passive observation say")
    last_change: float = Field(description="Unix time of the last status change")
    down_transitions: int = Field(description="Times the server went DOWN")
    backup: bool = Field(description="Takes traffic only while no non-backup server can")
    active: bool = Field(description="In the current schedule")
    current_connections: int
    total_connections: int
    bytes_in: int = Field(description="Client to server")
    bytes_out: int = Field(description="Server to client")
    connect_errors: int
    retries: int = Field(
        description="Failed connects to this server retried on the next server of the schedule"
    )
    check: CheckResult | None = Field(description="null without a health check")
    connect_time: Histogram
    session_time: Histogram
    mysql: ServerMysqlStats | None = None
    http: ServerHttpStats | None = Field(
        None, description="null until the server has served a mode http request"
    )


class ServerMysqlStats(_Open):
    """A server of a MySQL backend (one with a role)."""

    role: ServerRole
    in_read_pool: bool = Field(description="A replica that takes reads (replicating, no lag)")
    replication_lag_seconds: float | None = Field(description="The monitor's last measure")
    queries: int = Field(description="Statements it ran")


class BackendStats(_Open):
    current_connections: int
    total_connections: int
    bytes_in: int
    bytes_out: int
    connect_errors: int
    retries: int
    no_server_errors: int
    servers: dict[str, ServerStats]
    http: BackendHttpStats | None = Field(
        None, description="null until the backend has served a mode http request"
    )


class MysqlPoolFigures(_Open):
    """One server's pooled connections now (gauges)."""

    idle: int
    open: int = Field(description="idle and in use")


class MysqlFrontendStats(_Open):
    """A `mode: mysql` frontend's read/write splitting (docs/mysql.md)."""

    queries_primary: int = Field(description="Statements run on the primary (executions)")
    queries_replica: int = Field(description="Statements run on replicas (executions)")
    reads_on_primary: int = Field(description="Reads a replica could have served")
    causal_waits: int
    causal_timeouts: int
    no_primary_errors: int = Field(description="Writes refused (or sessions closed): no primary")
    pinned_sessions: int = Field(description="Sessions pinned to the primary now")
    sessions: int = Field(description="Sessions logged in")
    tls_sessions: int = Field(description="sessions that switched to TLS (SSLRequest)")
    auth_failures: int = Field(description="Refused logins")
    protocol_errors: int = Field(description="Connections closed for malformed packets")
    server_errors: int = Field(description="Server connections lost mid-session")
    pool_reused: int = Field(description="server connections taken idle from mysql.pool (no login)")
    pool_opened: int = Field(description="server connections opened new in a pool slot")
    pool_resets: int = Field(
        description="pooled connections reset (COM_RESET_CONNECTION) before reuse: their "
        "session changed state"
    )
    pool_waits: int = Field(description="sessions that waited: a server held max_per_server")
    pool_full_errors: int = Field(
        description="sessions refused with 1040 (Too many connections) after the connect timeout"
    )
    pool_idle: int = Field(description="gauge: idle pooled connections over the backend's servers")
    pool_open: int = Field(description="gauge: pooled connections open (idle + in use)")
    pool_by_server: dict[str, MysqlPoolFigures] = Field(
        description="the pool gauges of each server that has a pool, by server name"
    )
    pool_borrows: int = Field(
        description="server connections sessions took from mysql.pool (with multiplexing: "
        "once per borrow between statements)"
    )
    pool_returns: int = Field(description="server connections given back to the pool idle")
    pins_by_reason: dict[str, int] = Field(
        description="sessions pinned, by reason (temporary_table, lock, user_variable, "
        "sql_prepare, autocommit_off, ...: the core's names, every reason present)"
    )


class HttpResponses(_Open):
    """Responses by status class (`other`: outside 100..599)."""

    informational: int = Field(alias="1xx")
    success: int = Field(alias="2xx")
    redirection: int = Field(alias="3xx")
    client_error: int = Field(alias="4xx")
    server_error: int = Field(alias="5xx")
    other: int


class FrontendHttpStats(_Open):
    """A `mode: http` frontend's requests (docs/http.md, "Stats")."""

    requests: int
    responses: HttpResponses = Field(description="sent to clients, fastlb's own included")
    bad_requests: int = Field(description="refused as malformed or too large (400, 431, ...)")
    request_timeouts: int = Field(description="request head not complete in time (408)")
    redirects: int
    h2_connections: int
    websocket_upgrades: int
    access_log_dropped: int = Field(description="lines lost because the log writer lagged")
    request_time: Histogram = Field(description="first request byte to last response byte (Ta)")


class BackendHttpStats(_Open):
    requests: int
    responses: HttpResponses = Field(description="received from the servers")
    pool_hits: int = Field(description="requests sent on an idle pooled connection")
    pool_misses: int = Field(description="requests that needed a new server connection")
    retried_requests: int
    response_time: Histogram = Field(description="request sent to response head (Tr)")
    active_requests: int = Field(description="requests on their way to or from a server now")
    cookies_set: int = Field(description="responses that set the sticky-session cookie")


class ServerHttpStats(_Open):
    requests: int
    responses: HttpResponses
    idle_connections: int = Field(description="in the pool now, all workers together")
    response_time: Histogram
    active_requests: int = Field(
        description="requests picked for this server and not answered in full yet "
        "(what balance: leastconn weighs in HTTP mode)"
    )
    cookies_set: int = Field(
        description="responses that set the sticky-session cookie naming this server"
    )


class RefusedConnections(_Open):
    """Connections closed at accept by the frontend's firewall, per reason."""

    acl: int = Field(description="Source address not allowed by the acl")
    source_connections: int = Field(description="Source at max_connections_per_source")
    source_rate: int = Field(description="Source over connection_rate_per_source")


class GlobalStats(_Open):
    current_connections: int
    max_connections: int | None = Field(description="The global limit (null: none)")
    accept_pauses: int = Field(description="Times accepting paused at max_connections")


class FrontendStats(_Open):
    listen: str
    backend: str
    current_connections: int
    total_connections: int
    bytes_in: int
    bytes_out: int
    rejected_connections: int = Field(description="Refused at the frontend's max_connections")
    no_server_errors: int = Field(
        description="Client connections closed: no server could be reached after retries"
    )
    accept_errors: int = Field(description="accept(2) failures (the loop backs off 10 ms)")
    resource_errors: int = Field(
        description="Closed because fastlb ran out of a local resource (file descriptors, "
        "memory, ephemeral ports) connecting to a server; not counted against the server"
    )
    refused_connections: RefusedConnections
    proxy_refused: int = Field(
        description="accept_proxy: closed for a PROXY header from an untrusted peer, or a "
        "bad or slow one"
    )
    tls_handshake_failures: int = Field(description="Garbage, TLS <= 1.1, resets")
    tls_handshake_timeouts: int = Field(description="Not done within handshake_timeout")
    mode: FrontendMode
    mysql: MysqlFrontendStats | None = None
    http: FrontendHttpStats | None = Field(None, description="mode http frontends only")


class FailoverTransition(_Open):
    at: float = Field(description="Unix time")
    from_: str = Field(alias="from")
    to: Literal["initialize", "backup", "master", "fault"]
    reason: str


class FailoverStats(_Open):
    """The VRRP speaker (present with a `failover` section)."""

    state: Literal["initialize", "backup", "master", "fault"]
    interface: str
    vrid: int
    priority: int
    effective_priority: int = Field(description="0 while the node cannot serve (fault)")
    advert_interval: float
    virtual_ips: list[str]
    holds_virtual_ips: bool
    master: str | None = Field(description="The current master's address, as far as known")
    primary_address: str | None
    healthy: bool
    health_reason: str | None
    last_transition: float | None = Field(description="Unix time of the last state change")
    transitions: int
    became_master: int = Field(description="Times this node became master")
    adverts_sent: int
    adverts_received: int = Field(description="Valid advertisements received")
    invalid_adverts: int = Field(description="Packets dropped (bad checksum, TTL, addresses...)")
    send_errors: int = Field(description="Advertisements the kernel refused")
    history: list[FailoverTransition] = Field(description="The last state changes, newest first")


class BgpPeerStats(_Open):
    address: str
    as_: int = Field(alias="as")
    state: str = Field(description="BGP state: idle, connect, active, opensent, ..., established")
    bfd: str | None = Field(
        description="BFD session state (up, down, init) with `bfd: true`, else null"
    )


class BgpEvent(_Open):
    at: float = Field(description="Unix time")
    action: Literal["announce", "withdraw"]
    med: int | None
    reason: str


class BgpStats(_Open):
    """The BGP speaker (present with a `bgp` section)."""

    speaker: Literal["bird", "exabgp"]
    local_as: int
    local_address: str = Field(description="Where the sessions start; the default next hop")
    virtual_ips: list[str] = Field(description="The prefixes this node announces while healthy")
    bfd: bool = Field(description="BFD with the peers (BIRD)")
    state: Literal["announced", "withdrawn", "draining"]
    health: Literal["up", "degraded", "down"]
    health_reason: str
    announced: list[str] = Field(description="Prefixes announced now")
    withdrawn: list[str] = Field(description="Prefixes withdrawn now")
    announced_med: int | None
    draining: bool = Field(description="The node drains (`ctl node drain`)")
    speaker_pid: int | None = Field(description="The speaker daemon's process id, while it runs")
    peers: list[BgpPeerStats]
    announcements: int = Field(description="Announcements (and MED changes) made")
    withdrawals: int
    speaker_restarts: int = Field(description="Times the speaker daemon died and was restarted")
    history: list[BgpEvent] = Field(
        description="The last announcements and withdrawals, newest first"
    )


class MysqlFailoverEvent(_Open):
    kind: Literal[
        "failover_started",
        "promoted",
        "switchover_started",
        "switchover_failed",
        "failover_failed",
        "fenced",
        "rejoined",
        "diverged",
    ]
    at: float = Field(description="Unix time")
    server: str | None
    message: str
    gtid: str | None = Field(description="The GTID position the event is about, when known")


class MysqlWriteHold(_Open):
    held: bool = Field(description="New writes are held now (a switchover is under way)")
    held_seconds: float = Field(description="Seconds writes were held, in all")
    holds: int = Field(description="Times writes were held")


class MysqlFailoverState(_Open):
    mode: Literal["manual", "auto"]
    busy: bool = Field(description="A switchover or failover is running")
    kept_out: list[str] = Field(description="Former primaries fenced out of the pool")
    diverged: list[str] = Field(
        default=[], description="Those of kept_out with transactions the primary never had"
    )
    write_hold: MysqlWriteHold | None = Field(
        default=None, description="The core's write gate of this backend (switchover holds)"
    )
    failovers_total: int
    switchovers_total: int
    write_unavailable_seconds: float


class MysqlTopology(_Open):
    """A MySQL backend's topology monitor: its latest decision (mysql/topology.py), and
    with `mysql.failover` the failover events (newest last, at most 100) and counters."""

    primary: str | None
    read_pool: list[str]
    conflict: str | None = None
    failed_over: bool = False
    events: list[MysqlFailoverEvent] | None = None
    failover: MysqlFailoverState | None = None


class StatsSnapshot(_Open):
    uptime_seconds: float
    global_: GlobalStats = Field(alias="global")
    frontends: dict[str, FrontendStats]
    backends: dict[str, BackendStats]
    failover: FailoverStats | None = None
    bgp: BgpStats | None = None
    mysql_topology: dict[str, MysqlTopology | None] | None = None

    def open_connections(self) -> int:
        """Client connections open now, all frontends together (what a drain waits for)."""
        return sum(frontend.current_connections for frontend in self.frontends.values())
