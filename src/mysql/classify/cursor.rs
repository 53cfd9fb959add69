//! The classifier's reading machinery: a one-statement token cursor with lookahead, and the
//! `Facts` it gathers from every token (locking clauses, calls, variables, ...).
//!
//! The statement rules (`statements.rs`) look at the leading keywords themselves and combine
//! them with these facts, which need the whole statement.

use super::functions::{self, Call};
use super::lexer::{Lexer, Token};
use super::{Classification, Kind};
use crate::mysql::Role;

/// `word` in uppercase in `buf` (words longer than the buffer compare equal to no keyword).
pub(super) fn upper<'b>(word: &[u8], buf: &'b mut [u8; 24]) -> &'b [u8] {
    let Some(slot) = buf.get_mut(..word.len()) else {
        return b"";
    };
    slot.copy_from_slice(word);
    slot.make_ascii_uppercase();
    slot
}

pub(super) fn is(token: Option<Token<'_>>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword.as_bytes()))
}

/// The few keywords `Facts` reacts to, looked up once per word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Keyword {
    #[default]
    None,
    And,
    As,
    Chain,
    Delete,
    Export,
    For,
    In,
    Insert,
    Into,
    Lock,
    Next,
    Only,
    Previous,
    Read,
    Recursive,
    Replace,
    Select,
    Share,
    SqlCalcFoundRows,
    Table,
    Update,
    Value,
    Values,
    With,
}

impl Keyword {
    /// NOTE: bucketed by length, so that most words cost one or two length compares: this
    /// lookup runs for every word of every statement (the first version, with ~15 keyword
    /// comparisons per word, spent a third of its time here).
    fn of(token: Token<'_>) -> Keyword {
        use Keyword::*;
        let Token::Word(word) = token else {
            return None;
        };
        let candidates: &[(&[u8], Keyword)] = match word.len() {
            2 => &[(b"AS", As), (b"IN", In)],
            3 => &[(b"AND", And), (b"FOR", For)],
            4 => &[
                (b"INTO", Into),
                (b"LOCK", Lock),
                (b"NEXT", Next),
                (b"ONLY", Only),
                (b"READ", Read),
                (b"WITH", With),
            ],
            5 => &[
                (b"CHAIN", Chain),
                (b"SHARE", Share),
                (b"TABLE", Table),
                (b"VALUE", Value),
            ],
            6 => &[
                (b"SELECT", Select),
                (b"UPDATE", Update),
                (b"DELETE", Delete),
                (b"INSERT", Insert),
                (b"EXPORT", Export),
                (b"VALUES", Values),
            ],
            7 => &[(b"REPLACE", Replace)],
            8 => &[(b"PREVIOUS", Previous)],
            9 => &[(b"RECURSIVE", Recursive)],
            19 => &[(b"SQL_CALC_FOUND_ROWS", SqlCalcFoundRows)],
            _ => &[],
        };
        candidates
            .iter()
            .find(|(keyword, _)| word.eq_ignore_ascii_case(keyword))
            .map_or(None, |&(_, keyword)| keyword)
    }
}

