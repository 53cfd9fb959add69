//! Statement normalisation: one pass over the classifier's tokens that replaces literals with
//! `?`, collapses literal lists (`IN (1, 2, 3)`, `VALUES (1, 'a'), (2, 'b')`) into `(...)`, and
//! drops comments and whitespace (the lexer already skips them).
//!
//! The same walk feeds two sinks: `fingerprint` hashes the normalised token stream without
//! building any text (the hot path: no allocation, one pass), and `render` writes the
//! normalised text, only when a digest enters the sketch. Words are hashed case-insensitively
//! (`select` and `SELECT` are one digest); the text keeps the spelling of the statement that
//! created the digest, with canonical spacing.

use crate::mysql::classify::lexer::{Lexer, Token};

/// What the walk hands a sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece<'a> {
    /// A literal: number, string, `?` placeholder, `-1`, `X'1F'`, `_utf8mb4'x'`.
    Literal,
    /// A parenthesised list of literals, or several (`VALUES (...), (...)`).
    List,
    /// An unquoted word (keyword or identifier): compared ignoring ASCII case.
    Word(&'a [u8]),
    /// A quoted identifier or a variable, compared exactly (its source text).
    Exact(&'a [u8]),
    /// One punctuation byte; `joined`: it touched the previous punctuation byte in the source
    /// (`>=`, `<>`, `||`), which only matters to the rendering.
    Punct { byte: u8, joined: bool },
}

trait Sink {
    /// `glued`: the token touched the previous one in the source (rendering only).
    fn piece(&mut self, piece: Piece<'_>, glued: bool);
}

/// The 64-bit digest of `sql`'s normalised form.
#[inline]
pub fn fingerprint(sql: &[u8]) -> u64 {
    let mut hasher = Fingerprint(SEED);
    walk(sql, &mut hasher);
    finish(hasher.0)
}

/// Longest normalised text kept for a digest: long statements end in `...` (the digest of
/// the whole statement still tells them apart).
pub const MAX_TEXT: usize = 1024;

/// Writes `sql`'s normalised text into `out` (cleared first; its capacity is reused).
pub fn render(sql: &[u8], out: &mut String) {
    out.clear();
    let mut renderer = Render {
        out,
        last: Last::Start,
        full: false,
    };
    walk(sql, &mut renderer);
}

/// Convenience for tests and tools: the normalised text of `sql`.
pub fn normalize(sql: &str) -> String {
    let mut out = String::new();
    render(sql.as_bytes(), &mut out);
    out
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
/// FxHash's multiplier: one multiply per 8 bytes of a word, per token otherwise.
const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

struct Fingerprint(u64);

impl Fingerprint {
    #[inline(always)]
    fn mix(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(MULTIPLIER);
    }

    /// Mixes `bytes` 8 at a time; `fold`: ASCII uppercase letters as lowercase.
    #[inline(always)]
    fn bytes(&mut self, bytes: &[u8], fold: bool) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            self.mix(if fold { fold_ascii(word) } else { word });
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            let word = u64::from_le_bytes(buf);
            self.mix(if fold { fold_ascii(word) } else { word });
        }
        self.mix(bytes.len() as u64);
    }
}

/// Lowercases the ASCII letters of 8 bytes at once (SWAR): `A`..`Z` get bit 0x20.
#[inline(always)]
fn fold_ascii(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & !HIGH;
    let at_least_a = low7.wrapping_add((0x80 - u64::from(b'A')) * ONES);
    let above_z = low7.wrapping_add((0x80 - u64::from(b'Z') - 1) * ONES);
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

/// MurmurHash3's finaliser: spreads the last multiply's high bits into the low ones.
fn finish(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

impl Sink for Fingerprint {
    #[inline(always)]
    fn piece(&mut self, piece: Piece<'_>, _glued: bool) {
        match piece {
            Piece::Literal => self.mix(1),
            Piece::List => self.mix(2),
            Piece::Word(word) => {
                self.mix(3);
                self.bytes(word, true);
            }
            Piece::Exact(text) => {
                self.mix(4);
                self.bytes(text, false);
            }
            Piece::Punct { byte, .. } => self.mix(0x100 | u64::from(byte)),
        }
    }
}

/// What the renderer wrote last (decides the space before the next piece).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Start,
    /// `(`, `.`, `@`: nothing follows them with a space.
    Opener,
    /// A word or quoted identifier: a `(` touching it in the source is a call, `f(x)`.
    Name,
    Operator,
    Other,
}

struct Render<'o> {
    out: &'o mut String,
    last: Last,
    full: bool,
}

fn is_operator(byte: u8) -> bool {
    matches!(byte, b'<' | b'>' | b'=' | b'!' | b'|' | b'&' | b':')
}

impl Render<'_> {
    fn push(&mut self, text: &[u8], space: bool) {
        if self.full {
            return;
        }
        let needed = text.len() + usize::from(space);
        if self.out.len() + needed > MAX_TEXT {
            self.out.push_str("...");
            self.full = true;
            return;
        }
        if space {
            self.out.push(' ');
        }
        // Identifiers may hold any bytes the client sent; the text is for people.
        self.out.push_str(&String::from_utf8_lossy(text));
    }
}

