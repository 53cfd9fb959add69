//! The TLS settings of the core configuration (docs/architecture.md): paths are absolute
//! (Python resolved them), durations are milliseconds.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// One certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    /// The leaf certificate first, then its intermediates.
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The lowest protocol version a frontend accepts. rustls has no TLS 1.1 or older at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TlsVersion {
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// `tls` on a frontend: terminate TLS, then relay the plaintext to the backend.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendTlsConfig {
    /// Served by SNI (the names in each certificate); the first is the default, for
    /// clients that send no name or one no certificate covers.
    pub certificates: Vec<CertificateFiles>,
    /// ALPN protocols offered, most preferred first (HAProxy's `alpn h2,http/1.1`); empty:
    /// no ALPN.
    #[serde(default)]
    pub alpn: Vec<String>,
    #[serde(default)]
    pub min_version: TlsVersion,
    /// The whole handshake must be done within this time (a client trickling its hello
    /// byte by byte can't hold the connection).
    #[serde(default = "default_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    /// Session tickets and the session cache (HAProxy's and nginx's default). Off: every
    /// handshake is a full one (HAProxy's `no-tls-tickets` with `tune.ssl.cachesize 0`).
    #[serde(default = "default_session_resumption")]
    pub session_resumption: bool,
    /// `mode: mysql` only, where TLS starts after the greeting if the client asks (its
    /// SSLRequest): refuse clients that don't ask (MySQL's `require_secure_transport`).
    /// A TCP frontend's clients speak TLS from their first byte, always.
    #[serde(default = "default_required")]
    pub required: bool,
}

impl FrontendTlsConfig {
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
}

fn default_handshake_timeout_ms() -> u64 {
    10_000
}

fn default_session_resumption() -> bool {
    true
}

fn default_required() -> bool {
    true
}

/// `tls` on a backend: connect to its servers over TLS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendTlsConfig {
    /// Check the server's certificate chain and name. `false` encrypts without
    /// authenticating the server (HAProxy's `verify none`).
    #[serde(default = "default_verify")]
    pub verify: bool,
    /// PEM bundle of the CAs to trust; absent: the system's trust store.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// SNI and the name the certificate must carry, for every server; absent: each
    /// server's `tls_name` (the host name it was configured with), else its IP address.
    #[serde(default)]
    pub server_name: Option<String>,
}

fn default_verify() -> bool {
    true
}
