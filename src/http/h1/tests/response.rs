//! Response heads: framing per RFC 9112 §6.3, keep-alive, interim responses, bad framing.

use super::*;

fn response(raw: &[u8], method: &[u8]) -> Result<Option<ResponseHead>, HeadError> {
    parse_response(raw, &Limits::default(), method, &mut HeadScratch::new())
}

fn framing(raw: &[u8], method: &[u8]) -> BodyFraming {
    response(raw, method).unwrap().unwrap().framing
}

#[test]
fn records_status_reason_and_fields() {
    let raw = b"HTTP/1.1 404 Not Found\r\nServer: x\r\nContent-Length: 3\r\n\r\nabc";
    let head = response(raw, b"GET").unwrap().unwrap();
    assert_eq!(head.status, 404);
    assert_eq!(head.reason.get(raw), b"Not Found");
    assert_eq!(head.len, raw.len() - 3);
    assert_eq!(head.minor_version, 1);
    assert_eq!(head.framing, BodyFraming::Length(3));
    assert!(head.keep_alive);
    assert_eq!(head.header(raw, "server"), Some(&b"x"[..]));
    assert_eq!(head.headers[0].name.get(raw), b"Server");
}

#[test]
fn empty_reason_phrase() {
    let raw = b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n";
    assert!(response(raw, b"GET").unwrap().unwrap().reason.is_empty());
    let raw = b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
    assert!(response(raw, b"GET").unwrap().unwrap().reason.is_empty());
}

#[test]
fn incomplete_until_the_empty_line() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for end in 0..raw.len() {
        assert_eq!(response(&raw[..end], b"GET"), Ok(None), "{end}");
    }
}

#[test]
fn bodiless_responses() {
    let chunked = b"Transfer-Encoding: chunked\r\n\r\n";
    for (status, method) in [
        ("200", &b"HEAD"[..]),
        ("204", b"GET"),
        ("304", b"GET"),
        ("100", b"POST"),
        ("103", b"GET"),
    ] {
        let raw = [format!("HTTP/1.1 {status} X\r\n").as_bytes(), chunked].concat();
        assert_eq!(framing(&raw, method), BodyFraming::None, "{status}");
    }
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    assert_eq!(framing(raw, b"HEAD"), BodyFraming::None);
}

#[test]
fn chunked_length_and_until_close() {
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET"
        ),
        BodyFraming::Chunked
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", b"GET"),
        BodyFraming::Length(7)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\n\r\n", b"GET"),
        BodyFraming::UntilClose
    );
    // RFC 9112 §6.3 rule 4: chunked not last in a response means "read until close".
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"GET"
        ),
        BodyFraming::UntilClose
    );
}

#[test]
fn keep_alive_rules() {
    let keep = |raw: &[u8]| response(raw, b"GET").unwrap().unwrap().keep_alive;
    assert!(keep(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(!keep(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ));
    assert!(!keep(b"HTTP/1.1 200 OK\r\n\r\n"), "close-delimited");
    assert!(!keep(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(keep(
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    ));
}

#[test]
fn interim_and_switching_protocols() {
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut scratch = HeadScratch::new();
    let first = parse_response(raw, &Limits::default(), b"POST", &mut scratch)
        .unwrap()
        .unwrap();
    assert!(first.is_interim());
    let rest = &raw[first.len..];
    let second = parse_response(rest, &Limits::default(), b"POST", &mut scratch)
        .unwrap()
        .unwrap();
    assert!(!second.is_interim());
    assert_eq!(second.framing, BodyFraming::Length(2));

    let raw =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let head = response(raw, b"GET").unwrap().unwrap();
    assert!(!head.is_interim());
    assert_eq!(head.upgrade.map(|s| s.get(raw)), Some(&b"websocket"[..]));
    assert_eq!(head.framing, BodyFraming::None);
}

#[test]
fn invalid_framing_from_a_server() {
    for (raw, error) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            HeadError::LengthAndChunked,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            HeadError::DuplicateContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
            HeadError::BadContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n",
            HeadError::ChunkedNotLast,
        ),
        (
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::TransferEncodingHttp10,
        ),
        (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", HeadError::BareLf),
        (b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", HeadError::ObsFold),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n",
            HeadError::SpaceBeforeColon,
        ),
        (b"HTTP/1.1 2000 OK\r\n\r\n", HeadError::BadStatusLine),
        (b"HTTP/1.1 abc OK\r\n\r\n", HeadError::BadStatusLine),
        (b"HTTP/1.1 099 OK\r\n\r\n", HeadError::BadStatusLine),
    ] {
        assert_eq!(
            response(raw, b"GET"),
            Err(error),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn response_head_limits() {
    let limits = Limits {
        max_header_size: 32,
        max_headers: 1,
    };
    let mut scratch = HeadScratch::new();
    let raw = b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_eq!(
        parse_response(raw, &limits, b"GET", &mut scratch),
        Err(HeadError::TooLarge)
    );
    let raw = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_eq!(
        parse_response(raw, &limits, b"GET", &mut scratch),
        Err(HeadError::TooManyHeaders)
    );
}
