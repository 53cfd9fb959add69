//! fastlb's own responses: error pages and redirects, complete messages ready to write.
//! Built once per error, off the hot path; a redirect is the only one on a normal path.

use std::io::Write;

/// The standard reason phrase of `status` (RFC 9110 §15), `""` for codes it does not name.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        425 => "Too Early",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// A complete `HTTP/1.1` error response: a short `text/plain` body (`text`, or the reason
/// phrase when `text` is empty), `Content-Length`, `Cache-Control: no-cache` and
/// `Connection: close` (after an error the connection's state is not trusted, as HAProxy does).
pub fn error_response(status: u16, text: &str) -> Vec<u8> {
    let text = if text.is_empty() {
        reason_phrase(status)
    } else {
        text
    };
    let mut out = Vec::with_capacity(160 + text.len());
    status_line(&mut out, status);
    let _ = write!(
        out,
        "Content-Type: text/plain\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        text.len() + 1
    );
    out.extend(
        text.bytes()
            .map(|b| if b.is_ascii_control() { b' ' } else { b }),
    );
    out.push(b'\n');
    out
}

/// A complete redirect (`status` 301, 302, 303, 307 or 308) to `location`, empty body,
/// `Connection: keep-alive` or `close` as `keep_alive` says. Control characters in
/// `location` are percent-encoded so it cannot split the head.
pub fn redirect_response(status: u16, location: &str, keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + location.len());
    status_line(&mut out, status);
    out.extend_from_slice(b"Location: ");
    for b in location.bytes() {
        if b.is_ascii_control() || b == b' ' {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(b"\r\nContent-Length: 0\r\nConnection: ");
    out.extend_from_slice(if keep_alive { b"keep-alive" } else { b"close" });
    out.extend_from_slice(b"\r\n\r\n");
    out
}

fn status_line(out: &mut Vec<u8>, status: u16) {
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
}