/// Facts gathered from every token of a statement as the cursor reads it; the statement rules
/// below combine them with what the statement's leading keywords say.
#[derive(Default)]
pub(super) struct Facts<'a> {
    prev: Option<Token<'a>>,
    prev_keyword: Keyword,
    pub(super) prev2: Option<Token<'a>>,
    prev2_keyword: Keyword,
    pub(super) depth: u32,
    /// The parenthesis depth at `prev`.
    prev_depth: u32,
    /// In `WITH a AS (...), b (x) AS (...)` before the main statement: `b (` names a CTE.
    pub(super) with_prelude: bool,

    /// FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE: row locks are taken by the primary only.
    lock_clause: bool,
    /// INTO @var / OUTFILE / DUMPFILE: assigns or writes a file on the server that runs it.
    into: bool,
    /// INTO @var: the variable lives on this connection.
    into_user_var: bool,
    /// `@x := ...`
    assigns_user_var: bool,
    /// `@x` anywhere: user variables live on the connection that set them, the primary.
    user_var: bool,
    /// A call outside the allow-list, NEXT/PREVIOUS VALUE FOR (sequences).
    primary_call: bool,
    /// GET_LOCK(
    takes_lock: bool,
    /// @@last_insert_id, @@identity, @@warning_count, ... (`functions.rs`)
    session_bound_variable: bool,
    /// SQL_CALC_FOUND_ROWS: the FOUND_ROWS() that follows goes to the primary, so this must.
    calc_found_rows: bool,
    /// UPDATE/DELETE/INSERT/REPLACE as a statement keyword at depth 0 (`WITH ... UPDATE`).
    pub(super) write_keyword: bool,
    /// A nested SELECT (a SET value computed by a query may differ between servers).
    select: bool,
    /// READ ONLY (START TRANSACTION READ ONLY)
    pub(super) read_only: bool,
    /// AND CHAIN (not AND NO CHAIN)
    pub(super) chain: bool,
    /// WITH READ LOCK / FOR EXPORT (FLUSH TABLES)
    pub(super) read_lock: bool,
}

impl<'a> Facts<'a> {
    fn observe(&mut self, token: Token<'a>) {
        use Keyword as K;
        let keyword = Keyword::of(token);
        match (self.prev, token) {
            (Some(Token::Word(name)), Token::Punct(b'(')) => self.call(name),
            (Some(Token::UserVar), Token::Assign) => self.assigns_user_var = true,
            (_, Token::UserVar) if self.prev_keyword == K::Into => self.into_user_var = true,
            _ => match (self.prev_keyword, keyword) {
                (K::None, _) | (_, K::None) => {}
                (K::For, K::Update | K::Share) | (K::Lock, K::In) => self.lock_clause = true,
                (K::Next | K::Previous, K::Value) => self.primary_call = true,
                (K::Read, K::Only) => self.read_only = true,
                (K::And, K::Chain) => self.chain = true,
                (K::Read, K::Lock) | (K::For, K::Export) => self.read_lock = true,
                _ => {}
            },
        }
        self.check_write_keyword(Some(token));
        match keyword {
            K::None => {}
            K::Into => self.into = true,
            K::SqlCalcFoundRows => self.calc_found_rows = true,
            K::Select => self.select = true,
            _ => {}
        }
        if self.with_prelude
            && self.depth == 0
            && matches!(
                keyword,
                K::Select | K::Values | K::Table | K::Insert | K::Update | K::Delete | K::Replace
            )
        {
            self.with_prelude = false;
        }
        match token {
            Token::UserVar => self.user_var = true,
            Token::SysVar {
                global: false,
                name,
            } => {
                self.session_bound_variable |= functions::is_session_bound_variable(name);
            }
            _ => {}
        }
        self.prev_depth = self.depth;
        match token {
            Token::Punct(b'(') => self.depth = self.depth.saturating_add(1),
            Token::Punct(b')') => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        self.prev2 = self.prev;
        self.prev2_keyword = self.prev_keyword;
        self.prev = Some(token);
        self.prev_keyword = keyword;
    }

    /// `name(`: a CTE or derived-table column list, or a function call (see `functions.rs`).
    fn call(&mut self, name: &[u8]) {
        if matches!(
            self.prev2_keyword,
            Keyword::With | Keyword::Recursive | Keyword::As
        ) {
            return; // WITH cte (a, b) AS ..., ... AS alias (a, b)
        }
        let before = self.prev2;
        if self.with_prelude && self.depth == 0 && before == Some(Token::Punct(b',')) {
            return; // WITH a AS (...), cte (x) AS ...
        }
        if before == Some(Token::Punct(b'.')) {
            // db.name(: always a stored function, whatever its name.
            self.primary_call = true;
            return;
        }
        match functions::call(name) {
            Call::Harmless => {}
            Call::TakesLock => {
                self.takes_lock = true;
                self.primary_call = true;
            }
            Call::Primary => self.primary_call = true,
        }
    }

    /// `prev` was UPDATE/DELETE/INSERT/REPLACE at depth 0, and is neither `FOR UPDATE` nor a
    /// function (`REPLACE(`, `INSERT(`): a data-changing statement (after WITH or EXPLAIN).
    fn check_write_keyword(&mut self, next: Option<Token<'a>>) {
        if self.prev_depth == 0
            && matches!(
                self.prev_keyword,
                Keyword::Update | Keyword::Delete | Keyword::Insert | Keyword::Replace
            )
            && next != Some(Token::Punct(b'('))
            && self.prev2_keyword != Keyword::For
        {
            self.write_keyword = true;
        }
    }

    fn finish(&mut self) {
        self.check_write_keyword(None);
        self.prev = None;
        self.prev_keyword = Keyword::None;
    }

    /// Nothing here binds the statement to the primary.
    pub(super) fn replica_safe(&self) -> bool {
        !(self.lock_clause
            || self.into
            || self.assigns_user_var
            || self.user_var
            || self.primary_call
            || self.session_bound_variable
            || self.calc_found_rows)
    }

    /// A SET value replayed on another connection gives the same result there.
    pub(super) fn replayable(&self) -> bool {
        !(self.user_var || self.primary_call || self.session_bound_variable || self.select)
    }

    /// State this statement leaves on its connection, whatever its kind.
    pub(super) fn pins(&self) -> bool {
        self.takes_lock || self.assigns_user_var || self.into_user_var
    }
}

/// Reads the tokens of one statement (up to a `;` or the end), feeding every token to `Facts`
/// as it comes off the lexer, with one token of lookahead.
pub(super) struct Cursor<'l, 'a> {
    lexer: &'l mut Lexer<'a>,
    peeked: Option<Option<Token<'a>>>,
    /// A `;` ends the statement (off inside stored program bodies and compound statements).
    pub(super) split: bool,
    ended: bool,
    pub(super) ended_by_semicolon: bool,
    pub(super) facts: Facts<'a>,
}

impl<'l, 'a> Cursor<'l, 'a> {
    pub(super) fn new(lexer: &'l mut Lexer<'a>) -> Self {
        Cursor {
            lexer,
            peeked: None,
            split: true,
            ended: false,
            ended_by_semicolon: false,
            facts: Facts::default(),
        }
    }

