//! Routing and rewriting of `mode: http` requests: ordered routes (first match wins),
//! redirects, request and response header edits. Compiled once per (re)load, evaluated in
//! Rust on the parsed request (docs/http.md).

mod config;

pub use config::{HeaderEditsConfig, MatchConfig, RedirectConfig, RouteConfig};
