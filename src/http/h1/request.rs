//! Request heads: [`parse_request`] and what the proxy needs to know of a request.

use super::fields::{self, Facts};
use super::{head, BodyFraming, HeadError, HeadScratch, HeaderSpan, Limits, Span};

/// A parsed request head. Spans point into the buffer given to [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of the head, request line to the empty line included: the body (or the next
    /// pipelined request) starts at `buf[len..]`.
    pub len: usize,
    /// The method token (case-sensitive, RFC 9110 §9.1).
    pub method: Span,
    /// The request target as sent (origin-form, absolute-form, or `*`).
    pub target: Span,
    /// The path and query: the target itself in origin-form, the part after the authority in
    /// absolute-form (`/` when empty), `*` for `OPTIONS *`.
    pub path: Span,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Every header field, in order, name case preserved.
    pub headers: Vec<HeaderSpan>,
    /// How the body is delimited (never `UntilClose` for a request).
    pub framing: BodyFraming,
    /// The client wants the connection kept open after this exchange (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// The `Upgrade` value when the request asks for one (`Upgrade` + `Connection: upgrade`).
    pub upgrade: Option<Span>,
    /// `Expect: 100-continue` (HTTP/1.1 only, RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// The host the request is for: the absolute-form target's authority when there is one
    /// (RFC 9112 §3.2.2: it wins over Host), else the Host field; `None` only for an
    /// HTTP/1.0 request without Host.
    pub host: Option<Span>,
    /// True when `host` came from an absolute-form target: the forwarded head then carries
    /// it as Host instead of the received Host field(s).
    pub host_from_target: bool,
}

/// A request head together with its buffer: the accessors routing needs, without passing the
/// buffer around (it implements routing's `RequestHead` trait).
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub head: &'a RequestHead,
    pub buf: &'a [u8],
}

/// Parses the request head at the start of `buf`.
///
/// `Ok(None)`: incomplete, read more (unless `buf` already holds `max_header_size` bytes:
/// that is [`HeadError::TooLarge`]). Empty lines before the request line are skipped
/// (RFC 9112 §2.2) and count in `len`.
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
    scratch: &mut HeadScratch,
) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = scratch.take();
    let line = match head::parse(buf, limits, &mut headers, head::Kind::Request) {
        Ok(Some(line)) => line,
        other => {
            scratch.recycle(headers);
            return other.map(|_| None);
        }
    };
    match decide(buf, &line, &headers) {
        Ok(decided) => Ok(Some(RequestHead {
            len: line.len,
            method: line.first,
            target: line.second,
            path: decided.path,
            minor_version: line.minor_version,
            headers,
            framing: decided.framing,
            keep_alive: decided.keep_alive,
            upgrade: decided.upgrade,
            expect_continue: decided.expect_continue,
            host: decided.host,
            host_from_target: decided.host_from_target,
        })),
        Err(error) => {
            scratch.recycle(headers);
            Err(error)
        }
    }
}

/// What the checks of a complete, syntactically valid head conclude.
struct Decided {
    path: Span,
    framing: BodyFraming,
    keep_alive: bool,
    upgrade: Option<Span>,
    expect_continue: bool,
    host: Option<Span>,
    host_from_target: bool,
}

/// The smuggling, Host and target rules, and the facts the proxy acts on.
fn decide(
    buf: &[u8],
    line: &head::StartLine,
    headers: &[HeaderSpan],
) -> Result<Decided, HeadError> {
    let method = line.first.get(buf);
    let http11 = line.minor_version >= 1;
    if method == b"CONNECT" {
        return Err(HeadError::ConnectNotSupported);
    }
    let target = classify_target(buf, line.second, method)?;
    let facts = Facts::gather(headers, buf);

    // Framing, RFC 9112 §6.1 and §6.3. Every ambiguity is refused: fastlb forwards the head
    // as received, so the server must be unable to read a different message length.
    let length = facts.length()?;
    let framing = if facts.codings.present {
        if !http11 {
            return Err(HeadError::TransferEncodingHttp10);
        }
        if facts.content_length_fields > 0 {
            return Err(HeadError::LengthAndChunked);
        }
        if facts.codings.chunked_misplaced {
            return Err(HeadError::ChunkedNotLast);
        }
        // Only `chunked` alone: a server that does not know `gzip` as a transfer coding may
        // misread the framing, and no client needs it (HAProxy refuses them too, with 422).
        if facts.codings.other {
            return Err(HeadError::UnknownTransferCoding);
        }
        if !facts.codings.chunked_last {
            return Err(HeadError::ChunkedNotLast);
        }
        BodyFraming::Chunked
    } else {
        match length {
            Some(length) => BodyFraming::Length(length),
            None => BodyFraming::None,
        }
    };

    // Host, RFC 9112 §3.2: exactly one in HTTP/1.1; the absolute-form authority wins.
    if facts.host_fields > 1 {
        return Err(HeadError::DuplicateHost);
    }
    if http11 && facts.host_fields == 0 {
        return Err(HeadError::MissingHost);
    }
    if let Some(host) = facts.host {
        if !fields::valid_authority(host.get(buf)) {
            return Err(HeadError::BadHost);
        }
    }
    let (host, host_from_target) = match target.authority {
        Some(authority) => (Some(authority), true),
        None => (facts.host, false),
    };

    Ok(Decided {
        path: target.path,
        framing,
        keep_alive: facts.keep_alive(line.minor_version),
        // RFC 9110 §7.8: Upgrade needs `Connection: upgrade`, and is ignored in HTTP/1.0.
        upgrade: facts.upgrade.filter(|_| http11 && facts.connection_upgrade),
        // RFC 9110 §10.1.1: 100-continue is ignored in an HTTP/1.0 request.
        expect_continue: http11 && facts.expect_continue,
        host,
        host_from_target,
    })
}

