//! Statements fastlb answers itself instead of forwarding: `KILL` (its ids are fastlb's
//! session ids, never a server's thread ids) and `SELECT CONNECTION_ID()` (the id of the
//! greeting, which is what KILL takes).
//!
//! A `KILL` that can't be read as `KILL [HARD|SOFT] [CONNECTION|QUERY] <number>` — `KILL
//! USER`, `KILL QUERY ID`, an expression, a KILL inside a multi-statement or a compound
//! statement — is refused rather than forwarded: forwarding would hand a client-supplied
//! thread id to a server, where it names some other client's thread.

use super::lexer::{Lexer, Token};

/// What fastlb does with a COM_QUERY text before routing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intercept<'a> {
    /// Not fastlb's: route it.
    No,
    /// `KILL [CONNECTION] id` (`query: false`) or `KILL QUERY id`.
    Kill { id: u64, query: bool },
    /// A KILL fastlb does not run, with the reason the client gets.
    Refused(&'static str),
    /// `SELECT CONNECTION_ID() [[AS] alias]`: answered with the session's id; the column is
    /// named `alias` or `CONNECTION_ID()`.
    ConnectionId { alias: Option<&'a [u8]> },
    /// `SHOW [SESSION|LOCAL] STATUS LIKE 'Ssl...'`: the client's own TLS connection to
    /// fastlb is meant, not fastlb's to a server; `pattern` is the LIKE pattern's raw text.
    SslStatus { pattern: &'a [u8] },
}

fn word(token: Option<Token<'_>>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword.as_bytes()))
}

/// The rest of the text is empty, or one `;` and nothing after it.
fn at_end(lexer: &mut Lexer<'_>) -> bool {
    match lexer.next() {
        None => true,
        Some(Token::Punct(b';')) => lexer.next().is_none(),
        Some(_) => false,
    }
}

/// Reads `sql` (a COM_QUERY text) for the statements fastlb answers itself. Cheap for
/// every other statement: the first token, and a byte scan for `KILL` in the text.
pub fn intercept(sql: &[u8]) -> Intercept<'_> {
    let mut lexer = Lexer::new(sql);
    let first = lexer.next();
    if word(first, "KILL") {
        return kill(&mut lexer);
    }
    if word(first, "SELECT") {
        if let Some(found) = connection_id(lexer.clone()) {
            return found;
        }
    }
    if word(first, "SHOW") {
        if let Some(found) = ssl_status(lexer.clone()) {
            return found;
        }
    }
    if contains_kill_statement(sql) {
        return Intercept::Refused(
            "fastlb runs KILL only as a statement of its own (KILL [CONNECTION|QUERY] <id>)",
        );
    }
    Intercept::No
}

fn kill<'a>(lexer: &mut Lexer<'a>) -> Intercept<'a> {
    let mut token = lexer.next();
    if word(token, "HARD") || word(token, "SOFT") {
        token = lexer.next();
    }
    let mut query = false;
    if word(token, "CONNECTION") {
        token = lexer.next();
    } else if word(token, "QUERY") {
        query = true;
        token = lexer.next();
        if word(token, "ID") {
            return Intercept::Refused("fastlb does not support KILL QUERY ID");
        }
    }
    if word(token, "USER") {
        return Intercept::Refused("fastlb does not support KILL USER");
    }
    let id = match token {
        Some(Token::Word(digits)) if digits.iter().all(u8::is_ascii_digit) => {
            std::str::from_utf8(digits)
                .ok()
                .and_then(|s| s.parse().ok())
        }
        _ => None,
    };
    match id {
        Some(id) if at_end(lexer) => Intercept::Kill { id, query },
        _ => Intercept::Refused("fastlb runs KILL [CONNECTION|QUERY] <id> with a number only"),
    }
}

/// `SELECT CONNECTION_ID() [[AS] alias] [;]`, read after the SELECT.
fn connection_id(mut lexer: Lexer<'_>) -> Option<Intercept<'_>> {
    if !word(lexer.next(), "CONNECTION_ID")
        || lexer.next() != Some(Token::Punct(b'('))
        || lexer.next() != Some(Token::Punct(b')'))
    {
        return None;
    }
    let mut rest = lexer.clone();
    if at_end(&mut rest) {
        return Some(Intercept::ConnectionId { alias: None });
    }
    let mut token = lexer.next();
    if word(token, "AS") {
        token = lexer.next();
    }
    match token {
        Some(Token::Word(alias)) if !word(token, "FROM") && at_end(&mut lexer) => {
            Some(Intercept::ConnectionId { alias: Some(alias) })
        }
        _ => None,
    }
}

/// `SHOW [SESSION|LOCAL] STATUS LIKE '<pattern>' [;]`, read after the SHOW, when the pattern
/// can only match `Ssl_` variables (it starts with a literal `ssl`).
fn ssl_status(mut lexer: Lexer<'_>) -> Option<Intercept<'_>> {
    let mut token = lexer.next();
    if word(token, "SESSION") || word(token, "LOCAL") {
        token = lexer.next();
    }
    if !word(token, "STATUS") || !word(lexer.next(), "LIKE") {
        return None;
    }
    let Some(Token::Str(pattern)) = lexer.next() else {
        return None;
    };
    let literal_ssl = pattern.len() >= 3 && pattern[..3].eq_ignore_ascii_case(b"ssl");
    (literal_ssl && at_end(&mut lexer)).then_some(Intercept::SslStatus { pattern })
}

/// SQL `LIKE` on ASCII, ignoring case: `%` any run, `_` any byte, `\` escapes.
pub fn like(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'%', rest)) => (0..=name.len()).any(|skip| like(rest, &name[skip..])),
        Some((b'_', rest)) => !name.is_empty() && like(rest, &name[1..]),
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first()
                .is_some_and(|c| c.eq_ignore_ascii_case(&rest[0]))
                && like(&rest[1..], &name[1..])
        }
        Some((c, rest)) => {
            name.first().is_some_and(|n| n.eq_ignore_ascii_case(c)) && like(rest, &name[1..])
        }
    }
}