    fn pull(&mut self) -> Option<Token<'a>> {
        if self.ended {
            return None;
        }
        match self.lexer.next() {
            Some(Token::Punct(b';')) if self.split => self.ended_by_semicolon = true,
            Some(token) => {
                self.facts.observe(token);
                return Some(token);
            }
            None => {}
        }
        self.ended = true;
        self.facts.finish();
        None
    }

    pub(super) fn peek(&mut self) -> Option<Token<'a>> {
        match self.peeked {
            Some(token) => token,
            None => {
                let token = self.pull();
                self.peeked = Some(token);
                token
            }
        }
    }

    pub(super) fn next(&mut self) -> Option<Token<'a>> {
        match self.peeked.take() {
            Some(token) => token,
            None => self.pull(),
        }
    }

    /// Consumes the next token if it is `keyword`.
    pub(super) fn eat(&mut self, keyword: &str) -> bool {
        let found = is(self.peek(), keyword);
        if found {
            self.next();
        }
        found
    }

    pub(super) fn drain(&mut self) {
        while self.next().is_some() {}
    }

    /// Reads the rest of the statement and builds its classification; `pin` adds to the pins
    /// every statement can carry (GET_LOCK, `@x :=`, INTO @x).
    pub(super) fn finish(&mut self, kind: Kind, route: Role, pin: bool) -> Classification {
        self.drain();
        Classification {
            kind,
            route,
            pins_primary: pin || self.facts.pins(),
            multi_statement: false,
        }
    }

    pub(super) fn primary(&mut self, kind: Kind, pin: bool) -> Classification {
        self.finish(kind, Role::Primary, pin)
    }

    /// A read: on a replica when every fact allows it.
    pub(super) fn read(&mut self, session_bound: bool) -> Classification {
        self.drain();
        let route = if !session_bound && self.facts.replica_safe() {
            Role::Replica
        } else {
            Role::Primary
        };
        self.finish(Kind::Read, route, false)
    }
}
