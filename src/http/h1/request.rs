//! Request heads: [`parse_request`] and what the proxy needs to know of a request.

use super::{BodyFraming, HeadError, HeadScratch, HeaderSpan, Limits, Span};

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
    let _ = (buf, limits, scratch.take());
    todo!()
}

impl RequestHead {
    /// The method, e.g. `b"GET"`.
    pub fn method<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.method.get(buf)
    }

    /// Path and query (origin-form), see [`RequestHead::path`].
    pub fn path<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
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