/// Whether a `KILL` starts a statement somewhere in the text: after a `;`, a label's `:`,
/// or a compound statement's keyword (`BEGIN NOT ATOMIC KILL 5; END`), or as MariaDB's
/// `SET STATEMENT ... FOR KILL 5`. A column named `kill` (`SELECT kill FROM t`) is not.
fn contains_kill_statement(sql: &[u8]) -> bool {
    // NOTE: most texts have no such bytes at all; only those are tokenized again.
    if !sql.windows(4).any(|w| w.eq_ignore_ascii_case(b"KILL")) {
        return false;
    }
    let mut previous: Option<Token<'_>> = None;
    for token in Lexer::new(sql) {
        if word(Some(token), "KILL") {
            let starts = match previous {
                None | Some(Token::Punct(b';' | b':')) => true,
                Some(Token::Word(w)) => [
                    "BEGIN", "ATOMIC", "THEN", "ELSE", "DO", "LOOP", "REPEAT", "FOR",
                ]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k.as_bytes())),
                _ => false,
            };
            if starts {
                return true;
            }
        }
        previous = Some(token);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::Intercept::*;
    use super::*;

    #[test]
    fn kill_statements() {
        let cases: &[(&str, Intercept<'_>)] = &[
            (
                "KILL 5",
                Kill {
                    id: 5,
                    query: false,
                },
            ),
            (
                "kill connection 7;",
                Kill {
                    id: 7,
                    query: false,
                },
            ),
            ("KILL QUERY 9", Kill { id: 9, query: true }),
            ("/* c */ KILL HARD QUERY 9 ; ", Kill { id: 9, query: true }),
            (
                "/*!KILL SOFT 3*/",
                Kill {
                    id: 3,
                    query: false,
                },
            ),
            (
                "KILL 4000000000",
                Kill {
                    id: 4_000_000_000,
                    query: false,
                },
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(intercept(sql.as_bytes()), *expected, "{sql}");
        }
    }

    #[test]
    fn kill_forms_fastlb_refuses() {
        for sql in [
            "KILL USER app",
            "KILL QUERY ID 5",
            "KILL 5+1",
            "KILL @id",
            "KILL",
            "KILL 5; SELECT 1",
            "SELECT 1; KILL 5",
            "SELECT 1;kill query 5",
            "BEGIN NOT ATOMIC KILL 5; END",
            "SET STATEMENT max_statement_time=1 FOR KILL 5",
            "IF 1 THEN KILL 5; END IF",
        ] {
            assert!(
                matches!(intercept(sql.as_bytes()), Refused(_)),
                "{sql} must be refused"
            );
        }
    }

    #[test]
    fn other_statements_pass() {
        for sql in [
            "SELECT 1",
            "SELECT kill FROM t",
            "SELECT 'KILL 5'",
            "SELECT 1 -- ; KILL 5",
            "UPDATE t SET killed = 1",
            "SELECT CONNECTION_ID() FROM t",
            "SELECT CONNECTION_ID() + 1",
            "SELECT CONNECTION_ID(), 2",
        ] {
            assert_eq!(intercept(sql.as_bytes()), No, "{sql}");
        }
    }

    #[test]
    fn ssl_status() {
        for sql in [
            "SHOW STATUS LIKE 'Ssl_%'",
            "show session status like 'ssl_cipher';",
            "SHOW LOCAL STATUS LIKE \"Ssl%\"",
        ] {
            assert!(
                matches!(intercept(sql.as_bytes()), SslStatus { .. }),
                "{sql}"
            );
        }
        for sql in [
            "SHOW GLOBAL STATUS LIKE 'Ssl_%'",
            "SHOW STATUS LIKE '%ssl%'",
            "SHOW STATUS",
            "SHOW STATUS LIKE 'Ssl_%' ; SELECT 1",
            "SHOW STATUS WHERE Variable_name LIKE 'Ssl%'",
        ] {
            assert_eq!(intercept(sql.as_bytes()), No, "{sql}");
        }
        assert!(like(b"Ssl_%", b"Ssl_cipher"));
        assert!(like(b"ssl\\_version", b"Ssl_version"));
        assert!(!like(b"ssl\\_version", b"Sslxversion"));
        assert!(like(b"SSL_C_PHER", b"Ssl_cipher"));
        assert!(!like(b"Ssl_cipher", b"Ssl_cipher_list"));
    }

    #[test]
    fn connection_id() {
        assert_eq!(
            intercept(b"SELECT CONNECTION_ID()"),
            ConnectionId { alias: None }
        );
        assert_eq!(
            intercept(b"select connection_id ( ) ;"),
            ConnectionId { alias: None }
        );
        assert_eq!(
            intercept(b"SELECT CONNECTION_ID() AS id"),
            ConnectionId { alias: Some(b"id") }
        );
        assert_eq!(
            intercept(b"SELECT CONNECTION_ID() cid;"),
            ConnectionId {
                alias: Some(b"cid")
            }
        );
    }
}
