//! fastlb's own responses: error pages and redirects, complete messages ready to write.

/// The standard reason phrase of `status` (RFC 9110 §15), `""` for unknown codes.
pub fn reason_phrase(status: u16) -> &'static str {
    let _ = status;
    todo!()
}

/// A complete `HTTP/1.1` error response: a short `text/plain` body saying `text`,
/// `Content-Length`, `Connection: close`.
pub fn error_response(status: u16, text: &str) -> Vec<u8> {
    let _ = (status, text);
    todo!()
}

/// A complete redirect (`status` is 301, 302, 303, 307 or 308) to `location`, empty body;
/// `Connection: keep-alive` or `close` as `keep_alive` says.
pub fn redirect_response(status: u16, location: &str, keep_alive: bool) -> Vec<u8> {
    let _ = (status, location, keep_alive);
    todo!()
}
