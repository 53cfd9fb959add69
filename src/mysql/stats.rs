//! Read/write splitting counters of a `mode: mysql` frontend.

use serde::Serialize;
use std::sync::atomic::AtomicU64;

use crate::stats::read;

#[derive(Default)]
pub struct MysqlCounters {
    /// Statements (queries and prepared-statement executions) sent to the primary.
    pub queries_primary: AtomicU64,
    /// Statements sent to a replica.
    pub queries_replica: AtomicU64,
    /// Reads a replica could have served that went to the primary: no replica usable, or
    /// none caught up with the session's last write in time.
    pub reads_on_primary: AtomicU64,
    /// Reads that waited for a replica to apply the session's last write.
    pub causal_waits: AtomicU64,
    /// ... of which the replica did not catch up in time (served by the primary).
    pub causal_timeouts: AtomicU64,
    /// Writes refused (or sessions closed) because no primary was available.
    pub no_primary: AtomicU64,
    /// Sessions pinned to the primary now (temporary tables, locks, user variables, ...).
    pub pinned_sessions: AtomicU64,
    /// Sessions that logged in.
    pub sessions: AtomicU64,
    /// ... of which over TLS (the client's SSLRequest).
    pub tls_sessions: AtomicU64,
    /// Logins refused (unknown user, wrong password, unsupported client).
    pub auth_failures: AtomicU64,
    /// Connections closed for malformed or oversized packets.
    pub protocol_errors: AtomicU64,
    /// Server connections lost in the middle of a session.
    pub server_errors: AtomicU64,
    /// The heaviest statements by total time (`mysql.digests`).
    pub digests: crate::mysql::digest::DigestStore,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MysqlSnapshot {
    pub queries_primary: u64,
    pub queries_replica: u64,
    pub reads_on_primary: u64,
    pub causal_waits: u64,
    pub causal_timeouts: u64,
    pub no_primary_errors: u64,
    pub pinned_sessions: u64,
    pub sessions: u64,
    pub tls_sessions: u64,
    pub auth_failures: u64,
    pub protocol_errors: u64,
    pub server_errors: u64,
}

impl MysqlCounters {
    pub fn snapshot(&self) -> MysqlSnapshot {
        MysqlSnapshot {
            queries_primary: read(&self.queries_primary),
            queries_replica: read(&self.queries_replica),
            reads_on_primary: read(&self.reads_on_primary),
            causal_waits: read(&self.causal_waits),
            causal_timeouts: read(&self.causal_timeouts),
            no_primary_errors: read(&self.no_primary),
            pinned_sessions: read(&self.pinned_sessions),
            sessions: read(&self.sessions),
            tls_sessions: read(&self.tls_sessions),
            auth_failures: read(&self.auth_failures),
            protocol_errors: read(&self.protocol_errors),
            server_errors: read(&self.server_errors),
        }
    }
}
