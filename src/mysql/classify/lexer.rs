//! A minimal SQL tokenizer for the statement classifier: words, literals, variables, punctuation.
//!
//! It knows just enough of MySQL/MariaDB's lexical rules to never mistake the inside of a
//! string, a quoted identifier or a comment for SQL, and to treat the inside of an executable
//! comment (`/*! ... */`, `/*!50100 ... */`, `/*M!100100 ... */`) as SQL, as the server does.
//! It never allocates and never panics: every index is bounds-checked, unterminated literals
//! and comments simply run to the end of the input.
//!
//! Assumption (documented in the classifier): the text is in an ASCII-compatible character set
//! (UTF-8, latin1, ...). In GBK/SJIS/BIG5 a multi-byte character's second byte can be 0x5C
//! (`\`), which this tokenizer would take for an escape inside a string.

/// One token. Words carry their bytes (keywords are compared case-insensitively by the caller);
/// literals carry only what the classifier needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// An unquoted identifier, keyword or number (`SELECT`, `t1`, `42`, `0x1F`, `$x`).
    Word(&'a [u8]),
    /// A `` `quoted identifier` ``.
    QuotedIdent,
    /// A '...' or "..." literal: its raw contents between the quotes (escapes not decoded).
    Str(&'a [u8]),
    /// A user variable: `@name`, `@'name'`, `` @`name` ``.
    UserVar,
    /// A system variable: `@@name`, `@@session.name`, `@@global.name`, `@@local.name`.
    SysVar { global: bool, name: &'a [u8] },
    /// `:=`
    Assign,
    /// Any other single byte: `(`, `)`, `,`, `;`, `=`, `.`, `*`, ...
    Punct(u8),
}

/// Iterates over the tokens of `sql`, skipping whitespace and comments.
#[derive(Clone, Debug)]
pub(crate) struct Lexer<'a> {
    sql: &'a [u8],
    pos: usize,
    /// Inside `/*! ... */`: the next `*/` closes it instead of being two punctuation bytes.
    in_executable_comment: bool,
    /// Where the last name-like token (word, string, quoted identifier) ended: an `@` right
    /// there joins an account name (`'app'@'%'`, `root@localhost`), it is not a variable.
    name_end: usize,
    /// Where the last token returned began (`span`): the query digest renders tokens from it.
    token_start: usize,
}

/// Bytes of unquoted identifiers, keywords and numbers: ASCII letters and digits, `_`, `$`,
/// and every byte >= 0x80 (multi-byte characters). NOTE: a table, because this test runs for
/// nearly every byte of a statement.
const WORD_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
        byte += 1;
    }
    table
};

