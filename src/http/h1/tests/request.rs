//! Request heads that parse: what they record, pipelining, incremental arrival, limits.

use super::*;

#[test]
fn records_the_request_line_and_facts() {
    let raw = b"GET /a/b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-Mixed-Case: v\r\n\r\n";
    let head = ok(raw);
    assert_eq!(head.len, raw.len());
    assert_eq!(head.method(raw), b"GET");
    assert_eq!(head.path(raw), b"/a/b?x=1");
    assert_eq!(head.target.get(raw), b"/a/b?x=1");
    assert_eq!(head.host(raw), Some(&b"example.com:8080"[..]));
    assert_eq!(head.minor_version, 1);
    assert_eq!(head.framing, BodyFraming::None);
    assert!(head.keep_alive);
    assert!(head.upgrade.is_none());
    assert!(!head.expect_continue);
    assert_eq!(head.headers.len(), 2);
    assert_eq!(head.headers[1].name.get(raw), b"X-Mixed-Case");
    assert_eq!(head.header(raw, "x-mixed-case"), Some(&b"v"[..]));
    assert_eq!(head.header(raw, "absent"), None);
    let view = head.view(raw);
    assert_eq!(view.method(), b"GET");
    assert_eq!(view.host(), Some(&b"example.com:8080"[..]));
}

#[test]
fn header_returns_the_first_field() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\n\r\n";
    assert_eq!(ok(raw).header(raw, "ACCEPT"), Some(&b"a"[..]));
}

#[test]
fn values_are_trimmed() {
    let raw = b"GET / HTTP/1.1\r\nHost: \t h \t\r\nX-Empty:\r\n\r\n";
    let head = ok(raw);
    assert_eq!(head.host(raw), Some(&b"h"[..]));
    assert_eq!(head.header(raw, "x-empty"), Some(&b""[..]));
}

#[test]
fn content_length_and_chunked_framing() {
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n";
    assert_eq!(ok(raw).framing, BodyFraming::Length(42));
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(ok(raw).framing, BodyFraming::Length(0));
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(ok(raw).framing, BodyFraming::Chunked);
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n";
    assert_eq!(ok(raw).framing, BodyFraming::Chunked);
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(ok(raw).framing, BodyFraming::Chunked);
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        u64::MAX
    );
    assert_eq!(ok(raw.as_bytes()).framing, BodyFraming::Length(u64::MAX));
}

#[test]
fn keep_alive_rules() {
    assert!(ok(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
    let head = ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(head.keep_alive);
    assert_eq!(head.minor_version, 0);
    assert!(head.host.is_none());
    assert!(!ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

#[test]
fn upgrade_needs_connection_upgrade_and_http11() {
    let raw = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(ok(raw).upgrade.map(|s| s.get(raw)), Some(&b"websocket"[..]));
    assert!(
        ok(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n")
            .upgrade
            .is_none()
    );
    let raw = b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert!(ok(raw).upgrade.is_none());
}

#[test]
fn expect_continue() {
    assert!(
        ok(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
            .expect_continue
    );
    assert!(
        !ok(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expect_continue
    );
}

#[test]
fn absolute_form_authority_wins_over_host() {
    let raw = b"GET http://Real.example:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n";
    let head = ok(raw);
    assert_eq!(head.host(raw), Some(&b"Real.example:81"[..]));
    assert!(head.host_from_target);
    assert_eq!(head.path(raw), b"/p?q");
    let raw = b"GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(ok(raw).path(raw), b"/");
}

#[test]
fn options_asterisk() {
    let raw = b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(ok(raw).path(raw), b"*");
    assert_eq!(
        refused(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
        HeadError::BadTarget
    );
}

#[test]
fn leading_empty_lines_are_skipped() {
    let raw = b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let head = ok(raw);
    assert_eq!(head.len, raw.len());
    assert_eq!(head.method(raw), b"GET");
}

#[test]
fn pipelined_requests_in_one_buffer() {
    let raw = b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut scratch = HeadScratch::new();
    let limits = Limits::default();
    let mut at = 0;
    let mut paths = Vec::new();
    while at < raw.len() {
        let buf = &raw[at..];
        let head = parse_request(buf, &limits, &mut scratch).unwrap().unwrap();
        paths.push(String::from_utf8(head.path(buf).to_vec()).unwrap());
        at += head.len;
        if let BodyFraming::Length(n) = head.framing {
            at += n as usize;
        }
        scratch.recycle(head.into_spans());
    }
    assert_eq!(paths, ["/1", "/2", "/3"]);
}

#[test]
fn incremental_byte_by_byte() {
    let raw = b"GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n";
    let mut scratch = HeadScratch::new();
    for end in 0..raw.len() {
        assert_eq!(
            parse_request(&raw[..end], &Limits::default(), &mut scratch),
            Ok(None),
            "at {end}"
        );
    }
    let head = parse_request(raw, &Limits::default(), &mut scratch)
        .unwrap()
        .unwrap();
    assert_eq!(head.len, raw.len());
}

#[test]
fn recycled_spans_are_reused() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    let mut scratch = HeadScratch::new();
    let head = parse_request(raw, &Limits::default(), &mut scratch)
        .unwrap()
        .unwrap();
    let spans = head.into_spans();
    let pointer = spans.as_ptr();
    scratch.recycle(spans);
    let head = parse_request(raw, &Limits::default(), &mut scratch)
        .unwrap()
        .unwrap();
    assert_eq!(head.headers.as_ptr(), pointer);
}

#[test]
fn head_larger_than_the_limit_is_431() {
    let limits = Limits {
        max_header_size: 64,
        max_headers: 100,
    };
    let mut scratch = HeadScratch::new();
    let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(100));
    let error = parse_request(long.as_bytes(), &limits, &mut scratch).unwrap_err();
    assert_eq!((error, error.status()), (HeadError::TooLarge, 431));
    // Even incomplete: 64 bytes without the end of the head.
    assert_eq!(
        parse_request(&long.as_bytes()[..64], &limits, &mut scratch),
        Err(HeadError::TooLarge)
    );
    assert_eq!(
        parse_request(&long.as_bytes()[..63], &limits, &mut scratch),
        Ok(None)
    );
    // Exactly at the limit is fine.
    let exact = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(64 - 27));
    assert_eq!(exact.len(), 64);
    assert!(parse_request(exact.as_bytes(), &limits, &mut scratch)
        .unwrap()
        .is_some());
}

#[test]
fn too_many_headers_is_431() {
    let limits = Limits {
        max_header_size: 16384,
        max_headers: 3,
    };
    let mut scratch = HeadScratch::new();
    let three = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    assert!(parse_request(three, &limits, &mut scratch)
        .unwrap()
        .is_some());
    let four = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let error = parse_request(four, &limits, &mut scratch).unwrap_err();
    assert_eq!((error, error.status()), (HeadError::TooManyHeaders, 431));
}

#[test]
fn many_headers_beyond_the_stack_slots() {
    let limits = Limits {
        max_header_size: 65536,
        max_headers: 300,
    };
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..299 {
        raw.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let head = parse_request(&raw, &limits, &mut HeadScratch::new())
        .unwrap()
        .unwrap();
    assert_eq!(head.headers.len(), 300);
    assert_eq!(head.header(&raw, "x-298"), Some(&b"298"[..]));
}

#[test]
fn obs_text_in_values_is_accepted() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n";
    assert_eq!(ok(raw).header(raw, "x-name"), Some(&b"caf\xc3\xa9"[..]));
}
