//! Hosts as routing compares them: the request's Host (or h2 `:authority`) split from its
//! port, and the configured patterns (`api.example.com`, `*.example.com`).

use super::syntax::canonical_host;

/// Splits a Host value (RFC 9110 §7.2: `uri-host [ ":" port ]`) into its host and port.
/// An IPv6 literal keeps its brackets (`[::1]:8080` gives `[::1]`); `None` for a value that
/// is not a host at all (empty, an unclosed bracket, junk after the bracket).
pub(super) fn split_port(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (host, rest) = if value.first() == Some(&b'[') {
        let end = value.iter().position(|&b| b == b']')?;
        value.split_at(end + 1)
    } else {
        // A bare IPv6 literal is not a valid Host; cutting at its first colon leaves "" or a
        // fragment that no configured host equals, which is the right outcome.
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        value.split_at(end)
    };
    let port = match rest {
        [] => None,
        [b':', port @ ..] => Some(port),
        _ => return None,
    };
    (!host.is_empty()).then_some((host, port))
}

/// The host a request names, ready for comparison: no port, and no trailing dot
/// (`example.com.` is the same name; nginx drops the dot in the same way).
pub(super) fn request_host(value: &[u8]) -> Option<&[u8]> {
    let (host, _) = split_port(value)?;
    let host = host.strip_suffix(b".").unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// A compiled `match.host`, lower case: the request's host (from [`request_host`]) is
/// compared case-insensitively (host names are, RFC 3986 §3.2.2) without allocating.
#[derive(Debug, Clone)]
pub(super) enum HostPattern {
    /// `api.example.com`: exactly this name.
    Exact(Box<[u8]>),
    /// `*.example.com`, kept as `.example.com`: any name below it, at any depth
    /// (`a.b.example.com` too), but not `example.com` itself.
    Below(Box<[u8]>),
}

impl HostPattern {
    pub(super) fn compile(raw: &str) -> Result<HostPattern, String> {
        match raw.strip_prefix("*.") {
            Some(parent) => {
                let parent = canonical_host(parent)?;
                if parent.starts_with('[') {
                    return Err(format!("{raw:?}: a wildcard needs a name, not an address"));
                }
                Ok(HostPattern::Below(format!(".{parent}").into_bytes().into()))
            }
            None if raw.contains('*') => Err(format!(
                "{raw:?}: a wildcard is only allowed as the first label (*.example.com)"
            )),
            None => Ok(HostPattern::Exact(canonical_host(raw)?.into_bytes().into())),
        }
    }

    pub(super) fn matches(&self, host: &[u8]) -> bool {
        match self {
            HostPattern::Exact(name) => host.eq_ignore_ascii_case(name),
            // `>` rather than `>=`: at least one byte of label before the dot.
            HostPattern::Below(suffix) => {
                host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_split_off() {
        assert_eq!(
            split_port(b"a.com:8080"),
            Some((&b"a.com"[..], Some(&b"8080"[..])))
        );
        assert_eq!(split_port(b"a.com"), Some((&b"a.com"[..], None)));
        assert_eq!(
            split_port(b"[::1]:8080"),
            Some((&b"[::1]"[..], Some(&b"8080"[..])))
        );
        assert_eq!(split_port(b"[::1]"), Some((&b"[::1]"[..], None)));
        assert_eq!(split_port(b"[::1"), None);
        assert_eq!(split_port(b"[::1]x"), None);
        assert_eq!(split_port(b""), None);
        assert_eq!(split_port(b":80"), None);
        assert_eq!(request_host(b"A.com.:80"), Some(&b"A.com"[..]));
        assert_eq!(request_host(b"."), None);
    }
}
