//! The statement classifier: where a statement may run and what it does to a session's routing.
//!
//! `classify(sql)` reads the text a client sends in COM_QUERY or COM_STMT_PREPARE with a
//! hand-written tokenizer (`lexer.rs`: no regex, no allocation) and decides:
//!
//! - the statement's `Kind` (read, write, transaction control, session state, ...);
//! - its `Route`: `Replica` only for reads that are provably free of side effects and of
//!   results bound to one connection, everything else `Primary`;
//! - whether it pins the session to the primary (state that lives on one connection);
//! - whether the text holds more than one statement.
//!
//! The rules, and why each one exists, are written next to the code that applies them; the
//! function and variable tables are in `functions.rs`. The principle: when in doubt, primary.
//! A wrong `Primary` costs a little load on the primary; a wrong `Replica` returns stale or
//! wrong data, or fails on the read-only replica.
//!
//! Known limits: a stored function hidden in a view is invisible here (a SELECT on such a
//! view goes to a replica); the text is assumed to be in an ASCII-compatible charset (see
//! `lexer.rs`); `sql_mode=NO_BACKSLASH_ESCAPES` is not known to the classifier (a string
//! ending in a backslash then hides what follows it).

mod cursor;
mod functions;
mod lexer;
mod statements;

use cursor::Cursor;
use lexer::Lexer;
use statements::statement;

/// Where a statement may run when the session is not inside a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Replica,
    Primary,
}

/// What a statement does to the session's routing state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SELECT/SHOW/DESCRIBE/DESC/EXPLAIN/HELP, WITH ... SELECT, (SELECT ...), VALUES, TABLE.
    Read,
    /// INSERT/UPDATE/DELETE/REPLACE/LOAD DATA/..., DDL, GRANT, anything unknown, and a text of
    /// several statements of different kinds.
    Write,
    /// BEGIN [WORK], START TRANSACTION [READ WRITE|WITH CONSISTENT SNAPSHOT], XA START/BEGIN,
    /// and COMMIT/ROLLBACK AND CHAIN (which end a transaction and start the next at once).
    Begin,
    /// START TRANSACTION READ ONLY (with or without WITH CONSISTENT SNAPSHOT).
    BeginReadOnly,
    /// COMMIT, ROLLBACK (not ROLLBACK TO SAVEPOINT: that is Write), XA COMMIT/ROLLBACK.
    End,
    /// `SET [SESSION|LOCAL|@@session.|@@local.|@@]autocommit = 0|1|ON|OFF|TRUE|FALSE`, alone.
    SetAutocommit(bool),
    /// SET of session variables, NAMES, CHARACTER SET, ROLE, SESSION TRANSACTION ...; USE db:
    /// replayed on every backend connection of the session.
    SessionState,
    /// CALL proc(...)
    Call,
    /// A known statement that changes no data but must run on the primary connection:
    /// SET TRANSACTION (next transaction), SET of user variables, SAVEPOINT, RELEASE
    /// SAVEPOINT, XA END/PREPARE/RECOVER, LOCK/UNLOCK TABLES, PREPARE/EXECUTE/DEALLOCATE,
    /// HANDLER, DO, KILL, SIGNAL, GET DIAGNOSTICS, FLUSH ... WITH READ LOCK; and empty text.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    pub kind: Kind,
    /// Replica only for provably side-effect-free reads: Read kinds with no locking clause,
    /// no INTO, no function outside the allow-list of harmless built-ins (`functions.rs`), no
    /// user variable, no session-bound system variable, a single statement; and
    /// BeginReadOnly. Everything else Primary.
    pub route: Route,
    /// The session must stay on the primary from now on (until it ends or resets).
    pub pins_primary: bool,
    /// More than one statement in the text (a `;` followed by anything but whitespace or
    /// comments). Stored program definitions (CREATE PROCEDURE ... BEGIN ...; ... END) and
    /// compound statements (BEGIN NOT ATOMIC, IF, LOOP ...) are one statement.
    pub multi_statement: bool,
}

/// Classifies one statement text (what a client sends in COM_QUERY or COM_STMT_PREPARE).
/// Bytes, because the wire carries bytes in the connection's charset; never panics.
pub fn classify(sql: &[u8]) -> Classification {
    let mut lexer = Lexer::new(sql);
    let mut summary = Summary::default();
    loop {
        let mut cursor = Cursor::new(&mut lexer);
        let single = statement(&mut cursor, 0);
        cursor.drain();
        summary.add(single);
        // A statement ends at a `;` or at the end of the text: another follows only when
        // something but whitespace and comments remains.
        if !cursor.ended_by_semicolon || lexer.clone().next().is_none() {
            return summary.result();
        }
    }
}

/// Folds the statements of one text into one classification.
#[derive(Default)]
struct Summary {
    /// The first non-empty statement's classification.
    first: Option<Classification>,
    /// Statements, empty ones (`;;`) included.
    count: usize,
    same_kind: bool,
    any_session_state: bool,
    pins_primary: bool,
}

impl Summary {
    fn add(&mut self, single: Classification) {
        self.count += 1;
        if single == EMPTY {
            return; // `;;`: the server's "Query was empty" changes no routing state
        }
        self.same_kind = match self.first {
            None => true,
            Some(first) => self.same_kind && first.kind == single.kind,
        };
        self.first.get_or_insert(single);
        self.any_session_state |= single.kind == Kind::SessionState;
        self.pins_primary |= single.pins_primary;
    }

    fn result(&self) -> Classification {
        let first = self.first.unwrap_or(EMPTY);
        if self.count <= 1 {
            return first;
        }
        // Several statements run on one connection, the primary. Of one kind, they keep it
        // (`SET NAMES x; SET sql_mode=''` is still replayable session state); mixed, they are
        // a write, and the session learns its transaction state from the server's status
        // flags. Session state set inside a mixed text is not replayed elsewhere, so it pins.
        Classification {
            kind: if self.same_kind {
                first.kind
            } else {
                Kind::Write
            },
            route: Route::Primary,
            pins_primary: self.pins_primary || (!self.same_kind && self.any_session_state),
            multi_statement: true,
        }
    }
}

/// Empty text (or only comments): the server answers "Query was empty"; let the primary.
pub(super) const EMPTY: Classification = Classification {
    kind: Kind::Other,
    route: Route::Primary,
    pins_primary: false,
    multi_statement: false,
};

#[cfg(test)]
mod tests;