impl Sink for Render<'_> {
    fn piece(&mut self, piece: Piece<'_>, glued: bool) {
        let after_opener = matches!(self.last, Last::Start | Last::Opener);
        // `f(` and `t(a, b)` as written: a `(` touching a name stays glued to it.
        let call = glued && self.last == Last::Name;
        let (text, space, last): (&[u8], bool, Last) = match piece {
            Piece::Literal => (b"?", !after_opener, Last::Other),
            Piece::List => (b"(...)", !(after_opener || call), Last::Other),
            Piece::Word(text) | Piece::Exact(text) => (text, !after_opener, Last::Name),
            Piece::Punct { byte, joined } => {
                let space = match byte {
                    b')' | b',' | b'.' | b';' => false,
                    b'(' => !(after_opener || call),
                    b'@' => !glued,
                    _ if joined && self.last == Last::Operator => false,
                    _ => !after_opener,
                };
                let last = match byte {
                    b'(' | b'.' | b'@' => Last::Opener,
                    _ if is_operator(byte) => Last::Operator,
                    _ => Last::Other,
                };
                self.push(&[byte], space);
                self.last = last;
                return;
            }
        };
        self.push(text, space);
        self.last = last;
    }
}

/// A number: a word that starts with a digit (`42`, `0x1F`, `1e5`, `3` of `3.14`).
#[inline(always)]
fn is_number(word: &[u8]) -> bool {
    word.first().is_some_and(u8::is_ascii_digit)
}

/// Words after which a `(` may open a list of literals to collapse.
fn opens_list(word: &[u8]) -> bool {
    word.len() <= 6
        && (word.eq_ignore_ascii_case(b"IN")
            || word.eq_ignore_ascii_case(b"VALUES")
            || word.eq_ignore_ascii_case(b"VALUE"))
}

/// Words after which `-`/`+` is a sign rather than an operator (`WHERE -1`, `SELECT -1`).
fn expects_operand(word: &[u8]) -> bool {
    const WORDS: [&[u8]; 14] = [
        b"SELECT", b"WHERE", b"AND", b"OR", b"NOT", b"WHEN", b"THEN", b"ELSE", b"SET", b"BY",
        b"LIMIT", b"IS", b"LIKE", b"BETWEEN",
    ];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
}

/// Literal-only words inside a collapsible list.
fn is_constant_word(word: &[u8]) -> bool {
    is_number(word)
        || word.first() == Some(&b'_')
        || word.eq_ignore_ascii_case(b"NULL")
        || word.eq_ignore_ascii_case(b"TRUE")
        || word.eq_ignore_ascii_case(b"FALSE")
}

/// The next token if it touches the current one (`end`: where the current one ends).
fn touching<'a>(lexer: &Lexer<'a>, end: usize) -> Option<(Token<'a>, Lexer<'a>)> {
    let mut ahead = lexer.clone();
    let token = ahead.next()?;
    (ahead.token_start() == end).then_some((token, ahead))
}

fn end_of(lexer: &Lexer<'_>) -> usize {
    lexer.token_start() + lexer.span().len()
}

/// After a number word: swallows a fraction (`.14`) and a signed exponent (`e-3`).
fn number_tail<'a>(lexer: &mut Lexer<'a>, word: &'a [u8]) {
    let mut word = word;
    if let Some((Token::Punct(b'.'), after_dot)) = touching(lexer, end_of(lexer)) {
        if let Some((Token::Word(fraction), after)) = touching(&after_dot, end_of(&after_dot)) {
            if is_number(fraction) {
                *lexer = after;
                word = fraction;
            }
        }
    }
    if matches!(word.last(), Some(b'e' | b'E')) {
        if let Some((Token::Punct(b'-' | b'+'), after_sign)) = touching(lexer, end_of(lexer)) {
            if let Some((Token::Word(exponent), after)) = touching(&after_sign, end_of(&after_sign))
            {
                if is_number(exponent) {
                    *lexer = after;
                }
            }
        }
    }
}

