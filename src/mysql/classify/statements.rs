//! The statement rules: what each kind of statement is, by its leading keywords and the facts
//! its tokens showed (`cursor.rs`). One function per statement family; each says why.

use super::cursor::{is, upper, Cursor};
use super::lexer::Token;
use super::{Classification, Kind, EMPTY};
use crate::mysql::Role;

/// `EXPLAIN EXPLAIN ...` and `SET STATEMENT ... FOR` nest; deeper than this is no real query.
const MAX_NESTING: u8 = 8;

/// Classifies the statement at the cursor by its leading keyword(s).
pub(super) fn statement(cur: &mut Cursor<'_, '_>, nesting: u8) -> Classification {
    let Some(first) = cur.next() else {
        return EMPTY;
    };
    if nesting > MAX_NESTING {
        return cur.primary(Kind::Write, false);
    }
    let word = match first {
        Token::Word(word) => word,
        // (SELECT ...) [UNION (SELECT ...)]
        Token::Punct(b'(') => return cur.read(false),
        _ => return cur.primary(Kind::Write, false),
    };
    let mut buf = [0; 24];
    match upper(word, &mut buf) {
        b"SELECT" | b"VALUES" | b"TABLE" | b"HELP" => cur.read(false),
        b"WITH" => {
            cur.facts.with_prelude = true;
            cur.drain();
            if cur.facts.write_keyword {
                cur.primary(Kind::Write, false) // WITH ... UPDATE / DELETE / INSERT
            } else {
                cur.read(false)
            }
        }
        b"SHOW" => show(cur),
        b"DESCRIBE" | b"DESC" | b"EXPLAIN" => explain(cur, nesting),
        b"ANALYZE" => analyze(cur, nesting),
        b"SET" => set(cur, nesting),
        b"USE" => cur.primary(Kind::SessionState, false),
        b"BEGIN" => {
            if cur.eat("NOT") {
                compound(cur) // BEGIN NOT ATOMIC ... END
            } else if cur.eat("WORK") || cur.peek().is_none() {
                cur.primary(Kind::Begin, false)
            } else {
                cur.primary(Kind::Write, false)
            }
        }
        b"START" => {
            if cur.eat("TRANSACTION") {
                cur.drain();
                if cur.facts.read_only {
                    let route = if cur.facts.replica_safe() && !cur.facts.pins() {
                        Role::Replica
                    } else {
                        Role::Primary
                    };
                    cur.finish(Kind::BeginReadOnly, route, false)
                } else {
                    cur.primary(Kind::Begin, false)
                }
            } else {
                cur.primary(Kind::Write, false) // START SLAVE / REPLICA ...
            }
        }
        b"COMMIT" => end(cur),
        b"ROLLBACK" => {
            cur.eat("WORK");
            if is(cur.peek(), "TO") {
                cur.primary(Kind::Write, false) // ROLLBACK TO SAVEPOINT: still in the transaction
            } else {
                end(cur)
            }
        }
        b"XA" => {
            let mut buf = [0; 24];
            let kind = match cur.next() {
                Some(Token::Word(w)) => match upper(w, &mut buf) {
                    b"START" | b"BEGIN" => Kind::Begin,
                    b"COMMIT" | b"ROLLBACK" => Kind::End,
                    _ => Kind::Other, // XA END / PREPARE / RECOVER
                },
                _ => Kind::Other,
            };
            cur.primary(kind, false)
        }
        // State that lives on one connection: SQL-level prepared statements, table locks,
        // HANDLER cursors, BACKUP LOCK.
        // GET DIAGNOSTICS reads the previous statement's outcome into variables.
        b"PREPARE" | b"LOCK" | b"HANDLER" | b"BACKUP" | b"GET" => cur.primary(Kind::Other, true),
        b"SAVEPOINT" | b"RELEASE" | b"EXECUTE" | b"DEALLOCATE" | b"UNLOCK" | b"KILL" | b"DO"
        | b"SIGNAL" | b"RESIGNAL" => cur.primary(Kind::Other, false),
        b"FLUSH" => {
            cur.drain();
            if cur.facts.read_lock {
                cur.primary(Kind::Other, true) // FLUSH TABLES ... WITH READ LOCK / FOR EXPORT
            } else {
                cur.primary(Kind::Write, false)
            }
        }
        b"CALL" => cur.primary(Kind::Call, false),
        b"CREATE" | b"ALTER" => create(cur),
        b"DROP" if is(cur.peek(), "PREPARE") => cur.primary(Kind::Other, false),
        // MariaDB runs these compound statements outside stored programs too.
        b"IF" | b"CASE" | b"LOOP" | b"WHILE" | b"REPEAT" | b"FOR" => compound(cur),
        _ if cur.peek() == Some(Token::Punct(b':')) => compound(cur), // label: BEGIN NOT ATOMIC
        _ => cur.primary(Kind::Write, false),
    }
}

