//! Multiplexing (`mysql.pool.multiplexing`): outside a transaction and without a pin, a
//! session gives its server connections back to the pool between statements and borrows
//! one again (state replayed by diff, `replay.rs`) for its next statement.
//!
//! What a connection keeps that a session may ask about right after a statement
//! (LAST_INSERT_ID(), ROW_COUNT(), FOUND_ROWS(), SHOW WARNINGS, GET DIAGNOSTICS):
//! - LAST_INSERT_ID() is the session's, tracked from OK packets and set on a borrowed
//!   connection that has another value (`DO LAST_INSERT_ID(n)`): right at any distance;
//! - a statement that left warnings or an error, changed rows, or may have left anything
//!   else (unknown statements, multi-statements, reads bound to the primary such as
//!   SQL_CALC_FOUND_ROWS) keeps its connection until the session's next statement has run
//!   (given back before it when another session waits and it doesn't ask about them);
//! - every other statement's connection is held `HOLD` idle before it goes back (sooner if
//!   another session waits for that server's pool), so back-to-back statements skip the
//!   borrow, and FOUND_ROWS() right after a plain SELECT sees its count.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::response::Outcome;
use super::upstream::{Upstream, UpstreamError};
use super::Session;
use crate::mysql::classify::{Classification, Kind};
use crate::mysql::pool::ServerPool;
use crate::mysql::Role;

/// How long a connection stays with an idle session after a statement. NOTE: 250 ms covers
/// an application's back-to-back statements (a few ms apart) and a human's typing is
/// slower than any borrow; a waiting session cuts it short.
pub const HOLD: Duration = Duration::from_millis(250);

impl Session {
    /// Whether this session gives its connections back between statements.
    pub(super) fn multiplexing(&self) -> bool {
        let pool = &self.settings.config.pool;
        pool.enabled && pool.multiplexing
    }

    /// Notes what a client statement on `which` left there: `tracked_only` when it left
    /// nothing but state fastlb tracks (replayed entries, LAST_INSERT_ID, prepared
    /// statements by connection serial), and whether the next statement may ask about it.
    pub(super) fn after_command(
        &mut self,
        which: Role,
        was_dirty: bool,
        class: Option<Classification>,
        text: Option<&[u8]>,
        outcome: &Outcome,
    ) {
        if !self.multiplexing() {
            return;
        }
        let recorded = self.state.recorded_by_command();
        let tracked_only = class.is_none_or(|class| leaves_tracked_state_only(class, recorded));
        if outcome.last_insert_id != 0 {
            self.last_insert_id = outcome.last_insert_id;
        }
        let session_insert_id = self.last_insert_id;
        // Clean again only when nothing is left that another session could see: no pin
        // (its state isn't all in the log: the log overflowed, or a pinning statement), and no
        // warnings or error (SHOW WARNINGS / GET DIAGNOSTICS would show them to the next one).
        let leaves_nothing = tracked_only
            && !was_dirty
            && !self.pinned
            && outcome.error.is_none()
            && outcome.warnings == 0;
        if let Some(upstream) = self.connections.get_mut(which) {
            if leaves_nothing {
                upstream.dirty = false;
            }
            if outcome.last_insert_id != 0 {
                upstream.last_insert_id = session_insert_id;
            }
        }
        // ROW_COUNT() matters after writes (after a SET it is 0 anywhere).
        let wrote = outcome.affected_rows > 0 && class.is_none_or(|c| c.kind == Kind::Write);
        let results = outcome.error.is_some()
            || outcome.warnings > 0
            || wrote
            || class.is_some_and(|class| {
                class.multi_statement
                    || class.kind == Kind::Other
                    // FOUND_ROWS() counts for SQL_CALC_FOUND_ROWS, which the classifier
                    // sends to the primary (looked for there only: rare).
                    || (class.kind == Kind::Read
                        && class.route == Role::Primary
                        && text.is_some_and(|sql| mentions(sql, b"SQL_CALC_FOUND_ROWS")))
            });
        self.kept_for_next = results.then_some(which);
    }

    /// A command that left only tracked state (a prepare, a statement closed or reset):
    /// the connection stays as clean as it was.
    pub(super) fn settle(&mut self, which: Role, was_dirty: bool) {
        if self.multiplexing() && !was_dirty {
            if let Some(upstream) = self.connections.get_mut(which) {
                upstream.dirty = false;
            }
        }
    }