fn is_word_byte(byte: u8) -> bool {
    WORD_BYTES[usize::from(byte)]
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(sql: &'a [u8]) -> Self {
        Lexer {
            sql,
            pos: 0,
            in_executable_comment: false,
            name_end: usize::MAX,
            token_start: 0,
        }
    }

    /// The source bytes of the last token returned (quotes and `@` included).
    pub(crate) fn span(&self) -> &'a [u8] {
        self.sql.get(self.token_start..self.pos).unwrap_or_default()
    }

    /// Where the last token returned began, as an offset in the text.
    pub(crate) fn token_start(&self) -> usize {
        self.token_start
    }

    fn at(&self, offset: usize) -> Option<u8> {
        self.sql.get(self.pos.checked_add(offset)?).copied()
    }

    /// Advances while `keep` holds for the current byte.
    fn skip_while(&mut self, keep: impl Fn(u8) -> bool) {
        let rest = self.sql.get(self.pos..).unwrap_or_default();
        self.pos += rest
            .iter()
            .position(|&byte| !keep(byte))
            .unwrap_or(rest.len());
    }

    fn skip_line(&mut self) {
        self.skip_while(|byte| byte != b'\n');
    }

    /// After `/*`: a regular comment (skipped to its `*/`), or an executable one whose
    /// version number is skipped and whose contents are then read as SQL.
    fn open_block_comment(&mut self) {
        self.pos += 2;
        let marker = if self.at(0) == Some(b'!') {
            1
        } else if self.at(0) == Some(b'M') && self.at(1) == Some(b'!') {
            2
        } else {
            0
        };
        if marker > 0 {
            self.pos += marker;
            // The optional version: 5 digits (MySQL) or 6 (MariaDB 10+, MySQL 8.0.34+).
            let mut digits = 0;
            while digits < 6 && self.at(0).is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
                digits += 1;
            }
            self.in_executable_comment = true;
            return;
        }
        while let Some(byte) = self.at(0) {
            if byte == b'*' && self.at(1) == Some(b'/') {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
    }

    /// Skips a quoted run opened by `quote` at the current position; returns its contents.
    /// Backslash escapes apply to strings, not to quoted identifiers; a doubled quote is an
    /// escaped quote in both.
    fn quoted(&mut self, quote: u8, backslash_escapes: bool) -> &'a [u8] {
        self.pos += 1;
        let start = self.pos;
        while let Some(byte) = self.at(0) {
            if byte == b'\\' && backslash_escapes {
                self.pos = (self.pos + 2).min(self.sql.len());
            } else if byte == quote {
                if self.at(1) == Some(quote) {
                    self.pos += 2;
                } else {
                    let contents = &self.sql[start..self.pos];
                    self.pos += 1;
                    return contents;
                }
            } else {
                self.pos += 1;
            }
        }
        &self.sql[start..]
    }

    fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        self.skip_while(is_word_byte);
        &self.sql[start..self.pos]
    }

    /// After `@`: a user variable, a system variable, or a lone `@` (as in `'u'@'host'`).
    fn variable(&mut self) -> Token<'a> {
        if self.pos == self.name_end {
            self.pos += 1;
            return Token::Punct(b'@');
        }
        if self.at(1) == Some(b'@') {
            self.pos += 2;
            let mut name = self.word();
            let mut global = false;
            if self.at(0) == Some(b'.') {
                // `@@scope.name`; anything else before the dot (a structured variable's
                // prefix, `@@default.key_buffer_size`) is not a scope and keeps the first part.
                let scope = name;
                if ["global", "session", "local"]
                    .iter()
                    .any(|s| scope.eq_ignore_ascii_case(s.as_bytes()))
                {
                    self.pos += 1;
                    global = scope.eq_ignore_ascii_case(b"global");
                    name = self.word();
                }
            }
            return Token::SysVar { global, name };
        }
        match self.at(1) {
            Some(quote @ (b'\'' | b'"' | b'`')) => {
                self.pos += 1;
                self.quoted(quote, quote != b'`');
                Token::UserVar
            }
            Some(byte) if is_word_byte(byte) || byte == b'.' => {
                self.pos += 1;
                // User variable names may contain `.` (`@a.b`).
                self.skip_while(|b| is_word_byte(b) || b == b'.');
                Token::UserVar
            }
            _ => {
                self.pos += 1;
                Token::Punct(b'@')
            }
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let token = self.token()?;
        if matches!(token, Token::Word(_) | Token::Str(_) | Token::QuotedIdent) {
            self.name_end = self.pos;
        }
        Some(token)
    }
}

