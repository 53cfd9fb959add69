//! Byte-level checks httparse leaves to us: line endings and line folding, and telling
//! apart the reasons a head failed to parse (each gets its own [`HeadError`]).

use super::HeadError;

/// Refuses what httparse tolerates in a complete head: LF without CR (RFC 9112 §2.2 lets a
/// recipient accept it; a proxy that does forwards a message another parser splits
/// differently) and CR without LF. obs-fold is refused by httparse already, but only as a
/// bad field name; it is recognised here (a line starting with SP / HTAB) for its own error.
pub(super) fn check_lines(head: &[u8]) -> Result<(), HeadError> {
    let mut prev = 0u8;
    let mut i = 0;
    while i < head.len() {
        // The common case is a run of field bytes: skip to the next CR or LF.
        match head[i..].iter().position(|&b| b == b'\r' || b == b'\n') {
            None => break,
            Some(n) => {
                if n > 0 {
                    prev = head[i + n - 1];
                }
                i += n;
            }
        }
        if head[i] == b'\n' {
            if prev != b'\r' {
                return Err(HeadError::BareLf);
            }
            if matches!(head.get(i + 1), Some(b' ' | b'\t')) {
                return Err(HeadError::ObsFold);
            }
        } else if head.get(i + 1).is_some_and(|&b| b != b'\n') {
            return Err(HeadError::BareCr);
        }
        prev = head[i];
        i += 1;
    }
    Ok(())
}

/// Why httparse refused `window` (the head so far). The line-level faults are looked for
/// first: httparse reports them as whatever token it was reading.
#[cold]
pub(super) fn classify(window: &[u8], error: httparse::Error, response: bool) -> HeadError {
    if error == httparse::Error::TooManyHeaders {
        return HeadError::TooManyHeaders;
    }
    // Only the complete lines: a trailing CR may still be followed by its LF.
    let complete = match window.iter().rposition(|&b| b == b'\n') {
        Some(last) => &window[..=last],
        None => &window[..0],
    };
    if let Err(line_fault) = check_lines(complete) {
        return line_fault;
    }
    if window.contains(&b'\r') && complete.len() < window.len() {
        // A CR in the unfinished line that httparse already refused: not followed by LF.
        let tail = &window[complete.len()..];
        if let Some(cr) = tail.iter().position(|&b| b == b'\r') {
            if cr + 1 < tail.len() {
                return HeadError::BareCr;
            }
        }
    }
    if space_before_colon(window) {
        return HeadError::SpaceBeforeColon;
    }
    match error {
        httparse::Error::HeaderName => HeadError::BadHeaderName,
        httparse::Error::HeaderValue => HeadError::BadHeaderValue,
        httparse::Error::Version if !response && looks_versioned(window) => HeadError::BadVersion,
        httparse::Error::Status => HeadError::BadStatusLine,
        httparse::Error::NewLine if response => HeadError::BadStatusLine,
        _ if response => HeadError::BadStatusLine,
        _ => HeadError::BadRequestLine,
    }
}

/// A field line (any line after the first) whose name is followed by SP / HTAB before
/// the colon, e.g. `Transfer-Encoding : chunked`.
fn space_before_colon(window: &[u8]) -> bool {
    window.split(|&b| b == b'\n').skip(1).any(|line| {
        let name_end = line
            .iter()
            .position(|&b| !super::fields::is_tchar(b))
            .unwrap_or(line.len());
        if name_end == 0 {
            return false;
        }
        let rest = &line[name_end..];
        let spaces = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        spaces > 0 && rest.get(spaces) == Some(&b':')
    })
}

/// The request line ends in a well-formed `HTTP/x.y` that httparse does not support (not
/// 1.0 / 1.1) after exactly a method and a target: 505 rather than 400 (RFC 9110 §15.6.6).
fn looks_versioned(window: &[u8]) -> bool {
    let line_end = window
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(window.len());
    let line = &window[..line_end];
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit() && version != b"HTTP/1.1" && version != b"HTTP/1.0")
}