struct Target {
    path: Span,
    authority: Option<Span>,
}

/// The request-target forms of RFC 9112 §3.2: origin-form (`/path?query`), absolute-form
/// (`http://authority/path?query`, which a proxy must accept), `*` for OPTIONS only.
/// authority-form is CONNECT's, refused before. No fragment (`#`) in any form.
fn classify_target(buf: &[u8], target: Span, method: &[u8]) -> Result<Target, HeadError> {
    let bytes = target.get(buf);
    if bytes.contains(&b'#') {
        return Err(HeadError::BadTarget);
    }
    match bytes.first() {
        Some(b'/') => {
            return Ok(Target {
                path: target,
                authority: None,
            })
        }
        Some(b'*') if bytes.len() == 1 && method == b"OPTIONS" => {
            return Ok(Target {
                path: target,
                authority: None,
            })
        }
        _ => {}
    }
    let scheme_len = if starts_with_ignore_case(bytes, b"http://") {
        7
    } else if starts_with_ignore_case(bytes, b"https://") {
        8
    } else {
        return Err(HeadError::BadTarget);
    };
    let rest = &bytes[scheme_len..];
    let authority_len = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    // `http://host?query` (empty path, then a query) would need a `/` we cannot point at:
    // refused, no client sends it.
    if authority.is_empty() || rest.get(authority_len) == Some(&b'?') {
        return Err(HeadError::BadTarget);
    }
    if !fields::valid_authority(authority) {
        return Err(HeadError::BadHost);
    }
    let start = target.start() + scheme_len;
    Ok(Target {
        authority: Some(Span::new(start, start + authority_len)),
        path: Span::new(start + authority_len, target.end()),
    })
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

impl RequestHead {
    /// The method, e.g. `b"GET"`.
    pub fn method<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.method.get(buf)
    }

    /// Path and query (origin-form), see [`RequestHead::path`].
    pub fn path<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        if self.path.is_empty() {
            // absolute-form with an empty path (`http://host`): RFC 9112 §3.2.1 says "/".
            return b"/";
        }
        self.path.get(buf)
    }

    /// The host as sent (port included), see [`RequestHead::host`].
    pub fn host<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.host.map(|span| span.get(buf))
    }

    /// The value of the first field called `name` (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        super::fields::find(&self.headers, buf, name.as_bytes())
    }

    /// The values of every field called `name` (ASCII case-insensitive), in order.
    pub fn headers_named<'b>(
        &'b self,
        buf: &'b [u8],
        name: &'b str,
    ) -> impl Iterator<Item = &'b [u8]> + 'b {
        self.headers
            .iter()
            .filter(move |h| h.name.get(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(move |h| h.value.get(buf))
    }

    /// True for `HEAD` (its response never has a body).
    pub fn is_head(&self, buf: &[u8]) -> bool {
        self.method(buf) == b"HEAD"
    }

    /// The head with its buffer, for routing.
    pub fn view<'a>(&'a self, buf: &'a [u8]) -> RequestView<'a> {
        RequestView { head: self, buf }
    }

    /// Gives the span vector back for reuse: `scratch.recycle(head.into_spans())`.
    pub fn into_spans(self) -> Vec<HeaderSpan> {
        self.headers
    }
}

impl<'a> RequestView<'a> {
    /// See [`RequestHead::method`].
    pub fn method(&self) -> &'a [u8] {
        self.head.method(self.buf)
    }

    /// See [`RequestHead::path`].
    pub fn path(&self) -> &'a [u8] {
        self.head.path(self.buf)
    }

    /// See [`RequestHead::host`].
    pub fn host(&self) -> Option<&'a [u8]> {
        self.head.host(self.buf)
    }

    /// See [`RequestHead::header`].
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.head.header(self.buf, name)
    }
}
