//! Where one statement goes, given what the session has done so far (pure: no I/O).

use crate::mysql::classify::{Classification, Kind, Route};
use crate::mysql::config::RuleRoute;

/// The server role a statement is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Primary,
    Replica,
}

/// What the session knows when a statement arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView {
    /// A transaction is open on this connection: everything stays there until it ends.
    pub open_transaction: Option<Target>,
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
pub fn decide(view: SessionView, class: Classification, rule: Option<RuleRoute>) -> Target {
    if let Some(target) = view.open_transaction {
        return target;
    }
    if view.pinned || class.pins_primary || !view.autocommit {
        return Target::Primary;
    }
    // State changes run on the primary and are replayed elsewhere; a rule can't move them.
    if matches!(class.kind, Kind::SessionState | Kind::SetAutocommit(_)) {
        return Target::Primary;
    }
    // A multi-statement may hold a write anywhere after its first statement (the classifier
    // sends every one to the primary): a replica rule matching its text doesn't move it.
    match rule {
        Some(RuleRoute::Primary) => return Target::Primary,
        Some(RuleRoute::Replica) if !class.multi_statement => return Target::Replica,
        _ => {}
    }
    match (class.kind, class.route) {
        (Kind::BeginReadOnly, _) | (_, Route::Replica) => Target::Replica,
        _ => Target::Primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::classify::classify;

    const FREE: SessionView = SessionView::FREE;

    fn target(view: SessionView, sql: &str) -> Target {
        decide(view, classify(sql.as_bytes()), None)
    }

    #[test]
    fn reads_go_to_replicas_writes_to_the_primary() {
        assert_eq!(target(FREE, "SELECT 1"), Target::Replica);
        assert_eq!(target(FREE, "SELECT * FROM t FOR UPDATE"), Target::Primary);
        assert_eq!(target(FREE, "INSERT INTO t VALUES (1)"), Target::Primary);
        assert_eq!(target(FREE, "START TRANSACTION READ ONLY"), Target::Replica);
        assert_eq!(target(FREE, "SET NAMES utf8mb4"), Target::Primary);
    }

    #[test]
    fn transactions_pins_and_autocommit_win() {
        let in_primary_trx = SessionView {
            open_transaction: Some(Target::Primary),
            ..FREE
        };
        assert_eq!(target(in_primary_trx, "SELECT 1"), Target::Primary);
        let in_replica_trx = SessionView {
            open_transaction: Some(Target::Replica),
            ..FREE
        };
        assert_eq!(target(in_replica_trx, "SELECT 1"), Target::Replica);
        let pinned = SessionView {
            pinned: true,
            ..FREE
        };
        assert_eq!(target(pinned, "SELECT 1"), Target::Primary);
        let manual = SessionView {
            autocommit: false,
            ..FREE
        };
        assert_eq!(target(manual, "SELECT 1"), Target::Primary);
    }

    #[test]
    fn rules_come_before_the_classifier() {
        let class = classify(b"SELECT * FROM reports");
        assert_eq!(
            decide(FREE, class, Some(RuleRoute::Primary)),
            Target::Primary
        );
        let class = classify(b"CALL refresh_cache()");
        assert_eq!(
            decide(FREE, class, Some(RuleRoute::Replica)),
            Target::Replica
        );
        let set = classify(b"SET @@session.sql_mode = ''");
        assert_eq!(decide(FREE, set, Some(RuleRoute::Replica)), Target::Primary);
        let multi = classify(b"SELECT * FROM archive; DELETE FROM archive");
        assert_eq!(
            decide(FREE, multi, Some(RuleRoute::Replica)),
            Target::Primary
        );
    }
}
