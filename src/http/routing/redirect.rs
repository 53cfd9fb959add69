//! A route's `redirect` (HAProxy `redirect scheme` / `redirect prefix`): the status, and the
//! Location built from the request: `[scheme "://" host] [path_prefix] path-and-query`.

use super::config::RedirectConfig;
use super::edits::HeaderEdits;
use super::host::split_port;
use super::syntax::{canonical_authority, path_problem};
use super::RequestHead;

/// The statuses that redirect with a Location (RFC 9110 §15.4); 300 and 304/305/306 do not.
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// A compiled redirect.
///
/// The Location is absolute (`scheme://host/path`) when the redirect names a scheme or a
/// host, and otherwise just the path (a relative reference, RFC 9110 §10.2.2, as HAProxy's
/// `redirect prefix` sends): the client keeps its own scheme and host, and a forged Host
/// header is never echoed back.
///
/// The host is the redirect's `host` (with its port, if it has one), or else the request's
/// own: as sent, port included, when the scheme stays; without its port when the scheme
/// changes, since a port belongs to the old scheme's listener (`http://a.com:8080/x` becomes
/// `https://a.com/x`; write `host: a.com:8443` for another port).
///
/// A request without a usable host (HTTP/1.0 without Host, or a Host that is not a host
/// name) and a redirect without `host` get the relative form: nothing better can be built,
/// and `https:///x` (HAProxy's answer) is not a URL. HTTP/1.1 requests always have a Host
/// (RFC 9112 §3.2: the session refuses those without), so this is for 1.0 clients only.
///
/// The original path and query follow the prefix unchanged; bytes that may not appear in a
/// header value or a URI (controls, space, non-ASCII) are percent-encoded, so the Location
/// can never split the response head.
#[derive(Debug, Clone)]
pub struct Redirect {
    status: u16,
    /// `http` or `https`; `None`: the request's own.
    scheme: Option<&'static str>,
    /// `host[:port]`, canonical; `None`: the request's own.
    authority: Option<Box<str>>,
    /// Without a trailing `/` (so `/new/` + `/old` is `/new/old`, not `/new//old`);
    /// empty for none.
    path_prefix: Box<str>,
    response_edits: HeaderEdits,
    route: usize,
}

impl Redirect {
    /// Compiles route `route`'s `config`; `field` names it in errors (`http.routes[0].redirect`).
    pub(super) fn compile(
        config: &RedirectConfig,
        route: usize,
        response_edits: HeaderEdits,
        field: &str,
    ) -> Result<Redirect, String> {
        if !REDIRECT_STATUSES.contains(&config.code) {
            return Err(format!(
                "{field}.code: {} is not a redirect status (301, 302, 303, 307 or 308)",
                config.code
            ));
        }
        let scheme = match config.scheme.as_deref() {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("http") => Some("http"),
            Some(s) if s.eq_ignore_ascii_case("https") => Some("https"),
            Some(s) => return Err(format!("{field}.scheme: {s:?} is not http or https")),
        };
        let authority = match &config.host {
            Some(host) => Some(
                canonical_authority(host)
                    .map_err(|e| format!("{field}.host: {e}"))?
                    .into(),
            ),
            None => None,
        };
        let path_prefix = match &config.path_prefix {
            Some(prefix) => {
                if let Some(problem) = path_problem(prefix) {
                    return Err(format!("{field}.path_prefix: {prefix:?} {problem}"));
                }
                prefix.trim_end_matches('/').into()
            }
            None => "".into(),
        };
        let redirect = Redirect {
            status: config.code,
            scheme,
            authority,
            path_prefix,
            response_edits,
            route,
        };
        if redirect.scheme.is_none()
            && redirect.authority.is_none()
            && redirect.path_prefix.is_empty()
        {
            return Err(format!(
                "{field}: it sends the client back to the URL it asked for (give a scheme, a host or a path_prefix)"
            ));
        }
        Ok(redirect)
    }

    /// The response status: 301, 302, 303, 307 or 308.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The index of the route in `http.routes` (for logs and stats).
    pub fn route(&self) -> usize {
        self.route
    }

    /// Edits to the redirect response's headers: the frontend's, then the route's.
    pub fn response_edits(&self) -> &HeaderEdits {
        &self.response_edits
    }

    /// The Location for `request`; `tls`: whether it came over TLS (its own scheme is https).
    pub fn location<R: RequestHead>(&self, request: &R, tls: bool) -> String {
        let own = if tls { "https" } else { "http" };
        let path = request.path();
        // Asterisk-form (`OPTIONS *`) has no path to keep.
        let path = if path.starts_with(b"/") { path } else { b"/" };
        let mut location = String::with_capacity(64 + self.path_prefix.len() + path.len());
        if self.scheme.is_some() || self.authority.is_some() {
            let scheme = self.scheme.unwrap_or(own);
            let authority = match &self.authority {
                Some(authority) => Some(authority.as_bytes()),
                None => request
                    .host()
                    .and_then(|host| request_authority(host, scheme != own)),
            };
            if let Some(authority) = authority {
                location.push_str(scheme);
                location.push_str("://");
                push_escaped(&mut location, authority);
            }
        }
        location.push_str(&self.path_prefix);
        push_escaped(&mut location, path);
        location
    }
}

/// The request's Host for a Location: `None` when it is not a plain `host[:port]` (anything
/// else, `/`, `@`, `?`..., would change what the URL means), without its port if asked.
fn request_authority(value: &[u8], without_port: bool) -> Option<&[u8]> {
    let (host, port) = split_port(value)?;
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"-._:[]".contains(b);
    if !host.iter().all(plain) || !port.unwrap_or_default().iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(if without_port { host } else { value })
}

/// Appends `bytes`, percent-encoding those outside the visible ASCII range (RFC 3986 §2.1).
fn push_escaped(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if (0x21..0x7f).contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}
