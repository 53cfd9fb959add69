//! An HTTP/2 request as routing sees it, and its translation into the HTTP/1.1 request
//! head sent to a server (RFC 9113 §8.3 pseudo-header fields → request line and `Host`).
//!
//! The `h2` crate has already refused what RFC 9113 §8.2 calls malformed: uppercase or
//! invalid names, control characters in values, connection-specific fields, `TE` other than
//! `trailers`, and a `Content-Length` that disagrees with the DATA frames. So no byte can
//! break out of a field line of the HTTP/1.1 head written here.

use http::header::{COOKIE, HOST};
use http::request::Parts;
use http::Method;

use super::response::is_connection_specific;
use crate::http::h1::Forwarding;
use crate::http::routing::{HeaderEdits, RequestHead};

/// A received request's head (pseudo-header fields and fields), for routing.
pub(crate) struct H2Request<'a> {
    pub parts: &'a Parts,
}

impl H2Request<'_> {
    /// The origin-form target (`:path`); `/` when the request has none.
    pub fn target(&self) -> &str {
        self.parts
            .uri
            .path_and_query()
            .map_or("/", |target| target.as_str())
    }

    /// `:authority`, else the `Host` field (RFC 9113 §8.3.1: a client that converts from
    /// HTTP/1.1 may send `Host` instead).
    pub fn authority(&self) -> Option<&[u8]> {
        match self.parts.uri.authority() {
            Some(authority) => Some(authority.as_str().as_bytes()),
            None => self.parts.headers.get(HOST).map(|host| host.as_bytes()),
        }
    }
}

impl RequestHead for H2Request<'_> {
    fn method(&self) -> &[u8] {
        self.parts.method.as_str().as_bytes()
    }

    fn path(&self) -> &[u8] {
        self.target().as_bytes()
    }

    fn host(&self) -> Option<&[u8]> {
        self.authority()
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        // HeaderMap lookups by `&str` compare case-insensitively, without allocating.
        self.parts.headers.get(name).map(|value| value.as_bytes())
    }
}

/// How the request body is framed towards the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UploadFraming {
    /// No body (END_STREAM on the HEADERS frame).
    None,
    /// The client's `Content-Length`: the DATA bytes are forwarded as they are.
    Length,
    /// No length known: chunked coding to the server (RFC 9112 §7.1).
    Chunked,
}

impl UploadFraming {
    /// The framing for a request whose HEADERS `ended` the stream or not.
    pub fn of(parts: &Parts, ended: bool) -> UploadFraming {
        if ended {
            UploadFraming::None
        } else if parts.headers.contains_key(http::header::CONTENT_LENGTH) {
            UploadFraming::Length
        } else {
            UploadFraming::Chunked
        }
    }
}

/// The parts of a forwarded head that are not the request's own.
pub(crate) struct Forward<'a> {
    pub edits: &'a HeaderEdits,
    pub forwarding: &'a Forwarding<'a>,
    pub framing: UploadFraming,
    /// `Connection: close` to the server (`server_reuse: false`).
    pub close: bool,
}

/// Appends the HTTP/1.1 request head for `request` to `out`: request line, `Host` from
/// `:authority`, the fields (cookies joined, RFC 9113 §8.2.3), the edits, the forwarding
/// headers, the body framing and `Connection`.
pub(crate) fn write_h1_head(out: &mut Vec<u8>, request: &H2Request<'_>, forward: &Forward<'_>) {
    let parts = request.parts;
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(request.target().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let host = request.authority();
    if let Some(host) = host {
        field(out, b"host", host);
    }
    let mut cookies = parts.headers.get_all(COOKIE).iter();
    if let Some(first) = cookies.next() {
        if !forward.edits.drops(b"cookie") && !forward.forwarding.drops(b"cookie") {
            out.extend_from_slice(b"cookie: ");
            out.extend_from_slice(first.as_bytes());
            for more in cookies {
                out.extend_from_slice(b"; ");
                out.extend_from_slice(more.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in &parts.headers {
        let name = name.as_str().as_bytes();
        // Host went first; cookies are joined above; the session frames the body itself.
        if name == b"host"
            || name == b"cookie"
            || is_connection_specific(name)
            || (forward.framing != UploadFraming::Length && name == b"content-length")
            || forward.edits.drops(name)
            || forward.forwarding.drops(name)
        {
            continue;
        }
        field(out, name, value.as_bytes());
    }
    for (name, value) in forward.edits.appends() {
        field(out, name.as_bytes(), value.as_bytes());
    }
    let incoming = ForwardingFields {
        headers: &parts.headers,
        name: 0,
        value: 0,
    };
    forward.forwarding.write(out, incoming, host);
    match forward.framing {
        UploadFraming::Length => {}
        UploadFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        // RFC 9110 §8.6: a user agent sends Content-Length: 0 for a method that defines a
        // body (POST, PUT, PATCH, ...) when it has none; GET-like methods send nothing.
        UploadFraming::None if !bodyless_method(&parts.method) => {
            out.extend_from_slice(b"content-length: 0\r\n")
        }
        UploadFraming::None => {}
    }
    if forward.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The received fields that [`Forwarding::write`] looks at (it extends a trusted peer's
/// lists), as the cloneable iterator it takes; `HeaderMap`'s own iterators are not `Clone`.
#[derive(Clone)]
struct ForwardingFields<'a> {
    headers: &'a http::HeaderMap,
    name: usize,
    value: usize,
}

impl<'a> Iterator for ForwardingFields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        const NAMES: [&str; 4] = [
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "forwarded",
        ];
        while let Some(&name) = NAMES.get(self.name) {
            // A name rarely has more than one field: re-walking its values costs nothing.
            if let Some(value) = self.headers.get_all(name).iter().nth(self.value) {
                self.value += 1;
                return Some((name.as_bytes(), value.as_bytes()));
            }
            self.name += 1;
            self.value = 0;
        }
        None
    }
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Methods whose requests have no body by definition (RFC 9110 §9.3).
fn bodyless_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Whether a request can be sent again on another connection after the first one failed
/// before any response byte (RFC 9110 §9.2.2 idempotent methods, HAProxy `retry-on`).
pub(crate) fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}
