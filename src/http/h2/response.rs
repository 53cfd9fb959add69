//! A server's HTTP/1.1 response head as an HTTP/2 response, and fastlb's own answers on a
//! stream (error pages, redirects).
//!
//! RFC 9113 §8.2.2: the connection-specific fields of HTTP/1.1 (`Connection` and the fields
//! it names, `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`, `Upgrade`) must not
//! appear in an HTTP/2 message; a client treats one as malformed. They are dropped here.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{Response, StatusCode};

use crate::http::h1::{BodyFraming, ResponseHead};
use crate::http::routing::HeaderEdits;

/// The HTTP/1.1 fields that HTTP/2 forbids (RFC 9113 §8.2.2), any case. `TE` is listed:
/// it is hop-by-hop in HTTP/1.1, and only `TE: trailers` is allowed in HTTP/2 requests.
pub(crate) fn is_connection_specific(name: &[u8]) -> bool {
    const FIELDS: [&[u8]; 6] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"te",
    ];
    FIELDS.iter().any(|field| field.eq_ignore_ascii_case(name))
}

/// Whether a `Connection` field of `head` names `name` (RFC 9110 §7.6.1: such fields are
/// hop-by-hop too).
fn named_by_connection(head: &ResponseHead, buf: &[u8], name: &[u8]) -> bool {
    head.headers
        .iter()
        .filter(|field| field.name.get(buf).eq_ignore_ascii_case(b"connection"))
        .flat_map(|field| field.value.get(buf).split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(name))
}

/// The HTTP/2 response for the HTTP/1.1 `head` parsed from `buf`: its status and fields,
/// minus the connection-specific ones and those `edits` remove, plus `edits`' own.
/// `Content-Length` stays when the body is length-delimited (or absent, as for HEAD or
/// 304), so the client knows the size; a field that is not valid in HTTP/2 is skipped.
pub(crate) fn from_h1(buf: &[u8], head: &ResponseHead, edits: &HeaderEdits) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    headers.reserve(head.headers.len() + 2);
    // The values are slices of one copy of the head: one allocation, not one per field
    // (a `HeaderValue` made from bytes copies them into its own).
    let block = Bytes::copy_from_slice(&buf[..head.len]);
    let has_connection = head
        .headers
        .iter()
        .any(|field| field.name.get(buf).eq_ignore_ascii_case(b"connection"));
    for field in &head.headers {
        let name = field.name.get(buf);
        if is_connection_specific(name)
            || edits.drops(name)
            || (head.framing == BodyFraming::Chunked
                && name.eq_ignore_ascii_case(b"content-length"))
            || (has_connection && named_by_connection(head, buf, name))
        {
            continue;
        }
        let value = block.slice(field.value.start()..field.value.start() + field.value.len());
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared(value),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    append_edits(headers, edits);
    response
}

/// `edits`' `set` and `add` fields (validated as tokens and values when compiled).
fn append_edits(headers: &mut http::HeaderMap, edits: &HeaderEdits) {
    for (name, value) in edits.appends() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
}

/// fastlb's own short `text/plain` answer with `status` (502, 503, 504, 400, ...), as the
/// HTTP/1.1 side's error pages say it.
#[cold]
pub(crate) fn error_page(status: u16) -> (Response<()>, Bytes) {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = Bytes::from(format!("{} {reason}\n", status.as_u16()));
    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    (response, body)
}

/// A redirect to `location` with `status`, empty, with the redirect route's response edits.
pub(crate) fn redirect(status: u16, location: &str, edits: &HeaderEdits) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    let headers = response.headers_mut();
    // The Location is percent-encoded visible ASCII (routing guarantees it).
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, value);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    append_edits(headers, edits);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_specific_fields_any_case() {
        for name in [
            "Connection",
            "KEEP-ALIVE",
            "proxy-connection",
            "Transfer-Encoding",
            "upgrade",
            "TE",
        ] {
            assert!(is_connection_specific(name.as_bytes()), "{name}");
        }
        for name in ["content-length", "x-connection", "trailer", "tea"] {
            assert!(!is_connection_specific(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn error_pages_say_their_status() {
        let (response, body) = error_page(503);
        assert_eq!(response.status(), 503);
        assert_eq!(&body[..], b"503 Service Unavailable\n");
        assert_eq!(
            response.headers()[CONTENT_LENGTH],
            body.len().to_string().as_str()
        );
    }
}
