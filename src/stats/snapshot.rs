//! Point-in-time copies of every counter. Python's one description of this shape is
//! `python/fastlb/api/stats_models.py` (a test walks a real snapshot against it).

use serde::Serialize;
use std::collections::BTreeMap;

use super::histogram::HistogramSnapshot;
use crate::health::CheckStatus;
pub use crate::http::stats::{
    BackendHttpSnapshot, HttpFrontendSnapshot, ResponsesSnapshot, ServerHttpSnapshot,
};
pub use crate::mysql::stats::MysqlSnapshot;

#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub uptime_seconds: f64,
    pub global: GlobalSnapshot,
    pub frontends: BTreeMap<String, FrontendSnapshot>,
    pub backends: BTreeMap<String, BackendSnapshot>,
}

/// Connections and bytes of a frontend, a backend or a server (serialised inline).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrafficSnapshot {
    pub current_connections: u64,
    pub total_connections: u64,
    /// Client -> server.
    pub bytes_in: u64,
    /// Server -> client.
    pub bytes_out: u64,
}

impl std::iter::Sum for TrafficSnapshot {
    fn sum<I: Iterator<Item = Self>>(parts: I) -> Self {
        parts.fold(TrafficSnapshot::default(), |a, b| TrafficSnapshot {
            current_connections: a.current_connections + b.current_connections,
            total_connections: a.total_connections + b.total_connections,
            bytes_in: a.bytes_in + b.bytes_in,
            bytes_out: a.bytes_out + b.bytes_out,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FrontendSnapshot {
    pub listen: String,
    pub backend: String,
    #[serde(flatten)]
    pub traffic: TrafficSnapshot,
    pub rejected_connections: u64,
    pub no_server_errors: u64,
    pub accept_errors: u64,
    pub resource_errors: u64,
    /// Connections closed at accept by the firewall, by reason.
    pub refused_connections: RefusedSnapshot,
    /// `accept_proxy`: untrusted peers and bad or late PROXY headers.
    pub proxy_refused: u64,
    pub tls_handshake_failures: u64,
    pub tls_handshake_timeouts: u64,
    /// tcp, mysql or http.
    pub mode: &'static str,
    /// Read/write splitting counters (mysql frontends only).
    pub mysql: Option<MysqlSnapshot>,
    /// Requests and responses (http frontends only).
    pub http: Option<HttpFrontendSnapshot>,
}

/// Refusals at accept per reason (`rejected_connections` counts `max_connections`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RefusedSnapshot {
    pub acl: u64,
    pub source_connections: u64,
    pub source_rate: u64,
}

/// The process-wide connection limit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GlobalSnapshot {
    pub current_connections: u64,
    /// `null`: no limit.
    pub max_connections: Option<u64>,
    /// Times accepting paused because `max_connections` was reached.
    pub accept_pauses: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendSnapshot {
    #[serde(flatten)]
    pub traffic: TrafficSnapshot,
    pub connect_errors: u64,
    pub retries: u64,
    pub no_server_errors: u64,
    /// Requests from http frontends; `None` when no server of it served one.
    pub http: Option<BackendHttpSnapshot>,
    pub servers: BTreeMap<String, ServerSnapshot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerSnapshot {
    pub address: String,
    pub weight: u32,
    pub initial_weight: u32,
    /// The operator's state: ready, drain, maint.
    pub state: &'static str,
    /// UP, DOWN, DRAIN or MAINT.
    pub status: &'static str,
    /// up or down, as the health checks (and passive observation) say.
    pub health: &'static str,
    /// Unix time of the last status change.
    pub last_change: f64,
    pub down_transitions: u64,
    pub backup: bool,
    pub active: bool,
    #[serde(flatten)]
    pub traffic: TrafficSnapshot,
    pub connect_errors: u64,
    pub retries: u64,
    /// None without a health check.
    pub check: Option<CheckSnapshot>,
    pub connect_time: HistogramSnapshot,
    pub session_time: HistogramSnapshot,
    /// Servers of MySQL backends: role, read pool, lag, statements run.
    pub mysql: Option<ServerMysqlSnapshot>,
    /// Requests from http frontends and the connection pool; `None` when it served none.
    pub http: Option<ServerHttpSnapshot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerMysqlSnapshot {
    /// primary or replica.
    pub role: &'static str,
    /// A replica that takes reads (replicating, not lagging).
    pub in_read_pool: bool,
    /// As the topology monitor last measured it; None when unknown.
    pub replication_lag_seconds: Option<f64>,
    pub queries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckSnapshot {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: CheckStatus,
    pub last_error: Option<String>,
    pub duration_seconds: f64,
    /// Unix time of the last check, None before the first one.
    pub checked_at: Option<f64>,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
}

impl BackendSnapshot {
    /// Backend totals are the sums of its servers' counters (no extra atomics on the data
    /// path); `no_server_errors` comes from the frontends that use this backend.
    pub fn from_servers(
        servers: BTreeMap<String, ServerSnapshot>,
        no_server_errors: u64,
        http: Option<BackendHttpSnapshot>,
    ) -> Self {
        let sum = |f: fn(&ServerSnapshot) -> u64| servers.values().map(f).sum();
        BackendSnapshot {
            http,
            traffic: servers.values().map(|s| s.traffic).sum(),
            connect_errors: sum(|s| s.connect_errors),
            retries: sum(|s| s.retries),
            no_server_errors,
            servers,
        }
    }
}
