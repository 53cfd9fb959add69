//! Request heads that must be refused (RFC 9112 §6, §11.2; HAProxy's and pingora's rules):
//! each with its own error and status code.

use super::*;

fn refused_with(raw: &[u8], error: HeadError, status: u16) {
    let got = refused(raw);
    assert_eq!(
        (got, got.status()),
        (error, status),
        "{:?}",
        String::from_utf8_lossy(raw)
    );
}

#[test]
fn cl_te_both_present() {
    refused_with(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
        HeadError::LengthAndChunked,
        400,
    );
}

#[test]
fn te_cl_both_present() {
    refused_with(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
        HeadError::LengthAndChunked,
        400,
    );
}

#[test]
fn te_te_second_field_with_unknown_coding() {
    refused_with(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
        HeadError::ChunkedNotLast,
        400,
    );
}

#[test]
fn te_te_space_before_colon() {
    refused_with(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n",
        HeadError::SpaceBeforeColon,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n",
        HeadError::SpaceBeforeColon,
        400,
    );
}

#[test]
fn te_te_xchunked_is_an_unknown_coding() {
    refused_with(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n",
        HeadError::UnknownTransferCoding,
        501,
    );
    refused_with(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br, chunked\r\n\r\n",
        HeadError::UnknownTransferCoding,
        501,
    );
}

#[test]
fn te_te_chunked_then_identity() {
    refused_with(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        HeadError::ChunkedNotLast,
        400,
    );
}

#[test]
fn chunked_not_final_or_twice() {
    for te in ["gzip", "chunked, gzip", "chunked, chunked", "", " , "] {
        let raw = format!("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: {te}\r\n\r\n");
        refused_with(raw.as_bytes(), HeadError::ChunkedNotLast, 400);
    }
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
    refused_with(raw, HeadError::ChunkedNotLast, 400);
}

#[test]
fn transfer_encoding_in_http10() {
    refused_with(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        HeadError::TransferEncodingHttp10,
        400,
    );
}

#[test]
fn several_content_lengths_even_identical() {
    for raw in [
        &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4,4\r\n\r\n",
    ] {
        refused_with(raw, HeadError::DuplicateContentLength, 400);
    }
}

#[test]
fn invalid_content_lengths() {
    for cl in [
        "+4",
        "-4",
        "0x10",
        "4 4",
        "four",
        "",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {cl}\r\n\r\n");
        refused_with(raw.as_bytes(), HeadError::BadContentLength, 400);
    }
}

#[test]
fn obs_fold() {
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n",
        HeadError::ObsFold,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n",
        HeadError::ObsFold,
        400,
    );
    // Whitespace before the first field (RFC 9112 §2.2) is the same trick.
    refused_with(
        b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
        HeadError::ObsFold,
        400,
    );
}

#[test]
fn bare_lf_line_endings() {
    refused_with(b"GET / HTTP/1.1\nHost: h\n\n", HeadError::BareLf, 400);
    refused_with(b"GET / HTTP/1.1\r\nHost: h\n\r\n", HeadError::BareLf, 400);
    refused_with(b"GET / HTTP/1.1\r\nHost: h\r\n\n", HeadError::BareLf, 400);
    refused_with(
        b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        HeadError::BareLf,
        400,
    );
    // A body-like second head after the bare LF cannot be smuggled either.
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\nX: 1\nContent-Length: 5\r\n\r\n",
        HeadError::BareLf,
        400,
    );
}

#[test]
fn bare_cr() {
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
        HeadError::BareCr,
        400,
    );
    refused_with(b"GET / HTTP/1.1\rHost: h\r\n\r\n", HeadError::BareCr, 400);
}

#[test]
fn invalid_characters() {
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n",
        HeadError::BadHeaderName,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\nX\x00A: 1\r\n\r\n",
        HeadError::BadHeaderName,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
        HeadError::BadHeaderValue,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n",
        HeadError::BadHeaderValue,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n",
        HeadError::BadHeaderName,
        400,
    );
}

#[test]
fn malformed_request_lines() {
    for raw in [
        &b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        let error = refused(raw);
        assert_eq!(
            error.status(),
            400,
            "{error:?} for {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    refused_with(
        b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        HeadError::BadVersion,
        505,
    );
    refused_with(
        b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
        HeadError::BadVersion,
        505,
    );
    refused_with(
        b"GET / HTTQ/1.1\r\nHost: h\r\n\r\n",
        HeadError::BadRequestLine,
        400,
    );
}

#[test]
fn host_rules() {
    refused_with(b"GET / HTTP/1.1\r\n\r\n", HeadError::MissingHost, 400);
    refused_with(
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
        HeadError::DuplicateHost,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        HeadError::DuplicateHost,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        HeadError::BadHost,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
        HeadError::BadHost,
        400,
    );
    refused_with(
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        HeadError::BadHost,
        400,
    );
    // The absolute-form authority is checked as strictly, and needs a Host field anyway.
    refused_with(
        b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        HeadError::BadHost,
        400,
    );
    refused_with(
        b"GET http://a/ HTTP/1.1\r\n\r\n",
        HeadError::MissingHost,
        400,
    );
}

#[test]
fn request_target_forms() {
    for target in [
        "a/b",
        "ftp://h/",
        "http:/h",
        "http://",
        "http://h?q",
        "/a#frag",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        refused_with(raw.as_bytes(), HeadError::BadTarget, 400);
    }
}

#[test]
fn connect_is_not_implemented() {
    refused_with(
        b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        HeadError::ConnectNotSupported,
        501,
    );
}

#[test]
fn errors_have_reasons() {
    assert_eq!(HeadError::BareLf.to_string(), "bare LF line ending");
    assert_eq!(HeadError::TooLarge.reason(), "request header too large");
}