/// Whether a number touches the current token (`.` then `5`).
fn starts_number(lexer: &Lexer<'_>) -> bool {
    matches!(touching(lexer, end_of(lexer)), Some((Token::Word(word), _)) if is_number(word))
}

/// At a `(`: if everything up to its `)` is literals and commas, the lexer past the `)`.
fn literal_list<'a>(lexer: &Lexer<'a>) -> Option<Lexer<'a>> {
    let mut ahead = lexer.clone();
    let mut items = 0usize;
    loop {
        match ahead.next()? {
            Token::Punct(b')') => return (items > 0).then_some(ahead),
            Token::Word(word) if is_constant_word(word) => items += 1,
            Token::Str(_) | Token::Punct(b'?') => items += 1,
            Token::Punct(b',' | b'-' | b'+' | b'.') => {}
            _ => return None,
        }
    }
}

/// Walks `sql`'s tokens and hands the normalised pieces to `sink`.
fn walk(sql: &[u8], sink: &mut impl Sink) {
    let mut lexer = Lexer::new(sql);
    // Whether the previous piece was an operand (so a following `-` is an operator).
    let mut after_operand = false;
    let mut previous_word: &[u8] = b"";
    let mut previous_end = usize::MAX;
    let mut previous_punct = false;
    while let Some(token) = lexer.next() {
        let start = lexer.token_start();
        let glued = start == previous_end;
        let mut operand = true;
        let mut word_now: &[u8] = b"";
        let mut punct_now = false;
        match token {
            Token::Word(word) if is_number(word) => {
                number_tail(&mut lexer, word);
                sink.piece(Piece::Literal, glued);
            }
            Token::Str(_) | Token::Punct(b'?') => sink.piece(Piece::Literal, glued),
            Token::Word(word) => {
                // A charset introducer or a hex/bit/national string: one literal.
                let introducer = word.first() == Some(&b'_')
                    || (word.len() == 1 && matches!(word[0] | 0x20, b'x' | b'b' | b'n'));
                let mut ahead = lexer.clone();
                if introducer && matches!(ahead.next(), Some(Token::Str(_))) {
                    lexer = ahead;
                    sink.piece(Piece::Literal, glued);
                } else {
                    sink.piece(Piece::Word(word), glued);
                    word_now = word;
                    operand = !expects_operand(word) && !opens_list(word);
                }
            }
            Token::Punct(b'(') if opens_list(previous_word) => match literal_list(&lexer) {
                Some(after) => {
                    lexer = after;
                    // `VALUES (...), (...)`: further rows of literals join the list.
                    loop {
                        let mut ahead = lexer.clone();
                        if ahead.next() != Some(Token::Punct(b',')) {
                            break;
                        }
                        if ahead.next() != Some(Token::Punct(b'(')) {
                            break;
                        }
                        match literal_list(&ahead) {
                            Some(after) => lexer = after,
                            None => break,
                        }
                    }
                    sink.piece(Piece::List, glued);
                }
                None => {
                    sink.piece(
                        Piece::Punct {
                            byte: b'(',
                            joined: false,
                        },
                        glued,
                    );
                    operand = false;
                }
            },
            Token::Punct(sign @ (b'-' | b'+')) if !after_operand => {
                let mut ahead = lexer.clone();
                match ahead.next() {
                    Some(Token::Word(word)) if is_number(word) => {
                        lexer = ahead;
                        number_tail(&mut lexer, word);
                        sink.piece(Piece::Literal, glued);
                    }
                    _ => {
                        sink.piece(
                            Piece::Punct {
                                byte: sign,
                                joined: glued && previous_punct,
                            },
                            glued,
                        );
                        operand = false;
                        punct_now = true;
                    }
                }
            }
            Token::Punct(b'.') if !after_operand && starts_number(&lexer) => {
                // `.5`: a number without its integer part.
                if let Some((Token::Word(word), after)) = touching(&lexer, end_of(&lexer)) {
                    lexer = after;
                    number_tail(&mut lexer, word);
                }
                sink.piece(Piece::Literal, glued);
            }
            Token::Punct(byte) => {
                sink.piece(
                    Piece::Punct {
                        byte,
                        joined: glued && previous_punct,
                    },
                    glued,
                );
                operand = byte == b')';
                punct_now = true;
            }
            Token::QuotedIdent | Token::UserVar | Token::SysVar { .. } | Token::Assign => {
                let exact = lexer.span();
                sink.piece(Piece::Exact(exact), glued);
                operand = token != Token::Assign;
            }
        }
        after_operand = operand;
        previous_word = word_now;
        previous_punct = punct_now;
        previous_end = end_of(&lexer);
    }
}
