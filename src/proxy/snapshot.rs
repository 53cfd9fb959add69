//! Building a stats snapshot from the engine's live counters (relaxed loads only).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use super::engine::Engine;
use crate::balancer::{Backend, Server};
use crate::config::{CheckKind, FrontendMode};
use crate::mysql::topology::MysqlServer;
use crate::stats::{
    read, BackendHttpSnapshot, BackendSnapshot, CheckSnapshot, FrontendSnapshot, GlobalSnapshot,
    RefusedSnapshot, ServerMysqlSnapshot, ServerSnapshot, StatsSnapshot,
};

impl Engine {
    /// Reads every counter; the data path is never paused.
    pub fn snapshot(&self) -> StatsSnapshot {
        let state = self.lock();
        let frontends = state
            .frontends
            .iter()
            .map(|l| {
                let f = &l.frontend;
                let addresses = f.addresses();
                let snapshot = FrontendSnapshot {
                    listen: addresses.bound.unwrap_or(addresses.configured).to_string(),
                    backend: f.backend().name.clone(),
                    traffic: f.stats.traffic.snapshot(),
                    rejected_connections: read(&f.stats.rejected),
                    no_server_errors: read(&f.stats.no_server),
                    accept_errors: read(&f.stats.accept_errors),
                    resource_errors: read(&f.stats.resource_errors),
                    refused_connections: RefusedSnapshot {
                        acl: read(&f.stats.refused_acl),
                        source_connections: read(&f.stats.refused_source_connections),
                        source_rate: read(&f.stats.refused_source_rate),
                    },
                    proxy_refused: read(&f.stats.proxy_refused),
                    tls_handshake_failures: read(&f.stats.tls_handshake_failures),
                    tls_handshake_timeouts: read(&f.stats.tls_handshake_timeouts),
                    mode: f.mode.as_str(),
                    mysql: (f.mode == FrontendMode::Mysql)
                        .then(|| f.stats.mysql.snapshot(&f.backend().name)),
                    http: (f.mode == FrontendMode::Http)
                        .then(|| f.stats.http.snapshot(f.access_log_dropped())),
                };
                (f.name.clone(), snapshot)
            })
            .collect::<BTreeMap<_, _>>();
        let backends = state
            .backends
            .values()
            .map(|b| {
                let no_server = frontends
                    .values()
                    .filter(|f| f.backend == b.name)
                    .map(|f| f.no_server_errors)
                    .sum();
                let members = b.servers();
                let http = BackendHttpSnapshot::from_servers(members.iter().map(|s| &s.stats.http));
                (
                    b.name.clone(),
                    BackendSnapshot::from_servers(servers(b), no_server, http),
                )
            })
            .collect();
        StatsSnapshot {
            uptime_seconds: self.created.elapsed().as_secs_f64(),
            global: GlobalSnapshot {
                current_connections: self.global.current(),
                max_connections: self.global.max(),
                accept_pauses: self.global.pauses(),
            },
            frontends,
            backends,
        }
    }
}

fn servers(backend: &Backend) -> BTreeMap<String, ServerSnapshot> {
    let checked = backend.settings().health_check.as_ref().map(|c| c.kind);
    backend
        .active_servers()
        .into_iter()
        .map(|(s, active)| (s.name.clone(), server(&s, active, checked)))
        .collect()
}

fn server(s: &Arc<Server>, active: bool, checked: Option<CheckKind>) -> ServerSnapshot {
    ServerSnapshot {
        address: s.address.to_string(),
        weight: s.weight(),
        initial_weight: s.initial_weight(),
        state: s.state().as_str(),
        status: s.status().as_str(),
        health: if s.is_healthy() { "up" } else { "down" },
        last_change: s.last_change(),
        down_transitions: s.down_transitions(),
        backup: s.backup,
        active,
        traffic: s.stats.traffic.snapshot(),
        connect_errors: read(&s.stats.connect_errors),
        retries: read(&s.stats.retries),
        check: checked.map(|kind| check(s, kind)),
        connect_time: s.stats.connect_time.snapshot(),
        session_time: s.stats.session_time.snapshot(),
        mysql: s.topology().and_then(|topology| {
            Some(ServerMysqlSnapshot {
                role: topology.role()?.as_str(),
                in_read_pool: topology.in_read_pool(),
                replication_lag_seconds: topology.lag_seconds(),
                queries: read(&s.stats.queries),
            })
        }),
        http: s.stats.http.snapshot(),
    }
}

/// The server's last check results under the backend's current check `kind`.
fn check(s: &Server, kind: CheckKind) -> CheckSnapshot {
    let record = s.checks();
    CheckSnapshot {
        kind: kind.as_str(),
        status: record.status,
        last_error: record.last_error,
        duration_seconds: record.duration.as_secs_f64(),
        checked_at: record
            .checked_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
        consecutive_successes: record.successes,
        consecutive_failures: record.failures,
    }
}

/// A `mode: mysql` frontend's query digests (`GET /api/mysql/digests`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrontendDigests {
    pub backend: String,
    /// None until the frontend's first statement (or with `mysql.digests.enabled: false`).
    #[serde(flatten)]
    pub table: Option<crate::mysql::digest::TableSnapshot>,
}

impl Engine {
    /// The top digests of every `mode: mysql` frontend, by frontend name. Copies each
    /// worker's sketch under its shard lock (a few microseconds per shard).
    pub fn mysql_digests(&self) -> BTreeMap<String, FrontendDigests> {
        let state = self.lock();
        state
            .frontends
            .iter()
            .filter(|l| l.frontend.mode == FrontendMode::Mysql)
            .map(|l| {
                let f = &l.frontend;
                let digests = FrontendDigests {
                    backend: f.backend().name.clone(),
                    table: f.stats.mysql.digests.snapshot(),
                };
                (f.name.clone(), digests)
            })
            .collect()
    }
}