impl<'a> Lexer<'a> {
    fn token(&mut self) -> Option<Token<'a>> {
        loop {
            self.skip_while(is_space);
            self.token_start = self.pos;
            let byte = self.at(0)?;
            let next = self.at(1);
            match byte {
                b'#' => self.skip_line(),
                // `-- ` needs whitespace (or a control byte, or the end) after the dashes:
                // `1--1` is one minus minus one.
                b'-' if next == Some(b'-') && self.at(2).is_none_or(|b| b <= b' ') => {
                    self.skip_line()
                }
                b'/' if next == Some(b'*') => self.open_block_comment(),
                b'*' if next == Some(b'/') && self.in_executable_comment => {
                    self.pos += 2;
                    self.in_executable_comment = false;
                }
                b'\'' | b'"' => return Some(Token::Str(self.quoted(byte, true))),
                b'`' => {
                    self.quoted(b'`', false);
                    return Some(Token::QuotedIdent);
                }
                b'@' => return Some(self.variable()),
                b':' if next == Some(b'=') => {
                    self.pos += 2;
                    return Some(Token::Assign);
                }
                _ if is_word_byte(byte) => return Some(Token::Word(self.word())),
                _ => {
                    self.pos += 1;
                    return Some(Token::Punct(byte));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Token::*;
    use super::*;

    fn tokens(sql: &str) -> Vec<Token<'_>> {
        Lexer::new(sql.as_bytes()).collect()
    }

    #[test]
    fn words_punctuation_and_assignments() {
        assert_eq!(
            tokens("SELECT a.b,1 FROM t WHERE @x:=2"),
            vec![
                Word(b"SELECT"),
                Word(b"a"),
                Punct(b'.'),
                Word(b"b"),
                Punct(b','),
                Word(b"1"),
                Word(b"FROM"),
                Word(b"t"),
                Word(b"WHERE"),
                UserVar,
                Assign,
                Word(b"2"),
            ]
        );
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            tokens("/* FOR UPDATE */ a -- b\n c # d\n e --\n f /* unterminated"),
            vec![Word(b"a"), Word(b"c"), Word(b"e"), Word(b"f")]
        );
        // `--` without a following space is two minus signs.
        assert_eq!(
            tokens("1--1"),
            vec![Word(b"1"), Punct(b'-'), Punct(b'-'), Word(b"1")]
        );
        // `--` at the very end is a comment too.
        assert_eq!(tokens("a --"), vec![Word(b"a")]);
    }

    #[test]
    fn executable_comments_count_as_sql() {
        assert_eq!(
            tokens("SELECT /*!50100 SQL_NO_CACHE */ 1 /*M!100100 FOR UPDATE*/ /*! x*/"),
            vec![
                Word(b"SELECT"),
                Word(b"SQL_NO_CACHE"),
                Word(b"1"),
                Word(b"FOR"),
                Word(b"UPDATE"),
                Word(b"x"),
            ]
        );
        // Outside an executable comment `*/` is two punctuation bytes.
        assert_eq!(tokens("*/"), vec![Punct(b'*'), Punct(b'/')]);
    }

    #[test]
    fn strings_with_escapes_hide_their_contents() {
        assert_eq!(
            tokens(r#"'it''s; FOR UPDATE' "a\"b" 'x\'y' `we``ird;`"#),
            vec![
                Str(b"it''s; FOR UPDATE"),
                Str(br#"a\"b"#),
                Str(br"x\'y"),
                QuotedIdent
            ]
        );
        assert_eq!(
            tokens("'unterminated; DROP"),
            vec![Str(b"unterminated; DROP")]
        );
        assert_eq!(tokens(r"'trailing\"), vec![Str(br"trailing\")]);
    }

    #[test]
    fn variables() {
        assert_eq!(
            tokens("@@autocommit @@SESSION.sql_mode @@global.read_only @@default.k"),
            vec![
                SysVar {
                    global: false,
                    name: b"autocommit"
                },
                SysVar {
                    global: false,
                    name: b"sql_mode"
                },
                SysVar {
                    global: true,
                    name: b"read_only"
                },
                SysVar {
                    global: false,
                    name: b"default"
                },
                Punct(b'.'),
                Word(b"k"),
            ]
        );
        assert_eq!(
            tokens("@x @'a b' @`c` @ 1"),
            vec![UserVar, UserVar, UserVar, Punct(b'@'), Word(b"1")]
        );
        // Account names are not variables.
        assert_eq!(
            tokens("'u'@'h' `r`@`%` root@localhost x @y"),
            vec![
                Str(b"u"),
                Punct(b'@'),
                Str(b"h"),
                QuotedIdent,
                Punct(b'@'),
                QuotedIdent,
                Word(b"root"),
                Punct(b'@'),
                Word(b"localhost"),
                Word(b"x"),
                UserVar,
            ]
        );
    }
}
