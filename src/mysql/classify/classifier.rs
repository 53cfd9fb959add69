//! `classify()`: one text, maybe several statements, folded into one `Classification`.

use super::cursor::Cursor;
use super::lexer::Lexer;
use super::statements::statement;
use super::{Classification, Kind, EMPTY};
use crate::mysql::Role;

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
            route: Role::Primary,
            pins_primary: self.pins_primary || (!self.same_kind && self.any_session_state),
            multi_statement: true,
        }
    }
}
