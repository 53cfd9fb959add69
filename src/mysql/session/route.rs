//! Where one statement goes, given what the session has done so far (pure: no I/O).

use crate::mysql::classify::{Classification, Kind};
use crate::mysql::Role;

/// What the session knows when a statement arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView {
    /// A transaction is open on this connection: everything stays there until it ends.
    pub open_transaction: Option<Role>,
    /// Temporary tables, locks, user variables, SQL-level PREPARE: primary from now on.
    pub pinned: bool,
    /// autocommit=0: every statement is part of a transaction, on the primary.
    pub autocommit: bool,
}

impl SessionView {
    /// A session that has done nothing yet: no transaction, no pin, autocommit on.
    pub const FREE: SessionView = SessionView {
        open_transaction: None,
        pinned: false,
        autocommit: true,
    };
}

/// Decides the target. Order: an open transaction, then the session's pin and autocommit,
/// then the user's rules, then the classifier.
pub fn decide(view: SessionView, class: Classification, rule: Option<Role>) -> Role {
    if let Some(target) = view.open_transaction {
        return target;
    }
    if view.pinned || class.pins_primary || !view.autocommit {
        return Role::Primary;
    }
    // State changes run on the primary and are replayed elsewhere; a rule can't move them.
    if matches!(class.kind, Kind::SessionState | Kind::SetAutocommit(_)) {
        return Role::Primary;
    }
    // A multi-statement may hold a write anywhere after its first statement (the classifier
    // sends every one to the primary): a replica rule matching its text doesn't move it.
    match rule {
        Some(Role::Primary) => return Role::Primary,
        Some(Role::Replica) if !class.multi_statement => return Role::Replica,
        _ => {}
    }
    match (class.kind, class.route) {
        (Kind::BeginReadOnly, _) | (_, Role::Replica) => Role::Replica,
        _ => Role::Primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::classify::classify;

    const FREE: SessionView = SessionView::FREE;

    fn target(view: SessionView, sql: &str) -> Role {
        decide(view, classify(sql.as_bytes()), None)
    }

    #[test]
    fn reads_go_to_replicas_writes_to_the_primary() {
        assert_eq!(target(FREE, "SELECT 1"), Role::Replica);
        assert_eq!(target(FREE, "SELECT * FROM t FOR UPDATE"), Role::Primary);
        assert_eq!(target(FREE, "INSERT INTO t VALUES (1)"), Role::Primary);
        assert_eq!(target(FREE, "START TRANSACTION READ ONLY"), Role::Replica);
        assert_eq!(target(FREE, "SET NAMES utf8mb4"), Role::Primary);
    }

    #[test]
    fn transactions_pins_and_autocommit_win() {
        let in_primary_trx = SessionView {
            open_transaction: Some(Role::Primary),
            ..FREE
        };
        assert_eq!(target(in_primary_trx, "SELECT 1"), Role::Primary);
        let in_replica_trx = SessionView {
            open_transaction: Some(Role::Replica),
            ..FREE
        };
        assert_eq!(target(in_replica_trx, "SELECT 1"), Role::Replica);
        let pinned = SessionView {
            pinned: true,
            ..FREE
        };
        assert_eq!(target(pinned, "SELECT 1"), Role::Primary);
        let manual = SessionView {
            autocommit: false,
            ..FREE
        };
        assert_eq!(target(manual, "SELECT 1"), Role::Primary);
    }

    #[test]
    fn rules_come_before_the_classifier() {
        let class = classify(b"SELECT * FROM reports");
        assert_eq!(decide(FREE, class, Some(Role::Primary)), Role::Primary);
        let class = classify(b"CALL refresh_cache()");
        assert_eq!(decide(FREE, class, Some(Role::Replica)), Role::Replica);
        let set = classify(b"SET @@session.sql_mode = ''");
        assert_eq!(decide(FREE, set, Some(Role::Replica)), Role::Primary);
        let multi = classify(b"SELECT * FROM archive; DELETE FROM archive");
        assert_eq!(decide(FREE, multi, Some(Role::Replica)), Role::Primary);
    }
}