/// COMMIT / ROLLBACK: AND CHAIN starts the next transaction at once, so it is a Begin.
fn end(cur: &mut Cursor<'_, '_>) -> Classification {
    cur.drain();
    let kind = if cur.facts.chain {
        Kind::Begin
    } else {
        Kind::End
    };
    cur.primary(kind, false)
}

/// A compound statement runs anything and may leave anything on its connection: it pins.
/// Its inner `;` do not end it.
fn compound(cur: &mut Cursor<'_, '_>) -> Classification {
    cur.split = false;
    cur.primary(Kind::Write, true)
}

/// SHOW: a read, on a replica unless it is about this connection or about the primary.
fn show(cur: &mut Cursor<'_, '_>) -> Classification {
    let mut buf = [0; 24];
    let second = match cur.next() {
        Some(Token::Word(w)) => upper(w, &mut buf),
        _ => b"",
    };
    let session_bound = match second {
        // The previous statement's diagnostics, on the connection that ran it. NOTE: that
        // may have been a replica; the primary is the best a stateless classifier can say.
        b"WARNINGS" | b"ERRORS" | b"COUNT" => true,
        // Plain STATUS is SESSION STATUS: the counters of this connection.
        b"STATUS" | b"PROFILE" | b"PROFILES" => true,
        b"SESSION" | b"LOCAL" => is(cur.peek(), "STATUS"),
        // Connection ids that a following KILL (primary) acts on.
        b"PROCESSLIST" => true,
        b"FULL" => is(cur.peek(), "PROCESSLIST"),
        // SHOW EXPLAIN / ANALYZE FOR <connection id>
        b"EXPLAIN" | b"ANALYZE" => true,
        // The primary's binary log is the one meant.
        b"MASTER" | b"BINARY" | b"BINLOG" => true,
        _ => false,
    };
    cur.read(session_bound)
}

/// EXPLAIN / DESCRIBE: a table description is a read; an explained statement is not run
/// (except EXPLAIN ANALYZE, which runs it), so a read of it goes where the statement would and
/// an explained write goes to the primary without writing.
fn explain(cur: &mut Cursor<'_, '_>, nesting: u8) -> Classification {
    let mut analyze = false;
    loop {
        if cur.eat("EXTENDED") || cur.eat("PARTITIONS") {
            continue;
        }
        if cur.eat("ANALYZE") {
            analyze = true;
            continue;
        }
        if cur.eat("FORMAT") {
            if cur.peek() == Some(Token::Punct(b'=')) {
                cur.next();
            }
            cur.next();
            continue;
        }
        break;
    }
    let mut buf = [0; 24];
    let explains_statement = match cur.peek() {
        Some(Token::Punct(b'(')) => true,
        Some(Token::Word(w)) => match upper(w, &mut buf) {
            b"FOR" => return cur.read(true), // EXPLAIN FOR CONNECTION <id>
            b"SELECT" | b"WITH" | b"TABLE" | b"VALUES" | b"INSERT" | b"UPDATE" | b"DELETE"
            | b"REPLACE" => true,
            _ => false,
        },
        _ => false,
    };
    if !explains_statement {
        return cur.read(false); // DESCRIBE t [column]
    }
    let inner = statement(cur, nesting + 1);
    match (inner.kind, analyze) {
        (Kind::Read, _) => Classification {
            pins_primary: analyze && inner.pins_primary,
            ..inner
        },
        (_, true) => Classification {
            kind: Kind::Write,
            route: Role::Primary,
            ..inner
        },
        (_, false) => Classification {
            kind: Kind::Read,
            route: Role::Primary,
            pins_primary: false,
            ..inner
        },
    }
}

