//! Why a statement the classifier pins pins the session, for the stats (`pins_by_reason`).
//! The classifier decides *whether* (`Classification::pins_primary`); this only names the
//! reason, and runs once per pin (rarely), never on the hot path.

use crate::mysql::classify::lexer::{Lexer, Token};
use crate::mysql::stats::PinReason;

/// The reason a pinning statement `sql` pins (the first found, the most specific first).
pub fn pin_reason(sql: &[u8]) -> PinReason {
    let mut first_word = true;
    let mut after_lock_word = false;
    let mut user_variable = false;
    let mut lock = false;
    for token in Lexer::new(sql) {
        match token {
            Token::Word(word) => {
                let is = |keyword: &str| word.eq_ignore_ascii_case(keyword.as_bytes());
                if is("TEMPORARY") {
                    return PinReason::TemporaryTable;
                }
                if first_word && (is("PREPARE") || is("EXECUTE") || is("DEALLOCATE")) {
                    return PinReason::SqlPrepare;
                }
                // LOCK TABLES, FLUSH TABLES WITH READ LOCK, GET_LOCK().
                lock |= (first_word && is("LOCK")) || (after_lock_word && is("TABLES"));
                lock |= is("GET_LOCK") || (is("LOCK") && !first_word);
                after_lock_word = is("LOCK");
                first_word = false;
            }
            Token::UserVar => user_variable = true,
            _ => first_word = false,
        }
    }
    if lock {
        PinReason::Lock
    } else if user_variable {
        PinReason::UserVariable
    } else {
        PinReason::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_of_pinning_statements() {
        let cases: &[(&str, PinReason)] = &[
            (
                "CREATE TEMPORARY TABLE t (a INT)",
                PinReason::TemporaryTable,
            ),
            ("SELECT GET_LOCK('job', 10)", PinReason::Lock),
            ("LOCK TABLES items WRITE", PinReason::Lock),
            ("FLUSH TABLES WITH READ LOCK", PinReason::Lock),
            ("SET @a = 1", PinReason::UserVariable),
            (
                "SELECT id INTO @id FROM items LIMIT 1",
                PinReason::UserVariable,
            ),
            ("PREPARE s FROM 'SELECT 1'", PinReason::SqlPrepare),
            ("EXECUTE s USING @a", PinReason::SqlPrepare),
            ("HANDLER items OPEN", PinReason::Other),
            // A string or comment never names a reason.
            ("SELECT 'TEMPORARY @x' /* GET_LOCK */", PinReason::Other),
        ];
        for &(sql, expected) in cases {
            assert_eq!(pin_reason(sql.as_bytes()), expected, "{sql}");
        }
    }
}
