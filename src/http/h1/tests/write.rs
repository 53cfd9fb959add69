//! Head writers: case preserved, hop-by-hop removal, caller drops and extras, Connection,
//! and the canned responses.

use super::*;

fn request_out(
    raw: &[u8],
    drop: impl Fn(&[u8]) -> bool,
    extra: &[(&str, &str)],
    connection: ConnectionHeader,
) -> String {
    let head = ok(raw);
    let mut out = Vec::new();
    write_request_head(
        &mut out,
        raw,
        &head,
        drop,
        None,
        extra.iter().copied(),
        connection,
    );
    String::from_utf8(out).unwrap()
}

fn response_out(
    raw: &[u8],
    drop: impl Fn(&[u8]) -> bool,
    extra: &[(&str, &str)],
    connection: ConnectionHeader,
) -> String {
    let head = parse_response(raw, &Limits::default(), b"GET", &mut HeadScratch::new())
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    write_response_head(
        &mut out,
        raw,
        &head,
        drop,
        extra.iter().copied(),
        connection,
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn request_case_and_order_preserved() {
    let raw = b"POST /p?q HTTP/1.1\r\nhOsT: h\r\nX-CamelCase: V\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(
        request_out(raw, |_| false, &[], ConnectionHeader::Omit),
        "POST /p?q HTTP/1.1\r\nhOsT: h\r\nX-CamelCase: V\r\nContent-Length: 2\r\n\r\n"
    );
}

#[test]
fn request_hop_by_hop_removed() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret, x-other\r\nKeep-Alive: 5\r\n\
Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\nX-Secret: 1\r\nX-OTHER: 2\r\nX-Kept: 3\r\n\r\n";
    assert_eq!(
        request_out(raw, |_| false, &[], ConnectionHeader::KeepAlive),
        "GET / HTTP/1.1\r\nHost: h\r\nX-Kept: 3\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn connection_cannot_remove_framing_or_host() {
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length, Host\r\nContent-Length: 1\r\n\r\nx";
    assert_eq!(
        request_out(raw, |_| false, &[], ConnectionHeader::Omit),
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n"
    );
    let raw =
        b"HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        response_out(raw, |_| false, &[], ConnectionHeader::Omit),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
}

#[test]
fn upgrade_kept_only_when_forwarding_an_upgrade() {
    let raw = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n";
    assert_eq!(
        request_out(raw, |_| false, &[], ConnectionHeader::Upgrade),
        "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\n\r\n"
    );
    assert_eq!(
        request_out(raw, |_| false, &[], ConnectionHeader::Close),
        "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn caller_drops_and_extras() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Debug: 1\r\nX-Env: dev\r\n\r\n";
    let drop =
        |name: &[u8]| name.eq_ignore_ascii_case(b"x-debug") || name.eq_ignore_ascii_case(b"x-env");
    assert_eq!(
        request_out(
            raw,
            drop,
            &[("X-Env", "prod"), ("X-Add", "a b")],
            ConnectionHeader::Omit
        ),
        "GET / HTTP/1.1\r\nHost: h\r\nX-Env: prod\r\nX-Add: a b\r\n\r\n"
    );
}

#[test]
fn injecting_extras_are_skipped() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let extra = [
        ("X-A", "1\r\nX-Evil: 1"),
        ("Bad Name", "v"),
        ("", "v"),
        ("X-Ok", "ok"),
    ];
    assert_eq!(
        request_out(raw, |_| false, &extra, ConnectionHeader::Omit),
        "GET / HTTP/1.1\r\nHost: h\r\nX-Ok: ok\r\n\r\n"
    );
}

#[test]
fn absolute_form_becomes_origin_form_with_its_host() {
    let raw = b"GET http://a.example/x?y HTTP/1.1\r\nHost: other\r\nAccept: */*\r\n\r\n";
    assert_eq!(
        request_out(raw, |_| false, &[], ConnectionHeader::Omit),
        "GET /x?y HTTP/1.1\r\nAccept: */*\r\nHost: a.example\r\n\r\n"
    );
}

#[test]
fn http10_request_is_sent_as_http11() {
    let raw = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert_eq!(
        request_out(raw, |_| false, &[], ConnectionHeader::KeepAlive),
        "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn response_written_with_framing_kept() {
    let raw = b"HTTP/1.0 200 Fine\r\nServer: nginx\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\nContent-Length: 2\r\nX-Y: z\r\n\r\nok";
    assert_eq!(
        response_out(raw, |n| n.eq_ignore_ascii_case(b"server"), &[("X-Via", "fastlb")], ConnectionHeader::Close),
        "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nX-Y: z\r\nX-Via: fastlb\r\nConnection: close\r\n\r\n"
    );
    let raw =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(
        response_out(raw, |_| false, &[], ConnectionHeader::Upgrade),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
    );
    let raw = b"HTTP/1.1 599\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        response_out(raw, |_| false, &[], ConnectionHeader::Omit),
        "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn written_request_parses_back() {
    let raw = b"PUT /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n";
    let out = request_out(raw, |_| false, &[("X-B", "2")], ConnectionHeader::KeepAlive);
    let again = ok(out.as_bytes());
    assert_eq!(again.framing, BodyFraming::Chunked);
    assert!(again.keep_alive);
    assert_eq!(again.header(out.as_bytes(), "x-a"), None);
    assert_eq!(again.header(out.as_bytes(), "x-b"), Some(&b"2"[..]));
}

#[test]
fn error_response_is_complete() {
    let bytes = error_response(431, HeadError::TooLarge.reason());
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nConnection: close\r\n"));
    assert!(text.ends_with("\r\n\r\nrequest header too large\n"));
    let head = parse_response(&bytes, &Limits::default(), b"GET", &mut HeadScratch::new())
        .unwrap()
        .unwrap();
    assert_eq!(
        head.framing,
        BodyFraming::Length((bytes.len() - head.len) as u64)
    );
    assert!(!head.keep_alive);
    assert!(String::from_utf8(error_response(502, ""))
        .unwrap()
        .ends_with("\r\n\r\nBad Gateway\n"));
}

#[test]
fn redirect_response_is_complete() {
    let bytes = redirect_response(301, "https://h/new?x", true);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://h/new?x\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    );
    let bytes = redirect_response(302, "/a\r\nSet-Cookie: x", false);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "HTTP/1.1 302 Found\r\nLocation: /a%0D%0ASet-Cookie:%20x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}
