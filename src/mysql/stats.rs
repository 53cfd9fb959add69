//! Read/write splitting counters of a `mode: mysql` frontend.

use serde::Serialize;
use std::collections::BTreeMap;
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
    /// `mysql.pool`: server connections taken idle from the pool (no login).
    pub pool_reused: AtomicU64,
    /// ... opened new in a pool slot.
    pub pool_opened: AtomicU64,
    /// ... reset (COM_RESET_CONNECTION) before going back to the pool.
    pub pool_resets: AtomicU64,
    /// Sessions that waited for a connection: the server held `max_per_server`.
    pub pool_waits: AtomicU64,
    /// ... and got "Too many connections" (1040) after the connect timeout.
    pub pool_full_errors: AtomicU64,
    /// Server connections a session took from its server's pool (reused or opened new);
    /// with `multiplexing`, once per borrow between statements.
    pub pool_borrows: AtomicU64,
    /// ... and gave back to the pool, idle and fit for another session.
    pub pool_returns: AtomicU64,
    /// Why sessions were pinned (one count per pin, by `PinReason`).
    pub pins: [AtomicU64; PinReason::ALL.len()],
}

/// Why a session keeps its server connection(s) (and, for a pin to the primary, its
/// routing): state that lives on one server connection and that fastlb can't reproduce on
/// another by replaying the session's SET/USE log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinReason {
    /// CREATE TEMPORARY TABLE: the table exists on that connection only.
    TemporaryTable,
    /// GET_LOCK(), LOCK TABLES, FLUSH TABLES WITH READ LOCK: locks belong to a connection.
    Lock,
    /// `SET @v = ...`, `SELECT ... INTO @v`, `@v := ...`: a value computed where it ran.
    UserVariable,
    /// SQL-level PREPARE / EXECUTE / DEALLOCATE (binary prepared statements are re-prepared).
    SqlPrepare,
    /// autocommit=0: every statement is part of a transaction that stays on its connection.
    AutocommitOff,
    /// COM_STMT_EXECUTE with a cursor: its rows are fetched from that connection.
    Cursor,
    /// CALL with multiplexing on: a procedure may leave anything on its connection.
    Call,
    /// A replica refused to replay the session's state: the session stays on the primary.
    ReplayRefused,
    /// More state changes than the replay log keeps.
    StateOverflow,
    /// Anything else the classifier pins (HANDLER, SET of a value computed in the session,
    /// a compound statement, ...).
    Other,
}

impl PinReason {
    pub const ALL: [PinReason; 10] = [
        PinReason::TemporaryTable,
        PinReason::Lock,
        PinReason::UserVariable,
        PinReason::SqlPrepare,
        PinReason::AutocommitOff,
        PinReason::Cursor,
        PinReason::Call,
        PinReason::ReplayRefused,
        PinReason::StateOverflow,
        PinReason::Other,
    ];

    /// Its name in the stats (`pins_by_reason`) and the metrics' `reason` label.
    pub fn name(self) -> &'static str {
        match self {
            PinReason::TemporaryTable => "temporary_table",
            PinReason::Lock => "lock",
            PinReason::UserVariable => "user_variable",
            PinReason::SqlPrepare => "sql_prepare",
            PinReason::AutocommitOff => "autocommit_off",
            PinReason::Cursor => "cursor",
            PinReason::Call => "call",
            PinReason::ReplayRefused => "replay_refused",
            PinReason::StateOverflow => "state_overflow",
            PinReason::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    pub pool_reused: u64,
    pub pool_opened: u64,
    pub pool_resets: u64,
    pub pool_waits: u64,
    pub pool_full_errors: u64,
    /// Gauges over the backend's servers: pooled connections idle, and open (idle + in use).
    pub pool_idle: u64,
    pub pool_open: u64,
    /// The same gauges for each server that has a pool, by server name.
    pub pool_by_server: BTreeMap<String, crate::mysql::pool::Figures>,
    pub pool_borrows: u64,
    pub pool_returns: u64,
    /// Pins by `PinReason::name`, every reason present (zeros included).
    pub pins_by_reason: BTreeMap<&'static str, u64>,
}

impl MysqlCounters {
    /// The counters of a frontend whose backend is `backend` (the pool's gauges are the
    /// backend's).
    pub fn snapshot(&self, backend: &str) -> MysqlSnapshot {
        let pool_by_server = crate::mysql::pool::figures(backend);
        let pool_idle = pool_by_server.values().map(|figures| figures.idle).sum();
        let pool_open = pool_by_server.values().map(|figures| figures.open).sum();
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
            pool_reused: read(&self.pool_reused),
            pool_opened: read(&self.pool_opened),
            pool_resets: read(&self.pool_resets),
            pool_waits: read(&self.pool_waits),
            pool_full_errors: read(&self.pool_full_errors),
            pool_idle,
            pool_open,
            pool_by_server,
            pool_borrows: read(&self.pool_borrows),
            pool_returns: read(&self.pool_returns),
            pins_by_reason: PinReason::ALL
                .iter()
                .map(|&reason| (reason.name(), read(&self.pins[reason.index()])))
                .collect(),
        }
    }

    /// Counts a session pinned for `reason`.
    pub fn count_pin(&self, reason: PinReason) {
        crate::stats::bump(&self.pins[reason.index()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter_and_name() {
        let counters = MysqlCounters::default();
        for (position, reason) in PinReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), position);
            counters.count_pin(reason);
        }
        counters.count_pin(PinReason::Lock);
        let pins = counters.snapshot("nobody").pins_by_reason;
        assert_eq!(pins.len(), PinReason::ALL.len());
        assert_eq!(pins["lock"], 2);
        assert_eq!(pins["temporary_table"], 1);
    }
}