    /// Sets LAST_INSERT_ID() on a borrowed connection to the session's (another session's
    /// value must not show, and this session's must).
    pub(super) async fn sync_insert_id(
        &self,
        upstream: &mut Upstream,
    ) -> Result<(), UpstreamError> {
        if !self.multiplexing() || upstream.last_insert_id == self.last_insert_id {
            return Ok(());
        }
        let sql = format!("DO LAST_INSERT_ID({})", self.last_insert_id);
        super::replay::refused_if_error(upstream.query(sql.as_bytes()).await?)?;
        upstream.last_insert_id = self.last_insert_id;
        Ok(())
    }

    /// The connection on `role`'s side may go back to its pool now.
    fn releasable(&self, role: Role) -> Option<Arc<ServerPool<Upstream>>> {
        if self.pinned || !self.autocommit || self.kept_for_next == Some(role) {
            return None;
        }
        let upstream = self.connections.get(role)?;
        if upstream.in_transaction() || upstream.in_flight {
            return None;
        }
        super::pooled::pool_of(upstream)
    }

    /// Waits for the client's next command (or its leaving, or a KILL), giving the
    /// connections it may release back after `HOLD`, or at once when another session waits
    /// for their server. Returns as soon as a byte of the next command is here.
    pub(super) async fn idle_between_commands(&mut self) {
        if !self.multiplexing() {
            return;
        }
        let handle = self.registration.0.clone();
        loop {
            let pools: Vec<(Role, Arc<ServerPool<Upstream>>)> = [Role::Primary, Role::Replica]
                .into_iter()
                .filter_map(|role| self.releasable(role).map(|pool| (role, pool)))
                .collect();
            if pools.is_empty() || !self.client.buffered().is_empty() {
                return;
            }
            // Whether the client stayed idle for the whole hold (rather than another
            // session wanting the connections sooner).
            let idle_for_hold = {
                let wanted: Vec<_> = pools.iter().map(|(_, pool)| pool.wanted()).collect();
                if pools.iter().any(|(_, pool)| pool.waiting() > 0) {
                    false
                } else {
                    tokio::select! {
                        biased;
                        () = handle.killed() => return,
                        _ = self.client.need(1) => return,
                        () = tokio::time::sleep(HOLD) => true,
                        () = any_of(wanted) => false,
                    }
                }
            };
            for (role, _) in pools {
                self.give_back(role).await;
            }
            if idle_for_hold {
                // An idle client: it holds no server connection now, nor a read buffer.
                self.client.free_buffer_while_idle();
            }
        }
    }

    /// Before a statement: a connection kept for it (the previous statement left warnings,
    /// an error or a row count) goes back now if another session waits for its server and
    /// `sql` doesn't ask about them — the statement would clear them anyway. Without this a
    /// session whose statements keep failing (or writing) back to back would hold the
    /// connection for as long as it runs them.
    pub(super) async fn release_kept_if_wanted(&mut self, sql: &[u8]) {
        let Some(role) = self.kept_for_next else {
            return;
        };
        let wanted = self
            .connections
            .get(role)
            .and_then(super::pooled::pool_of)
            .is_some_and(|pool| pool.waiting() > 0);
        if !wanted || asks_about_previous_statement(sql) {
            return;
        }
        self.kept_for_next = None;
        if self.releasable(role).is_some() {
            self.give_back(role).await;
        }
    }

    /// Before borrowing a connection on the other side: `role`'s goes back if it may.
    pub(super) async fn give_back_for_other_side(&mut self, role: Role) {
        if self.kept_for_next == Some(role) {
            self.kept_for_next = None;
        }
        if self.releasable(role).is_some() {
            self.give_back(role).await;
        }
    }

    /// Gives the connection on `role`'s side back to its pool (its prepared statements
    /// stay known by its serial: a session that borrows it again runs them at once).
    async fn give_back(&mut self, role: Role) {
        if let Some(upstream) = self.connections.take(role) {
            self.release(upstream).await;
        }
    }
}

/// Whether `sql` contains `word` (ASCII, any case).
fn mentions(sql: &[u8], word: &[u8]) -> bool {
    sql.windows(word.len())
        .any(|window| window.eq_ignore_ascii_case(word))
}