/// MariaDB's ANALYZE <statement> runs the statement (a read stays a read); ANALYZE TABLE
/// writes statistics (and the binlog).
fn analyze(cur: &mut Cursor<'_, '_>, nesting: u8) -> Classification {
    if cur.eat("FORMAT") {
        if cur.peek() == Some(Token::Punct(b'=')) {
            cur.next();
        }
        cur.next();
    }
    let mut buf = [0; 24];
    match cur.peek() {
        Some(Token::Word(w))
            if matches!(
                upper(w, &mut buf),
                b"SELECT" | b"WITH" | b"UPDATE" | b"DELETE" | b"INSERT" | b"REPLACE"
            ) => {}
        Some(Token::Punct(b'(')) => {}
        _ => return cur.primary(Kind::Write, false), // ANALYZE [LOCAL] TABLE ...
    }
    let inner = statement(cur, nesting + 1);
    if inner.kind == Kind::Read {
        inner
    } else {
        Classification {
            kind: Kind::Write,
            route: Role::Primary,
            ..inner
        }
    }
}

/// CREATE / ALTER: DDL writes. TEMPORARY tables live on the connection that made them (pin);
/// stored program bodies hold `;` that do not end the statement, and are not run now.
fn create(cur: &mut Cursor<'_, '_>) -> Classification {
    let mut temporary = false;
    // The object type comes within a few tokens: OR REPLACE, DEFINER = `u`@`h`, ALGORITHM =
    // MERGE, SQL SECURITY INVOKER, AGGREGATE, IF NOT EXISTS ...
    for _ in 0..16 {
        let mut buf = [0; 24];
        let Some(token) = cur.next() else { break };
        let Token::Word(w) = token else { continue };
        match upper(w, &mut buf) {
            b"TEMPORARY" => temporary = true,
            b"PROCEDURE" | b"FUNCTION" | b"TRIGGER" | b"EVENT" | b"PACKAGE" => {
                cur.split = false;
                cur.drain();
                // Not run now: nothing in the body pins the session.
                return Classification {
                    kind: Kind::Write,
                    route: Role::Primary,
                    pins_primary: false,
                    multi_statement: false,
                };
            }
            b"TABLE" | b"VIEW" | b"INDEX" | b"DATABASE" | b"SCHEMA" | b"USER" | b"ROLE"
            | b"SEQUENCE" | b"SERVER" | b"TABLESPACE" => break,
            _ => {}
        }
    }
    cur.primary(Kind::Write, temporary)
}

/// SET: autocommit, replayable session state, next-transaction settings, user variables,
/// global settings, or SET STATEMENT ... FOR <statement>.
fn set(cur: &mut Cursor<'_, '_>, nesting: u8) -> Classification {
    let mut buf = [0; 24];
    let first = match cur.peek() {
        Some(Token::Word(w)) => upper(w, &mut buf),
        _ => b"",
    };
    match first {
        b"NAMES" | b"CHARSET" | b"CHARACTER" | b"ROLE" => return session_state(cur),
        // Server-wide or persistent: a write (and never replayed).
        b"GLOBAL" | b"PERSIST" | b"PERSIST_ONLY" | b"PASSWORD" | b"DEFAULT" => {
            return cur.primary(Kind::Write, false)
        }
        // The next transaction only: it must run where that transaction will, the primary.
        b"TRANSACTION" => return cur.primary(Kind::Other, false),
        b"STATEMENT" => {
            // SET STATEMENT var = value [, ...] FOR <statement>: where the statement goes.
            cur.next();
            loop {
                match cur.next() {
                    None => return cur.primary(Kind::Other, false),
                    Some(token) if is(Some(token), "FOR") && cur.facts.depth == 0 => break,
                    Some(_) => {}
                }
            }
            return statement(cur, nesting + 1);
        }
        b"SESSION" | b"LOCAL" => {
            cur.next();
            if is(cur.peek(), "TRANSACTION") {
                return session_state(cur); // SET SESSION TRANSACTION ISOLATION LEVEL ...
            }
        }
        _ => {}
    }
    assignments(cur)
}

