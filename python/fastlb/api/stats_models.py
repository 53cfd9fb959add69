"""The shape of `GET /api/stats` (docs/core-interface.md, "Stats snapshot") for the OpenAPI
description. Every model allows extra keys: a newer core's counters pass through unchanged."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
    type: Literal["tcp", "http", "mysql"] | None
    status: Literal["ok", "failed", "pending"]
    last_error: str | None
    duration_seconds: float
    checked_at: float | None = Field(description="Unix time of the last check (null: none yet)")
    consecutive_successes: int
    consecutive_failures: int


class ServerStats(_Open):
    address: str
    weight: int
    initial_weight: int
    state: Literal["ready", "drain", "maint"]
    status: Literal["UP", "DOWN", "DRAIN", "MAINT"]
    health: Literal["up", "down"]
    last_change: float = Field(description="Unix time of the last status change")
    down_transitions: int
    backup: bool
    active: bool = Field(description="In the current schedule")
    current_connections: int
    total_connections: int
    bytes_in: int = Field(description="Client to server")
    bytes_out: int = Field(description="Server to client")
    connect_errors: int
    retries: int
    check: CheckResult | None
    connect_time: Histogram
    session_time: Histogram
    mysql: ServerMysqlStats | None = None
    http: ServerHttpStats | None = Field(
        None, description="null until the server has served a mode http request"
    )


class ServerMysqlStats(_Open):
    role: str
    in_read_pool: bool
    replication_lag_seconds: float | None
    queries: int


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


class MysqlFrontendStats(_Open):
    queries_primary: int
    queries_replica: int
    reads_on_primary: int
    causal_waits: int
    causal_timeouts: int
    no_primary_errors: int
    pinned_sessions: int
    sessions: int
    tls_sessions: int = Field(description="sessions that switched to TLS (SSLRequest)")
    auth_failures: int
    protocol_errors: int
    server_errors: int
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


class ServerHttpStats(_Open):
    requests: int
    responses: HttpResponses
    idle_connections: int = Field(description="in the pool now, all workers together")
    response_time: Histogram


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
    rejected_connections: int
    no_server_errors: int
    accept_errors: int
    resource_errors: int
    refused_connections: RefusedConnections
    proxy_refused: int = Field(
        description="accept_proxy: closed for a PROXY header from an untrusted peer, or a "
        "bad or slow one"
    )
    tls_handshake_failures: int
    tls_handshake_timeouts: int
    mode: str = "tcp"
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
    history: list[FailoverTransition] = Field(description="The last state changes, newest first")


class BgpPeerStats(_Open):
    address: str
    as_: int = Field(alias="as")
    state: str = Field(description="BGP state: idle, connect, active, opensent, ..., established")


class BgpEvent(_Open):
    at: float = Field(description="Unix time")
    action: Literal["announce", "withdraw"]
    med: int | None
    reason: str


class BgpStats(_Open):
    """The BGP speaker (present with a `bgp` section)."""

    speaker: Literal["bird", "exabgp"]
    state: Literal["announced", "withdrawn", "draining"]
    health: Literal["up", "degraded", "down"]
    health_reason: str
    announced: list[str] = Field(description="Prefixes announced now")
    withdrawn: list[str] = Field(description="Prefixes withdrawn now")
    announced_med: int | None
    peers: list[BgpPeerStats]
    history: list[BgpEvent] = Field(
        description="The last announcements and withdrawals, newest first"
    )


class StatsSnapshot(_Open):
    uptime_seconds: float
    global_: GlobalStats = Field(alias="global")
    frontends: dict[str, FrontendStats]
    backends: dict[str, BackendStats]
    failover: FailoverStats | None = None
    bgp: BgpStats | None = None
