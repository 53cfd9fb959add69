//! The routing sections of a `mode: http` frontend's core configuration.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One route: a match and what to do with the requests it takes (exactly one of
/// `backend` and `redirect`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(rename = "match")]
    pub matcher: MatchConfig,
    pub backend: Option<String>,
    pub redirect: Option<RedirectConfig>,
    pub request_headers: HeaderEditsConfig,
    pub response_headers: HeaderEditsConfig,
}

/// Every given condition must hold; an empty match takes every request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// The request's host (Host header or h2 `:authority`, port removed), compared
    /// case-insensitively; `*.example.com` matches any name below it (not `example.com`).
    pub host: Option<String>,
    /// The path (before `?`, byte-wise as sent) starts with this.
    pub path_prefix: Option<String>,
    /// The path (before `?`) is exactly this.
    pub path: Option<String>,
    /// One of these methods (upper case); empty: any.
    pub method: Vec<String>,
    /// Each named header (case-insensitive name) is present with exactly this value.
    pub header: BTreeMap<String, String>,
}

/// `redirect`: answer with a redirect instead of forwarding (HAProxy `redirect`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// `https` or `http`; absent: the request's own.
    pub scheme: Option<String>,
    /// Absent: the request's own host (with its port unless `scheme` changes).
    pub host: Option<String>,
    /// Prepended to the request's path (HAProxy `redirect prefix`); a trailing `/` is dropped.
    pub path_prefix: Option<String>,
    /// 301, 302, 303, 307 or 308.
    pub code: u16,
}

/// Header edits: `remove` names, `set` (replace every field of that name), `add` (append one).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEditsConfig {
    pub set: Vec<(String, String)>,
    pub add: Vec<(String, String)>,
    pub remove: Vec<String>,
}