/// Replayable session state, unless a value depends on where it is computed.
fn session_state(cur: &mut Cursor<'_, '_>) -> Classification {
    cur.drain();
    if cur.facts.replayable() {
        cur.primary(Kind::SessionState, false)
    } else {
        cur.primary(Kind::Other, true)
    }
}

/// The value of `SET autocommit = <value>` when it is a literal.
fn autocommit_value(token: Token<'_>) -> Option<bool> {
    let mut buf = [0; 24];
    let text = match token {
        Token::Word(w) | Token::Str(w) => upper(w, &mut buf),
        _ => return None,
    };
    match text {
        b"1" | b"ON" | b"TRUE" => Some(true),
        b"0" | b"OFF" | b"FALSE" => Some(false),
        _ => None,
    }
}

/// `SET [scope] target = value, ...`.
fn assignments(cur: &mut Cursor<'_, '_>) -> Classification {
    let mut count = 0;
    let mut global = false;
    let mut user_variable = false;
    let mut autocommit_targets = 0;
    let mut autocommit: Option<bool> = None;
    let mut value_tokens = 0;
    let mut in_value = false;
    let mut target_is_autocommit = false;
    while let Some(token) = cur.next() {
        if in_value {
            if token == Token::Punct(b',') && cur.facts.depth == 0 {
                in_value = false;
                continue;
            }
            value_tokens += 1;
            if target_is_autocommit {
                autocommit = if value_tokens == 1 {
                    autocommit_value(token)
                } else {
                    None // an expression, not a literal
                };
            }
            continue;
        }
        let mut buf = [0; 24];
        let target = match token {
            Token::Punct(b'=') | Token::Assign => {
                in_value = true;
                value_tokens = 0;
                continue;
            }
            Token::Word(w) => match upper(w, &mut buf) {
                b"GLOBAL" | b"PERSIST" | b"PERSIST_ONLY" => {
                    global = true;
                    continue;
                }
                b"SESSION" | b"LOCAL" => continue,
                name => Some(name == b"AUTOCOMMIT"),
            },
            Token::SysVar { global: g, name } => {
                global |= g;
                Some(name.eq_ignore_ascii_case(b"autocommit"))
            }
            Token::UserVar => {
                user_variable = true;
                Some(false)
            }
            _ => None, // `.` of a structured variable name, ...
        };
        if let Some(is_autocommit) = target {
            if !matches!(cur.facts.prev2, Some(Token::Punct(b'.'))) {
                count += 1;
                target_is_autocommit = is_autocommit;
                autocommit_targets += usize::from(is_autocommit);
            }
        }
    }
    if global {
        cur.primary(Kind::Write, false)
    } else if user_variable {
        // User variables live on one connection and their value may come from a write or
        // a query: the session stays where they are, the primary.
        cur.primary(Kind::Other, true)
    } else if count == 1 && autocommit_targets == 1 {
        match autocommit {
            Some(on) => cur.primary(Kind::SetAutocommit(on), false),
            // SET autocommit = DEFAULT / @x ...: the server's status flags will tell.
            None => cur.primary(Kind::Other, false),
        }
    } else if autocommit_targets > 0 || !cur.facts.replayable() {
        // Other settings can't be replayed without the autocommit change (or give another
        // value elsewhere): keep the session on the primary.
        cur.primary(Kind::Other, true)
    } else {
        cur.primary(Kind::SessionState, false)
    }
}
