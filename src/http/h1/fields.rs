//! Field-value helpers shared by the parsers and the writers: case-insensitive lookups,
//! comma-separated token lists, and the one walk over the fields that gathers what framing,
//! keep-alive and routing depend on. Nothing here allocates.

use super::{HeadError, HeaderSpan, Span};

/// `tchar` (RFC 9110 §5.6.2): the characters of a token such as a field name.
pub(super) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// The value of the first field named `name` (ASCII case-insensitive).
pub(super) fn find<'b>(headers: &[HeaderSpan], buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.get(buf))
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed.
pub(super) fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|e| !e.is_empty())
}

/// `value` without leading and trailing SP / HTAB.
pub(super) fn trim(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&b| b != b' ' && b != b'\t');
    let Some(start) = start else {
        return &value[..0];
    };
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .unwrap_or(start);
    &value[start..=end]
}

/// A Content-Length value: `1*DIGIT` in 64 bits. A list (`42, 42`) is refused, not folded,
/// because the head is forwarded as received (RFC 9110 §8.6 lets us refuse).
pub(super) fn content_length(value: &[u8]) -> Result<u64, HeadError> {
    if value.contains(&b',') {
        return Err(HeadError::DuplicateContentLength);
    }
    if value.is_empty() {
        return Err(HeadError::BadContentLength);
    }
    let mut length: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(HeadError::BadContentLength);
        }
        length = length
            .checked_mul(10)
            .and_then(|l| l.checked_add(u64::from(b - b'0')))
            .ok_or(HeadError::BadContentLength)?;
    }
    Ok(length)
}

/// Transfer codings fastlb passes through before `chunked` (RFC 9110 §8.4.1 / IANA registry);
/// anything else is refused with 501 (RFC 9112 §6.1).
fn known_coding(coding: &[u8]) -> bool {
    const KNOWN: [&[u8]; 5] = [b"gzip", b"x-gzip", b"deflate", b"compress", b"x-compress"];
    KNOWN.iter().any(|k| coding.eq_ignore_ascii_case(k))
}

/// What the Transfer-Encoding fields (all of them, in order) say.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Codings {
    /// At least one Transfer-Encoding field.
    pub present: bool,
    /// The final coding is `chunked`, applied once.
    pub chunked_last: bool,
    /// `chunked` somewhere other than last, or more than once.
    pub chunked_misplaced: bool,
    /// A coding outside [`known_coding`].
    pub unknown: bool,
    chunked_seen: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.present = true;
        for element in list(value) {
            // A coding may carry parameters (`gzip;q=1`): its name is before the `;`.
            let name = trim(element.split(|&b| b == b';').next().unwrap_or(element));
            if name.eq_ignore_ascii_case(b"chunked") {
                if self.chunked_seen {
                    self.chunked_misplaced = true;
                }
                self.chunked_seen = true;
                self.chunked_last = true;
            } else {
                if self.chunked_seen {
                    self.chunked_misplaced = true;
                }
                self.chunked_last = false;
                if !known_coding(name) {
                    self.unknown = true;
                }
            }
        }
    }
}

/// Everything the proxy decides on, gathered in one walk over the fields.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Facts {
    pub content_length: Option<Result<u64, HeadError>>,
    pub content_length_fields: u32,
    pub codings: Codings,
    pub host: Option<Span>,
    pub host_fields: u32,
    pub connection_close: bool,
    pub connection_keep_alive: bool,
    pub connection_upgrade: bool,
    pub upgrade: Option<Span>,
    pub expect_continue: bool,
}

impl Facts {
    /// Walks `headers` once. Names are compared by length first, so most fields cost one
    /// integer compare per name of interest.
    pub fn gather(headers: &[HeaderSpan], buf: &[u8]) -> Facts {
        let mut facts = Facts::default();
        for h in headers {
            let name = h.name.get(buf);
            let value = h.value.get(buf);
            match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    facts.host_fields += 1;
                    facts.host.get_or_insert(h.value);
                }
                6 if name.eq_ignore_ascii_case(b"expect") => {
                    facts.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
                }
                7 if name.eq_ignore_ascii_case(b"upgrade") => {
                    facts.upgrade.get_or_insert(h.value);
                }
                10 if name.eq_ignore_ascii_case(b"connection") => {
                    for token in list(value) {
                        if token.eq_ignore_ascii_case(b"close") {
                            facts.connection_close = true;
                        } else if token.eq_ignore_ascii_case(b"keep-alive") {
                            facts.connection_keep_alive = true;
                        } else if token.eq_ignore_ascii_case(b"upgrade") {
                            facts.connection_upgrade = true;
                        }
                    }
                }
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    facts.content_length_fields += 1;
                    if facts.content_length.is_none() {
                        facts.content_length = Some(content_length(value));
                    }
                }
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => facts.codings.add(value),
                _ => {}
            }
        }
        facts
    }

    /// The Content-Length, refusing several fields or an invalid value.
    pub fn length(&self) -> Result<Option<u64>, HeadError> {
        if self.content_length_fields > 1 {
            return Err(HeadError::DuplicateContentLength);
        }
        self.content_length.transpose()
    }

    /// Connection persistence (RFC 9112 §9.3): HTTP/1.1 unless `close`, HTTP/1.0 only with
    /// `keep-alive`.
    pub fn keep_alive(&self, minor_version: u8) -> bool {
        !self.connection_close && (minor_version >= 1 || self.connection_keep_alive)
    }
}

/// `uri-host [":" port]` (RFC 3986 §3.2.2): reg-name / IPv4 / `[IPv6]` characters only. No
/// userinfo (`@`), no path, no whitespace: what reaches routing is a plain authority.
pub(super) fn valid_authority(host: &[u8]) -> bool {
    host.iter().all(|&b| {
        matches!(b,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
            | b'-' | b'.' | b'_' | b'~' | b'%'
            | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            | b':' | b'[' | b']')
    })
}
