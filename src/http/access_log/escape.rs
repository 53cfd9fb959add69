//! Escaping of text in log lines. Method, host and path are the client's bytes: whatever
//! they hold, a line must stay one line and its quoting must hold, or a client could forge
//! log entries (CWE-117). Each format escapes the way its usual readers expect.

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A JSON string literal (RFC 8259 §7), quotes included. Control characters and DEL are
/// escaped, and so are U+2028/U+2029, which some JavaScript-era log shippers split lines on.
/// Other non-ASCII text is valid UTF-8 already (a `&str`) and is written as is.
pub fn json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let mut utf8 = [0u8; 4];
    for ch in text.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{2028}' | '\u{2029}' => {
                let code = ch as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[(code >> shift) as usize & 0xF].to_ascii_lowercase());
                }
            }
            _ => out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes()),
        }
    }
    out.push(b'"');
}

/// nginx's default log escaping, for the Common Log Format: `"`, `\`, and bytes below 32
/// or above 126 become `\xXX` (nginx `log_format escape=default`; Apache's `%r` does the
/// same with `\xhh`).
pub fn clf_text(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        if byte == b'"' || byte == b'\\' || !(0x20..=0x7e).contains(&byte) {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[(byte >> 4) as usize],
                HEX[(byte & 0xF) as usize],
            ]);
        } else {
            out.push(byte);
        }
    }
}

/// HAProxy's request-line encoding (`url_encode_map` in log.c): bytes below 32, from 127
/// up, `"` and `#` (the escape character itself) become `#XX`.
pub fn haproxy_text(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        if byte == b'"' || byte == b'#' || !(0x20..0x7f).contains(&byte) {
            out.extend_from_slice(&[b'#', HEX[(byte >> 4) as usize], HEX[(byte & 0xF) as usize]]);
        } else {
            out.push(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(escape: fn(&mut Vec<u8>, &str), text: &str) -> String {
        let mut out = Vec::new();
        escape(&mut out, text);
        String::from_utf8(out).expect("escaped text is UTF-8")
    }

    #[test]
    fn json_escapes_what_rfc_8259_requires_and_line_separators() {
        assert_eq!(
            run(json_string, "a\"b\\c\nd\re\tf\u{0}\u{1b}\u{7f}\u{2028}é"),
            r#""a\"b\\c\nd\re\tf\u0000\u001b\u007f\u2028é""#
        );
        // What the escaped literal decodes to is the original text.
        let hostile = "x\"}\n{\"status\":200\u{0}\u{fffd}";
        let decoded: String = serde_json::from_str(&run(json_string, hostile)).unwrap();
        assert_eq!(decoded, hostile);
    }

    #[test]
    fn clf_escapes_like_nginx() {
        assert_eq!(
            run(clf_text, "/a b\"c\\d\ne\u{7f}é"),
            r"/a b\x22c\x5Cd\x0Ae\x7F\xC3\xA9"
        );
    }

    #[test]
    fn haproxy_escapes_like_its_url_encode_map() {
        assert_eq!(
            run(haproxy_text, "/a b\"c#d\ne\u{7f}é\\"),
            "/a b#22c#23d#0Ae#7F#C3#A9\\"
        );
    }
}
