//! The statement classifier: where a statement may run and what it does to a session's routing.
//!
//! `classify(sql)` reads the text a client sends in COM_QUERY or COM_STMT_PREPARE with a
//! hand-written tokenizer (`lexer.rs`: no regex, no allocation) and decides:
//!
//! - the statement's `Kind` (read, write, transaction control, session state, ...);
//! - its route (a `Role`): `Replica` only for reads that are provably free of side effects and of
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

mod classifier;
mod cursor;
mod functions;
mod intercept;
pub(crate) mod lexer;
mod statements;

use crate::mysql::Role;

pub use classifier::classify;
pub use intercept::{intercept, like, Intercept};

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
    pub route: Role,
    /// The session must stay on the primary from now on (until it ends or resets).
    pub pins_primary: bool,
    /// More than one statement in the text (a `;` followed by anything but whitespace or
    /// comments). Stored program definitions (CREATE PROCEDURE ... BEGIN ...; ... END) and
    /// compound statements (BEGIN NOT ATOMIC, IF, LOOP ...) are one statement.
    pub multi_statement: bool,
}

/// Empty text (or only comments): the server answers "Query was empty"; let the primary.
const EMPTY: Classification = Classification {
    kind: Kind::Other,
    route: Role::Primary,
    pins_primary: false,
    multi_statement: false,
};

#[cfg(test)]
mod tests;