/// Whether `sql` may read what the previous statement left on its connection: its
/// warnings or error (SHOW WARNINGS/ERRORS, GET DIAGNOSTICS, @@warning_count,
/// @@error_count), ROW_COUNT(), FOUND_ROWS(), or anything SHOW reports of the session
/// (SHOW SESSION STATUS: Last_query_cost, Handler_* counts). A word match: a false
/// positive only keeps a connection a statement longer.
fn asks_about_previous_statement(sql: &[u8]) -> bool {
    const WORDS: [&[u8]; 6] = [
        b"WARNING",
        b"ERROR",
        b"DIAGNOSTICS",
        b"ROW_COUNT",
        b"FOUND_ROWS",
        b"SHOW",
    ];
    WORDS.iter().any(|word| mentions(sql, word))
}

/// Resolves when any of `futures` does.
async fn any_of(futures: Vec<tokio::sync::futures::Notified<'_>>) {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        for future in &mut futures {
            if future.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await;
}

/// Whether a statement of `class` leaves nothing on its connection but what fastlb tracks:
/// the state log's entries, LAST_INSERT_ID, a transaction that ends before the connection
/// goes back, autocommit back on (the status flags of every reply show it). Everything else
/// (pins, autocommit=0, unknown statements, multi-statements) makes the connection dirty:
/// reset before another session gets it.
///
/// `recorded_in_log`: whether the command's state change went into the session's state log.
/// A `SET`/`USE` is tracked only then, whatever path ran it: a SET run as a prepared
/// statement (or by any command that doesn't record) stays on its connection alone.
fn leaves_tracked_state_only(class: Classification, recorded_in_log: bool) -> bool {
    // A read the classifier binds to the primary may change the connection (LAST_INSERT_ID(n),
    // NEXTVAL/LASTVAL, variables it reads back...): dirty, reset before another session.
    let read_on_primary = class.kind == Kind::Read && class.route == Role::Primary;
    !class.pins_primary
        && !class.multi_statement
        && !read_on_primary
        && match class.kind {
            Kind::Read
            | Kind::Write
            | Kind::Begin
            | Kind::BeginReadOnly
            | Kind::End
            | Kind::SetAutocommit(true) => true,
            Kind::SessionState => recorded_in_log,
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::classify::classify;

    #[test]
    fn mentions_ignores_case() {
        assert!(mentions(
            b"select sql_calc_found_rows * from t",
            b"SQL_CALC_FOUND_ROWS"
        ));
        assert!(!mentions(b"SELECT * FROM t", b"SQL_CALC_FOUND_ROWS"));
    }

    #[test]
    fn what_asks_about_the_previous_statement() {
        for sql in [
            "SHOW WARNINGS",
            "show errors limit 1",
            "SHOW COUNT(*) WARNINGS",
            "SELECT @@warning_count",
            "SELECT @@session.error_count",
            "GET DIAGNOSTICS @n = NUMBER",
            "SELECT ROW_COUNT()",
            "SELECT FOUND_ROWS()",
        ] {
            assert!(asks_about_previous_statement(sql.as_bytes()), "{sql}");
        }
        for sql in ["SELECT SLEEP(0.01)", "INSERT INTO t VALUES (1)", "SELECT 1"] {
            assert!(!asks_about_previous_statement(sql.as_bytes()), "{sql}");
        }
    }

    #[test]
    fn what_leaves_only_tracked_state() {
        for sql in [
            "SELECT 1",
            "INSERT INTO t VALUES (1)",
            "BEGIN",
            "COMMIT",
            "SET NAMES utf8mb4",
            "SET SESSION sql_mode = 'ANSI'",
            "USE app",
            "SET autocommit = 1",
        ] {
            assert!(
                leaves_tracked_state_only(classify(sql.as_bytes()), true),
                "{sql}"
            );
        }
        // A SET or USE whose change isn't in the state log (run as a prepared statement).
        for sql in [
            "SET NAMES utf8mb4",
            "SET SESSION sql_mode = 'ANSI'",
            "USE app",
        ] {
            assert!(
                !leaves_tracked_state_only(classify(sql.as_bytes()), false),
                "{sql}"
            );
        }
        for sql in [
            "SET @a = 1",
            "CREATE TEMPORARY TABLE t (a INT)",
            "SELECT GET_LOCK('a', 1)",
            "SET autocommit = 0",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "PREPARE s FROM 'SELECT 1'",
            "SELECT 1; SELECT 2",
            "HANDLER t OPEN",
            // Reads bound to the primary may leave per-connection values behind.
            "SELECT LAST_INSERT_ID(42)",
            "SELECT * FROM t FOR UPDATE",
        ] {
            assert!(
                !leaves_tracked_state_only(classify(sql.as_bytes()), true),
                "{sql}"
            );
        }
    }
}
