//! Serialising heads for the other side: the original field-name case, hop-by-hop fields
//! removed (RFC 9110 §7.6.1), the caller's edits, and the `Connection` the proxy chose.

use super::forwarded::Forwarding;
use super::{RequestHead, ResponseHead};

/// The `Connection` field written on a forwarded head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// None: HTTP/1.1's default is keep-alive.
    Omit,
    /// `Connection: keep-alive`.
    KeepAlive,
    /// `Connection: close`.
    Close,
    /// `Connection: upgrade`, and the head's `Upgrade` field is kept.
    Upgrade,
}

/// Appends to `out` the request line (`method target HTTP/1.1`, the target in origin-form)
/// and the request's fields from `buf`, minus hop-by-hop fields and those `drop` selects,
/// plus the forwarding headers, `extra` fields, and `connection`, then the empty line.
pub fn write_request_head<'e>(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    drop: impl Fn(&[u8]) -> bool,
    forwarding: Option<&Forwarding<'_>>,
    extra: impl IntoIterator<Item = (&'e str, &'e str)>,
    connection: ConnectionHeader,
) {
    let _ = (
        out,
        buf,
        head,
        &drop,
        forwarding,
        extra.into_iter(),
        connection,
    );
    todo!()
}

/// Appends to `out` the status line (`HTTP/1.1 status reason`) and the response's fields,
/// minus hop-by-hop fields and those `drop` selects, plus `extra` and `connection`.
/// Content-Length and Transfer-Encoding are kept: the body is passed through as framed.
pub fn write_response_head<'e>(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    drop: impl Fn(&[u8]) -> bool,
    extra: impl IntoIterator<Item = (&'e str, &'e str)>,
    connection: ConnectionHeader,
) {
    let _ = (out, buf, head, &drop, extra.into_iter(), connection);
    todo!()
}
