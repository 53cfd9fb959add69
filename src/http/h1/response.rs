//! Response heads: [`parse_response`] and the framing of a server's response.

use super::fields::Facts;
use super::{head, BodyFraming, HeadError, HeadScratch, HeaderSpan, Limits, Span};

/// A parsed response head. Spans point into the buffer given to [`parse_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Bytes of the head, status line to the empty line included.
    pub len: usize,
    /// The status code (100..=999).
    pub status: u16,
    /// The reason phrase as sent (may be empty).
    pub reason: Span,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Every header field, in order, name case preserved.
    pub headers: Vec<HeaderSpan>,
    /// How the body is delimited (RFC 9112 §6.3), given the request method.
    pub framing: BodyFraming,
    /// The server keeps the connection open after this response (false for close-delimited
    /// bodies, `Connection: close`, HTTP/1.0 without `keep-alive`).
    pub keep_alive: bool,
    /// The `Upgrade` value of a `101 Switching Protocols`.
    pub upgrade: Option<Span>,
}

/// Parses the response head at the start of `buf`, answering a request with
/// `request_method` (HEAD responses have no body). `Ok(None)`: incomplete.
///
/// A 1xx other than 101 is an interim response ([`ResponseHead::is_interim`]): forward it,
/// then parse the next head after it.
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
    request_method: &[u8],
    scratch: &mut HeadScratch,
) -> Result<Option<ResponseHead>, HeadError> {
    let mut headers = scratch.take();
    let line = match head::parse(buf, limits, &mut headers, head::Kind::Response) {
        Ok(Some(line)) => line,
        other => {
            scratch.recycle(headers);
            return other.map(|_| None);
        }
    };
    let facts = Facts::gather(&headers, buf);
    match decide(&line, &facts, request_method) {
        Ok(framing) => Ok(Some(ResponseHead {
            len: line.len,
            status: line.status,
            reason: line.first,
            minor_version: line.minor_version,
            headers,
            framing,
            keep_alive: framing != BodyFraming::UntilClose && facts.keep_alive(line.minor_version),
            upgrade: facts.upgrade.filter(|_| line.status == 101),
        })),
        Err(error) => {
            scratch.recycle(headers);
            Err(error)
        }
    }
}

/// The body length of a response, RFC 9112 §6.3 in its order. Framing a proxy cannot pass
/// on unambiguously is an error (the client gets a 502): Content-Length together with
/// Transfer-Encoding, several lengths, `chunked` twice, Transfer-Encoding in HTTP/1.0.
fn decide(
    line: &head::StartLine,
    facts: &Facts,
    request_method: &[u8],
) -> Result<BodyFraming, HeadError> {
    if line.status < 100 {
        return Err(HeadError::BadStatusLine);
    }
    let length = facts.length()?;
    if facts.codings.present {
        if line.minor_version == 0 {
            return Err(HeadError::TransferEncodingHttp10);
        }
        if facts.content_length_fields > 0 {
            return Err(HeadError::LengthAndChunked);
        }
        if facts.codings.chunked_misplaced {
            return Err(HeadError::ChunkedNotLast);
        }
    }
    // Rule 1: these never have a body, whatever the fields say.
    if request_method == b"HEAD" || line.status < 200 || line.status == 204 || line.status == 304 {
        return Ok(BodyFraming::None);
    }
    if facts.codings.present {
        // Rule 4: chunked last, else the body runs until the server closes.
        return Ok(if facts.codings.chunked_last {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        });
    }
    Ok(match length {
        Some(length) => BodyFraming::Length(length),
        None => BodyFraming::UntilClose,
    })
}

impl ResponseHead {
    /// The value of the first field called `name` (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        super::fields::find(&self.headers, buf, name.as_bytes())
    }

    /// A 1xx other than 101: forwarded, then another head follows (RFC 9110 §15.2).
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// Gives the span vector back for reuse: `scratch.recycle(head.into_spans())`.
    pub fn into_spans(self) -> Vec<HeaderSpan> {
        self.headers
    }
}
