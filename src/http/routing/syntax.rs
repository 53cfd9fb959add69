//! Syntax checks for what routing compares or puts on the wire: header names (RFC 9110
//! tokens), field values, hosts, paths. They run once per (re)load; the request path then
//! trusts what they let through.

/// RFC 9110 §5.6.2: `tchar`, the bytes of a token (header names, methods).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header name or a method: a non-empty RFC 9110 token.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Why `value` cannot be sent as a header field value, if it cannot (RFC 9110 §5.5).
pub(super) fn field_value_problem(value: &str) -> Option<&'static str> {
    let bytes = value.as_bytes();
    if bytes.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        // The one that matters most: a CR or LF would end the field and let a value forge
        // headers of its own (RFC 9110 §5.5 calls them "invalid and dangerous").
        return Some("contains CR, LF or NUL (RFC 9110 §5.5)");
    }
    if bytes.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Some("contains a control character (RFC 9110 §5.5)");
    }
    if bytes.first().is_some_and(|&b| b == b' ' || b == b'\t')
        || bytes.last().is_some_and(|&b| b == b' ' || b == b'\t')
    {
        // A field value has no leading or trailing whitespace: parsers strip it, so what the
        // server saw would differ from what was configured.
        return Some("starts or ends with whitespace (RFC 9110 §5.5)");
    }
    None
}

/// Fields that frame the message or manage the connection. The HTTP session decides them
/// (length, chunking, keep-alive, upgrades); an edit that changed them would make what the
/// proxy sends disagree with what it announces, the stuff of request smuggling
/// (RFC 9112 §6 and §11.2, RFC 9110 §7.6.1).
pub const PROXY_OWNED: [&str; 8] = [
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Why `name` cannot be edited, if it cannot.
pub(super) fn header_name_problem(name: &str) -> Option<String> {
    if !is_token(name) {
        return Some(format!("{name:?} is not a header name (an RFC 9110 token)"));
    }
    if PROXY_OWNED
        .iter()
        .any(|owned| owned.eq_ignore_ascii_case(name))
    {
        return Some(format!(
            "{name:?} frames the message or the connection; the proxy owns it and it cannot be edited"
        ));
    }
    None
}

/// A configured host, canonical for comparison: lower case, one trailing dot removed, an
/// IPv6 literal in brackets (added when written bare, as `::1`). Refuses a port: routes
/// compare hosts without theirs.
pub(super) fn canonical_host(raw: &str) -> Result<String, String> {
    let host = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(host),
            Err(_) => Err(format!("{raw:?} is not an IPv6 address")),
        };
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(format!("[{host}]"));
    }
    if host.contains(':') {
        return Err(format!(
            "{raw:?} has a port; hosts are compared without theirs"
        ));
    }
    // DNS names and IPv4 literals; `_` appears in real (if irregular) names.
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && !host.split('.').any(str::is_empty);
    if valid {
        Ok(host)
    } else {
        Err(format!("{raw:?} is not a host name"))
    }
}

/// A configured `host[:port]` for a redirect's Location: the host canonical, the port kept.
pub(super) fn canonical_authority(raw: &str) -> Result<String, String> {
    let (host, port) = match raw.rsplit_once(':') {
        // A bare IPv6 literal is all colons: only a bracketed one, or a name, has a port.
        Some((host, port)) if host.ends_with(']') || !host.contains(':') => (host, Some(port)),
        _ => (raw, None),
    };
    let host = canonical_host(host)?;
    match port {
        None => Ok(host),
        Some(port)
            if port.parse::<u16>().is_ok_and(|p| p > 0)
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(format!("{host}:{port}"))
        }
        Some(port) => Err(format!("{raw:?} has an invalid port {port:?}")),
    }
}

/// Why `path` cannot be a path to compare or prepend, if it cannot. Paths are compared
/// before the `?`, so a `?` (or a fragment, which clients never send) could never match.
pub(super) fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("must start with /");
    }
    if path.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Some("has a space, control or non-ASCII character (percent-encode it)");
    }
    if path.contains(['?', '#']) {
        return Some("has a ? or #: only the path before the query is compared");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_made_canonical() {
        assert_eq!(
            canonical_host("API.Example.com.").unwrap(),
            "api.example.com"
        );
        assert_eq!(canonical_host("::1").unwrap(), "[::1]");
        assert_eq!(canonical_host("[::1]").unwrap(), "[::1]");
        assert_eq!(canonical_host("10.0.0.1").unwrap(), "10.0.0.1");
        assert!(canonical_host("a.com:80")
            .unwrap_err()
            .contains("has a port"));
        assert!(canonical_host("a..com").is_err());
        assert!(canonical_host("a/b").is_err());
        assert!(canonical_host("[zz]").is_err());
        assert!(canonical_host("").is_err());
    }

    #[test]
    fn authorities_keep_their_port() {
        assert_eq!(canonical_authority("A.com:8443").unwrap(), "a.com:8443");
        assert_eq!(canonical_authority("[::1]:8443").unwrap(), "[::1]:8443");
        assert_eq!(canonical_authority("::1").unwrap(), "[::1]");
        assert!(canonical_authority("a.com:0").is_err());
        assert!(canonical_authority("a.com:+80").is_err());
        assert!(canonical_authority("a.com:99999").is_err());
    }

    #[test]
    fn field_values_and_names() {
        assert_eq!(field_value_problem("a b\tc"), None);
        assert_eq!(field_value_problem(""), None);
        assert!(field_value_problem("a\r\nX-Evil: 1").is_some());
        assert!(field_value_problem("a\x01").is_some());
        assert!(field_value_problem(" a").is_some());
        assert!(header_name_problem("X-Env").is_none());
        assert!(header_name_problem("X Env").is_some());
        assert!(header_name_problem("").is_some());
        assert!(header_name_problem("Transfer-Encoding").is_some());
    }
}
