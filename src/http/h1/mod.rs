//! The HTTP/1.1 codec of `mode: http`: pure functions over byte buffers, no I/O (docs/http.md).
//!
//! The proxy session reads bytes into its own buffer and asks this module what they mean:
//!
//! * [`parse_request`] / [`parse_response`] parse a message head with `httparse` (zero-copy,
//!   SIMD, header names keep their case) and return a [`RequestHead`] / [`ResponseHead`] that
//!   records **offsets** ([`Span`]) into the caller's buffer, plus the facts the proxy acts on:
//!   body framing, keep-alive, upgrade, `Expect: 100-continue`, host. `Ok(None)` means "the
//!   head is not complete yet: read more and call again with the longer buffer".
//!   Everything that could let two parsers disagree on where a message ends (request
//!   smuggling, RFC 9112 §6 and §11.2) is refused with a [`HeadError`] that knows its status
//!   code; the rules follow HAProxy's and pingora's strict behaviour.
//! * [`BodyReader`] follows a body as its bytes arrive (Content-Length, chunked, until close)
//!   and says how many belong to the current message; chunked syntax is validated as it
//!   streams, never re-encoded: the proxy forwards the raw bytes.
//! * [`write_request_head`] / [`write_response_head`] serialise a head for the other side:
//!   original header-name case, hop-by-hop fields removed (RFC 9110 §7.6.1), the caller's
//!   header edits, the forwarding headers ([`forwarded`]) and the `Connection` the proxy chose.
//! * [`error_response`] / [`redirect_response`]: fastlb's own small responses.
//!
//! Hot path: no allocation per header. httparse fills an uninitialised array on the stack;
//! the head keeps its spans in a `Vec` the caller recycles through [`HeadScratch`], so a
//! keep-alive connection parses request after request without touching the allocator.
//!
//! Spans are offsets into the buffer handed to the parser, whose first byte is the first byte
//! of the head: pass that same buffer (at least `head.len` bytes of it) to the accessors.

mod body;
mod canned;
mod error;
mod fields;
pub mod forwarded;
mod head;
mod request;
mod response;
mod scan;
mod write;

#[cfg(test)]
mod tests;

pub use body::{BodyError, BodyReader, Progress, MAX_CHUNK_LINE, MAX_TRAILER_SIZE};
pub use canned::{error_response, reason_phrase, redirect_response};
pub use error::HeadError;
pub use forwarded::Forwarding;
pub use request::{parse_request, RequestHead, RequestView};
pub use response::{parse_response, ResponseHead};
pub use write::{write_request_head, write_response_head, ConnectionHeader};

/// A byte range `start..end` of the buffer a head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span `start..end`.
    fn new(start: usize, end: usize) -> Span {
        // Heads are bounded by `Limits::max_header_size`, far below u32::MAX.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The span of `part`, a sub-slice of `buf` (as httparse hands them out). An empty
    /// `part` from elsewhere (httparse's `""` for a missing reason phrase) is `0..0`.
    fn of(buf: &[u8], part: &[u8]) -> Span {
        let offset = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        if offset > buf.len() || part.len() > buf.len() - offset {
            debug_assert!(part.is_empty(), "span of bytes outside the buffer");
            return Span::default();
        }
        Span::new(offset, offset + part.len())
    }

    /// The bytes of this span in `buf` (the buffer the head was parsed from).
    #[inline]
    pub fn get(self, buf: &[u8]) -> &[u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// Offset of the first byte.
    pub fn start(self) -> usize {
        self.start as usize
    }

    /// Offset one past the last byte.
    pub fn end(self) -> usize {
        self.end as usize
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// True for an empty range.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One header field: its name (case as received) and its value (surrounding whitespace
/// trimmed), as offsets into the head's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderSpan {
    pub name: Span,
    pub value: Span,
}

/// Size limits of a head (`http.max_header_size`, `http.max_headers`): 431 beyond them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes in the request line + headers + the empty line.
    pub max_header_size: usize,
    /// Most header fields.
    pub max_headers: usize,
}

impl Default for Limits {
    /// HAProxy's defaults: `tune.bufsize` 16384 for the head, 100 header fields.
    fn default() -> Self {
        Limits {
            max_header_size: 16384,
            max_headers: 100,
        }
    }
}

/// How the body of a message is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all (a request without Content-Length / Transfer-Encoding, a response to
    /// HEAD, 1xx, 204, 304).
    None,
    /// Exactly this many bytes (`Content-Length`; may be 0).
    Length(u64),
    /// `Transfer-Encoding: ... chunked`: chunks until the last chunk and the trailer section.
    Chunked,
    /// Responses only: the body runs until the server closes the connection.
    UntilClose,
}

/// Reusable storage for header spans, owned by the connection: [`parse_request`] and
/// [`parse_response`] take its vector (keeping the capacity) and the caller gives it back
/// with [`HeadScratch::recycle`] when the head is done with.
#[derive(Debug, Default)]
pub struct HeadScratch {
    spans: Vec<HeaderSpan>,
}

impl HeadScratch {
    /// Empty scratch; the first heads allocate, recycled ones do not.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes back the span vector of a head that is no longer needed.
    pub fn recycle(&mut self, mut spans: Vec<HeaderSpan>) {
        if spans.capacity() > self.spans.capacity() {
            spans.clear();
            self.spans = spans;
        }
    }

    /// The vector for the next head: empty, with whatever capacity was recycled.
    fn take(&mut self) -> Vec<HeaderSpan> {
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        spans
    }
}
