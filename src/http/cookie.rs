//! Sticky sessions by cookie (HAProxy `cookie NAME insert indirect`): a request carrying
//! the backend's cookie with the value of a server that can take it goes to that server;
//! otherwise the balance algorithm picks and, with `insert`, the response gets a
//! `Set-Cookie` naming the server picked. As with HAProxy's `indirect`, a client whose
//! cookie already names the server that answered gets no new one.
//!
//! Unlike HAProxy's `insert` mode the cookie is not removed from the request forwarded to
//! the server (the server sees one more cookie; stripping it would mean rewriting the
//! `Cookie` field of every request).

use serde::Deserialize;
use std::collections::HashMap;

use crate::balancer::Server;
use crate::config::ServerConfig;
use crate::stats::bump;

/// `backends[i].http.cookie`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieConfig {
    /// The cookie's name (an RFC 6265 token).
    pub name: String,
    /// Add `Set-Cookie` to a response whose server the request's cookie didn't name.
    pub insert: bool,
    pub httponly: bool,
    pub secure: bool,
    /// With an inserted cookie, `Cache-Control: private` too (HAProxy `nocache`): a shared
    /// cache must not hand one client's cookie to others.
    pub nocache: bool,
    /// `Max-Age` in seconds; absent: a session cookie (gone when the browser closes).
    pub max_age_s: Option<u64>,
}

impl CookieConfig {
    /// The `Set-Cookie` value naming a server whose cookie value is `value`. Built only for
    /// a response that inserts one (a client's first request, or after its server left).
    pub fn set_cookie(&self, value: &str) -> String {
        let mut header = format!("{}={value}; Path=/", self.name);
        if let Some(seconds) = self.max_age_s {
            header.push_str(&format!("; Max-Age={seconds}"));
        }
        if self.httponly {
            header.push_str("; HttpOnly");
        }
        if self.secure {
            header.push_str("; Secure");
        }
        header
    }

    /// The value of this cookie in a request's `Cookie` fields (`a=1; SRV=web-01`); HTTP/2
    /// clients may split the list over several fields (RFC 9113 §8.2.3). The first wins.
    pub fn find_in<'a>(&self, fields: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
        let name = self.name.as_bytes();
        fields.into_iter().find_map(|field| {
            field.split(|&b| b == b';').find_map(|pair| {
                let pair = trim(pair);
                let eq = pair.iter().position(|&b| b == b'=')?;
                (&pair[..eq] == name).then(|| unquote(trim(&pair[eq + 1..])))
            })
        })
    }
}

/// What an exchange adds to the response when it inserts the cookie.
pub struct Inserted {
    pub set_cookie: String,
    pub nocache: bool,
}

impl Inserted {
    /// The fields to append to the response head.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        std::iter::once(("Set-Cookie", self.set_cookie.as_str()))
            .chain(self.nocache.then_some(("Cache-Control", "private")))
    }
}

/// The cookie to add to `server`'s response: with `insert`, unless the request's cookie
/// already named `server` (`stuck`). Counted in the server's `cookies_set`.
pub fn to_insert(cookie: Option<&CookieConfig>, server: &Server, stuck: bool) -> Option<Inserted> {
    let cookie = cookie.filter(|c| c.insert && !stuck)?;
    bump(&server.stats.http.cookies_set);
    Some(Inserted {
        set_cookie: cookie.set_cookie(&server.cookie),
        nocache: cookie.nocache,
    })
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t');
    let Some(start) = start else {
        return &bytes[..0];
    };
    let end = bytes.iter().rposition(|&b| b != b' ' && b != b'\t');
    &bytes[start..=end.unwrap_or(start)]
}

/// RFC 6265 §4.1.1 allows a value in double quotes.
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// `token` (RFC 9110 §5.6.2), what RFC 6265 requires of a cookie name.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `cookie-octet` (RFC 6265 §4.1.1): printable ASCII except `"`, `,`, `;`, `\` and space.
fn is_cookie_value(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && !b"\",;\\".contains(&b))
}

impl super::HttpBackendConfig {
    /// The cookie's name and each server's value are valid, and no two servers share a
    /// value (a request would go to whichever came first). Errors name the field.
    pub(crate) fn validate_cookies(&self, servers: &[ServerConfig]) -> Result<(), String> {
        let Some(cookie) = &self.cookie else {
            return Ok(());
        };
        if !is_token(&cookie.name) {
            return Err(format!(
                "cookie.name {:?} is not a valid cookie name (an RFC 6265 token)",
                cookie.name
            ));
        }
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for server in servers {
            let value = crate::balancer::cookie_value(server);
            if !is_cookie_value(value) {
                return Err(format!(
                    "server {:?}: cookie {value:?} is not a valid cookie value (printable, \
                     no spaces, quotes, commas, semicolons or backslashes)",
                    server.name
                ));
            }
            if let Some(other) = seen.insert(value, &server.name) {
                return Err(format!(
                    "server {:?}: cookie {value:?} is already server {other:?}'s",
                    server.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CookieConfig {
        CookieConfig {
            name: "SRV".into(),
            insert: true,
            httponly: true,
            secure: false,
            nocache: false,
            max_age_s: Some(3600),
        }
    }

    #[test]
    fn finds_the_cookie_among_others_and_across_fields() {
        let c = config();
        let one: &[u8] = b"a=1; SRV=web-02;b=2";
        assert_eq!(c.find_in([one]), Some(&b"web-02"[..]));
        let split: [&[u8]; 2] = [b"a=1", b"XSRV=no; SRV=\"web-01\""];
        assert_eq!(c.find_in(split), Some(&b"web-01"[..]));
        let none: [&[u8]; 2] = [b"srv=lower-case-is-another-cookie", b"SRVX=1"];
        assert_eq!(c.find_in(none), None);
    }

    #[test]
    fn set_cookie_carries_the_attributes() {
        let mut c = config();
        assert_eq!(
            c.set_cookie("web-01"),
            "SRV=web-01; Path=/; Max-Age=3600; HttpOnly"
        );
        c.secure = true;
        c.httponly = false;
        c.max_age_s = None;
        assert_eq!(c.set_cookie("s1"), "SRV=s1; Path=/; Secure");
    }

    #[test]
    fn duplicate_and_invalid_values_are_refused_by_field() {
        let server = |name: &str, cookie: Option<&str>| ServerConfig {
            name: name.into(),
            address: "127.0.0.1:1".parse().unwrap(),
            weight: 1,
            backup: false,
            role: None,
            tls_name: None,
            cookie: cookie.map(Into::into),
        };
        let mut http = super::super::HttpBackendConfig::ABSENT;
        http.cookie = Some(config());
        assert!(http
            .validate_cookies(&[server("a", None), server("b", Some("x"))])
            .is_ok());
        let dup = http
            .validate_cookies(&[server("a", Some("x")), server("b", Some("x"))])
            .unwrap_err();
        assert!(dup.contains("server \"b\": cookie \"x\""), "{dup}");
        let bad = http
            .validate_cookies(&[server("a", Some("has space"))])
            .unwrap_err();
        assert!(bad.contains("server \"a\""), "{bad}");
        http.cookie.as_mut().unwrap().name = "S;RV".into();
        assert!(http
            .validate_cookies(&[])
            .unwrap_err()
            .contains("cookie.name"));
    }
}
