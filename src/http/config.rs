//! The `http` sections of the core configuration (docs/http.md). Python sends every field;
//! the core keeps no defaults of its own.

use serde::Deserialize;
use std::time::Duration;

use super::access_log::AccessLogConfig;
pub use super::cookie::CookieConfig;
use super::routing::{HeaderEditsConfig, RouteConfig};
use crate::firewall::Cidr;

/// `frontends[i].http` (present exactly when `mode` is `http`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFrontendConfig {
    /// The whole request head must arrive within this (HAProxy `timeout http-request`): 408.
    pub request_timeout_ms: u64,
    /// How long a keep-alive client connection may sit idle between requests
    /// (HAProxy `timeout http-keep-alive`); then it is closed silently.
    pub keepalive_timeout_ms: u64,
    /// Largest request head (request line + headers) accepted: 431 beyond it.
    pub max_header_size: usize,
    /// Most header fields in a request head: 431 beyond it.
    pub max_headers: usize,
    /// WebSocket / `Upgrade` tunnels: inactivity after the server's 101 (HAProxy `timeout tunnel`).
    pub tunnel_timeout_ms: u64,
    /// Accept HTTP/2 with prior knowledge on a plaintext frontend (h2c).
    pub h2c: bool,
    pub forwarded: ForwardedConfig,
    /// Ordered, first match wins; no match: the frontend's `backend`.
    pub routes: Vec<RouteConfig>,
    /// Applied to every request / response of the frontend, before a route's own edits.
    pub request_headers: HeaderEditsConfig,
    pub response_headers: HeaderEditsConfig,
    pub access_log: Option<AccessLogConfig>,
}

/// Which forwarding headers fastlb adds (HAProxy `option forwardfor`, RFC 7239).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedConfig {
    pub x_forwarded_for: bool,
    /// Clients in these blocks get no `X-Forwarded-For` (HAProxy `forwardfor except`).
    pub x_forwarded_for_except: Vec<Cidr>,
    pub x_forwarded_proto: bool,
    pub x_forwarded_host: bool,
    /// RFC 7239 `Forwarded: for=...;proto=...;host=...`.
    pub forwarded: bool,
}

/// `backends[i].http`: the server connection pool (HAProxy `http-reuse safe`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpBackendConfig {
    /// Keep server connections open and reuse them across requests and clients;
    /// `false` is HAProxy's `option http-server-close`.
    pub server_reuse: bool,
    /// Idle connections kept per server (per worker thread).
    pub max_idle: usize,
    /// An idle pooled connection older than this is closed.
    pub idle_timeout_ms: u64,
    /// Time for the server's response head to arrive (HAProxy `timeout server`): 504.
    pub response_timeout_ms: u64,
    /// Sticky sessions by cookie (HAProxy `cookie NAME insert`).
    #[serde(default)]
    pub cookie: Option<CookieConfig>,
}

impl HttpBackendConfig {
    /// For a backend whose configuration has no `http` section (Python always sends one;
    /// cores built from hand-written JSON, like the Rust tests, may not): HAProxy's
    /// `http-reuse safe` with its default timeouts, equal to Python's defaults
    /// (`config_defaults_tests.rs`).
    pub const ABSENT: HttpBackendConfig = HttpBackendConfig {
        server_reuse: true,
        max_idle: 64,
        idle_timeout_ms: 30_000,
        response_timeout_ms: 30_000,
        cookie: None,
    };

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }
}

impl HttpFrontendConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.keepalive_timeout_ms)
    }

    pub fn tunnel_timeout(&self) -> Duration {
        Duration::from_millis(self.tunnel_timeout_ms)
    }
}
