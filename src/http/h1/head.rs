//! The httparse call shared by requests and responses: the header slots on the stack, the
//! size limits, line-ending checks, and spans instead of borrowed slices.

use std::mem::MaybeUninit;

use httparse::{Header, ParserConfig, Status};

use super::{scan, HeadError, HeaderSpan, Limits, Span};

/// Header slots kept on the stack: 128 × 32 bytes, uninitialised so free to set up. Larger
/// `max_headers` settings take a heap array per head instead.
const STACK_HEADERS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Request,
    Response,
}

/// The start line: method and target of a request, status and reason of a response.
#[derive(Debug, Clone, Copy)]
pub(super) struct StartLine {
    pub len: usize,
    pub minor_version: u8,
    /// Method / reason phrase.
    pub first: Span,
    /// Target (requests).
    pub second: Span,
    /// Status code (responses).
    pub status: u16,
}

/// Parses the head at the start of `buf` into `headers`. `Ok(None)`: incomplete.
pub(super) fn parse(
    buf: &[u8],
    limits: &Limits,
    headers: &mut Vec<HeaderSpan>,
    kind: Kind,
) -> Result<Option<StartLine>, HeadError> {
    // Never look past the limit: a head that does not end within it is refused whole,
    // whether or not more of it has arrived (HAProxy's `tune.bufsize` behaviour).
    let window = &buf[..buf.len().min(limits.max_header_size)];
    let parsed = if limits.max_headers <= STACK_HEADERS {
        let mut slots = [MaybeUninit::<Header<'_>>::uninit(); STACK_HEADERS];
        run(buf, window, &mut slots[..limits.max_headers], headers, kind)
    } else {
        let mut slots = vec![MaybeUninit::<Header<'_>>::uninit(); limits.max_headers];
        run(buf, window, &mut slots, headers, kind)
    }?;
    match parsed {
        Some(line) => {
            scan::check_lines(&buf[..line.len])?;
            Ok(Some(line))
        }
        None if buf.len() >= limits.max_header_size => Err(HeadError::TooLarge),
        None => Ok(None),
    }
}

fn run<'b>(
    buf: &'b [u8],
    window: &'b [u8],
    slots: &mut [MaybeUninit<Header<'b>>],
    headers: &mut Vec<HeaderSpan>,
    kind: Kind,
) -> Result<Option<StartLine>, HeadError> {
    let config = ParserConfig::default();
    let (status, mut line, parsed) = match kind {
        Kind::Request => {
            let mut request = httparse::Request::new(&mut []);
            let status = config
                .parse_request_with_uninit_headers(&mut request, window, slots)
                .map_err(|e| scan::classify(window, e, false))?;
            let line = StartLine {
                len: 0,
                minor_version: request.version.unwrap_or(1),
                first: Span::of(buf, request.method.unwrap_or("").as_bytes()),
                second: Span::of(buf, request.path.unwrap_or("").as_bytes()),
                status: 0,
            };
            (status, line, &*request.headers)
        }
        Kind::Response => {
            let mut response = httparse::Response::new(&mut []);
            let status = config
                .parse_response_with_uninit_headers(&mut response, window, slots)
                .map_err(|e| scan::classify(window, e, true))?;
            let line = StartLine {
                len: 0,
                minor_version: response.version.unwrap_or(1),
                first: Span::of(buf, response.reason.unwrap_or("").as_bytes()),
                second: Span::default(),
                status: response.code.unwrap_or(0),
            };
            (status, line, &*response.headers)
        }
    };
    let Status::Complete(len) = status else {
        return Ok(None);
    };
    line.len = len;
    headers.extend(parsed.iter().map(|h| HeaderSpan {
        name: Span::of(buf, h.name.as_bytes()),
        value: Span::of(buf, h.value),
    }));
    Ok(Some(line))
}
