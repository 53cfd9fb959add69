//! Serialising heads for the other side: the original field-name case, hop-by-hop fields
//! removed (RFC 9110 §7.6.1), the caller's edits, and the `Connection` the proxy chose.
//! Framing fields (Content-Length, Transfer-Encoding) are copied as received: the body is
//! passed through raw, so its framing must reach the other side unchanged.

use super::fields;
use super::forwarded::Forwarding;
use super::{HeaderSpan, RequestHead, ResponseHead};

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

/// Appends to `out` the request line (`method path HTTP/1.1`: the target in origin-form, an
/// absolute-form authority becoming the Host field) and the request's fields from `buf`,
/// minus hop-by-hop fields and those `drop` selects (matched on the name as received), plus
/// the forwarding headers, `extra` fields, and `connection`, then the empty line.
pub fn write_request_head<'e>(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    drop: impl Fn(&[u8]) -> bool,
    forwarding: Option<&Forwarding<'_>>,
    extra: impl IntoIterator<Item = (&'e str, &'e str)>,
    connection: ConnectionHeader,
) {
    out.extend_from_slice(head.method(buf));
    out.push(b' ');
    out.extend_from_slice(head.path(buf));
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let keep_upgrade = connection == ConnectionHeader::Upgrade;
    copy_fields(out, buf, &head.headers, keep_upgrade, |name| {
        // RFC 9112 §3.2.2: the absolute-form authority replaces any received Host.
        (head.host_from_target && name.eq_ignore_ascii_case(b"host"))
            || forwarding.is_some_and(|f| f.drops(name))
            || drop(name)
    });
    if head.host_from_target {
        if let Some(host) = head.host(buf) {
            field(out, b"Host", host);
        }
    }
    if let Some(forwarding) = forwarding {
        let incoming = head
            .headers
            .iter()
            .map(|h| (h.name.get(buf), h.value.get(buf)));
        forwarding.write(out, incoming, head.host(buf));
    }
    finish(out, extra, connection);
}

/// Appends to `out` the status line (`HTTP/1.1 status reason`, the server's reason phrase)
/// and the response's fields, minus hop-by-hop fields and those `drop` selects, plus
/// `extra` and `connection`, then the empty line.
pub fn write_response_head<'e>(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    drop: impl Fn(&[u8]) -> bool,
    extra: impl IntoIterator<Item = (&'e str, &'e str)>,
    connection: ConnectionHeader,
) {
    // RFC 9110 §6.2: an intermediary sends its own version; fastlb speaks HTTP/1.1.
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&itoa3(head.status));
    out.push(b' ');
    out.extend_from_slice(head.reason.get(buf));
    out.extend_from_slice(b"\r\n");
    let keep_upgrade = connection == ConnectionHeader::Upgrade;
    copy_fields(out, buf, &head.headers, keep_upgrade, drop);
    finish(out, extra, connection);
}

/// The three digits of a status code (100..=999, guaranteed by httparse).
fn itoa3(status: u16) -> [u8; 3] {
    [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]
}

/// Fields that describe one connection, never forwarded (RFC 9110 §7.6.1, plus the
/// non-standard Proxy-Connection that old clients send).
fn is_hop_by_hop(name: &[u8], keep_upgrade: bool) -> bool {
    match name.len() {
        2 => name.eq_ignore_ascii_case(b"te"),
        7 => {
            name.eq_ignore_ascii_case(b"trailer")
                || (!keep_upgrade && name.eq_ignore_ascii_case(b"upgrade"))
        }
        10 => name.eq_ignore_ascii_case(b"connection") || name.eq_ignore_ascii_case(b"keep-alive"),
        16 => name.eq_ignore_ascii_case(b"proxy-connection"),
        _ => false,
    }
}

/// Fields a `Connection` option cannot remove: fastlb framed and routed the message by them,
/// so a `Connection: Content-Length` must not make the forwarded copy mean something else
/// (a known desync trick against proxies that honour it blindly).
fn is_protected(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"host")
}

/// True when some Connection field lists an option other than the three fastlb acts on:
/// only then is each field name looked up among the options.
fn lists_other_options(buf: &[u8], headers: &[HeaderSpan]) -> bool {
    connection_options(buf, headers).any(|option| {
        !option.eq_ignore_ascii_case(b"close")
            && !option.eq_ignore_ascii_case(b"keep-alive")
            && !option.eq_ignore_ascii_case(b"upgrade")
    })
}

fn connection_options<'b>(
    buf: &'b [u8],
    headers: &'b [HeaderSpan],
) -> impl Iterator<Item = &'b [u8]> {
    headers
        .iter()
        .filter(|h| h.name.get(buf).eq_ignore_ascii_case(b"connection"))
        .flat_map(move |h| fields::list(h.value.get(buf)))
}

fn copy_fields(
    out: &mut Vec<u8>,
    buf: &[u8],
    headers: &[HeaderSpan],
    keep_upgrade: bool,
    drop: impl Fn(&[u8]) -> bool,
) {
    let check_options = lists_other_options(buf, headers);
    for h in headers {
        let name = h.name.get(buf);
        if is_hop_by_hop(name, keep_upgrade) || drop(name) {
            continue;
        }
        if check_options
            && !is_protected(name)
            && connection_options(buf, headers).any(|option| option.eq_ignore_ascii_case(name))
        {
            continue;
        }
        field(out, name, h.value.get(buf));
    }
}

/// The caller's fields, Connection, and the empty line. A caller field that could break the
/// head (a name that is not a token, CR / LF / NUL in the value) is skipped: configuration
/// is validated before it gets here, this is the last line of defence against injection.
fn finish<'e>(
    out: &mut Vec<u8>,
    extra: impl IntoIterator<Item = (&'e str, &'e str)>,
    connection: ConnectionHeader,
) {
    for (name, value) in extra {
        let name_ok = !name.is_empty() && name.bytes().all(fields::is_tchar);
        let value_ok = !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if name_ok && value_ok {
            field(out, name.as_bytes(), value.as_bytes());
        }
    }
    let value: &[u8] = match connection {
        ConnectionHeader::Omit => b"",
        ConnectionHeader::KeepAlive => b"keep-alive",
        ConnectionHeader::Close => b"close",
        ConnectionHeader::Upgrade => b"upgrade",
    };
    if !value.is_empty() {
        field(out, b"Connection", value);
    }
    out.extend_from_slice(b"\r\n");
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}
