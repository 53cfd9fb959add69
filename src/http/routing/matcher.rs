//! A route's compiled `match`: every given condition must hold. Evaluated per request
//! without allocating; everything that can be prepared (lower case, canonical hosts) is
//! prepared at compile time.
//!
//! Paths are compared byte-wise, as sent, with no normalisation (no percent-decoding, no
//! dot-segment removal, no slash merging), as HAProxy's `path_beg` does. The request is
//! forwarded with the path exactly as sent, so routing decides on the very bytes the server
//! will see; decoding only for the decision would route `/%61pi/` as `/api/` while the
//! server, whose decoding rules (`%2F`, `..`, `//`) may differ from ours, reads something
//! else. The consequence, documented for users: a route steers traffic, it is not an access
//! control; `/%61dmin` does not match `path_prefix: /admin`.

use super::config::MatchConfig;
use super::host::{request_host, HostPattern};
use super::syntax::{field_value_problem, is_token, path_problem};
use super::RequestHead;

/// What every route looks at, taken from the request once per decision rather than once per
/// route.
pub(super) struct Facts<'r> {
    method: &'r [u8],
    /// The path before the `?`.
    path: &'r [u8],
    /// The host without port or trailing dot; `None` when the request names none.
    host: Option<&'r [u8]>,
}

impl<'r> Facts<'r> {
    pub(super) fn of<R: RequestHead>(request: &'r R) -> Facts<'r> {
        let target = request.path();
        let path = match target.iter().position(|&b| b == b'?') {
            Some(query) => &target[..query],
            None => target,
        };
        Facts {
            method: request.method(),
            path,
            host: request.host().and_then(request_host),
        }
    }
}

/// A compiled `match`.
#[derive(Debug, Clone)]
pub(super) struct Matcher {
    host: Option<HostPattern>,
    path_prefix: Option<Box<[u8]>>,
    path: Option<Box<[u8]>>,
    /// Compared exactly: methods are case-sensitive (RFC 9110 §9.1). Empty: any.
    methods: Vec<Box<[u8]>>,
    /// Lower-case name, exact value.
    headers: Vec<(Box<str>, Box<[u8]>)>,
}

impl Matcher {
    /// Compiles `config`; `field` names it in errors (`http.routes[0].match`).
    pub(super) fn compile(config: &MatchConfig, field: &str) -> Result<Matcher, String> {
        let host = match &config.host {
            Some(host) => {
                Some(HostPattern::compile(host).map_err(|e| format!("{field}.host: {e}"))?)
            }
            None => None,
        };
        let path = |name: &str, value: &Option<String>| match value {
            Some(path) => match path_problem(path) {
                Some(problem) => Err(format!("{field}.{name}: {path:?} {problem}")),
                None => Ok(Some(path.as_bytes().into())),
            },
            None => Ok(None),
        };
        let mut methods = Vec::with_capacity(config.method.len());
        for (i, method) in config.method.iter().enumerate() {
            if !is_token(method) {
                return Err(format!(
                    "{field}.method[{i}]: {method:?} is not a method (an RFC 9110 token)"
                ));
            }
            methods.push(method.as_bytes().into());
        }
        let mut headers = Vec::with_capacity(config.header.len());
        for (name, value) in &config.header {
            if !is_token(name) {
                return Err(format!(
                    "{field}.header: {name:?} is not a header name (an RFC 9110 token)"
                ));
            }
            if let Some(problem) = field_value_problem(value) {
                // Parsers hand over values without these, so such a condition never holds.
                return Err(format!("{field}.header: the value of {name:?} {problem}"));
            }
            headers.push((name.to_ascii_lowercase().into(), value.as_bytes().into()));
        }
        Ok(Matcher {
            host,
            path_prefix: path("path_prefix", &config.path_prefix)?,
            path: path("path", &config.path)?,
            methods,
            headers,
        })
    }

    /// Whether the request matches; the cheap byte comparisons go first, the header look-ups
    /// (a scan of the request's fields each) last.
    pub(super) fn matches<R: RequestHead>(&self, facts: &Facts<'_>, request: &R) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| **m == *facts.method) {
            return false;
        }
        if let Some(prefix) = &self.path_prefix {
            if !facts.path.starts_with(prefix) {
                return false;
            }
        }
        if let Some(path) = &self.path {
            if **path != *facts.path {
                return false;
            }
        }
        if let Some(pattern) = &self.host {
            if !facts.host.is_some_and(|host| pattern.matches(host)) {
                return false;
            }
        }
        // The first field of that name, as `RequestHead::header` gives it: a request that
        // repeats a field is judged on its first occurrence only.
        self.headers
            .iter()
            .all(|(name, value)| request.header(name) == Some(&**value))
    }
}
