//! The core configuration: what Python hands over (JSON) once it has validated the user's file.
//!
//! Addresses are already resolved and durations are milliseconds; the user-facing checks and
//! messages live in `python/fastlb/config.py`. The core still refuses what it cannot run.

use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::balancer::MAX_WEIGHT;
use crate::error::{Error, Result};
use crate::firewall::{AclConfig, Cidr, SourceRateConfig};
use crate::http::{HttpBackendConfig, HttpFrontendConfig};
pub use crate::mysql::{config::MysqlConfig, Role as ServerRole};
use crate::proxy_protocol::ProxyVersion;
use crate::tls::{BackendTlsConfig, FrontendTlsConfig};

/// How the relay moves bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpliceMode {
    /// Copy small exchanges; switch a direction to splice once it streams (a read fills the buffer).
    #[default]
    Auto,
    /// Zero-copy splice(2) from the first byte.
    Always,
    /// Userspace copy only.
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreConfig {
    pub workers: usize,
    #[serde(default)]
    pub splice: SpliceMode,
    /// Connections open at once across all frontends; at the limit accepting pauses.
    #[serde(default)]
    pub max_connections: Option<u64>,
    pub frontends: Vec<FrontendConfig>,
    pub backends: Vec<BackendConfig>,
}

/// What a frontend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FrontendMode {
    /// Relays bytes (layer 4).
    #[default]
    Tcp,
    /// Terminates the MySQL protocol and routes each statement (read/write splitting).
    Mysql,
    /// Parses, routes and balances each HTTP request (`http` section required).
    Http,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendConfig {
    pub name: String,
    pub listen: SocketAddr,
    pub backend: String,
    #[serde(default)]
    pub mode: FrontendMode,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    #[serde(default)]
    pub tls: Option<FrontendTlsConfig>,
    #[serde(default)]
    pub acl: Option<AclConfig>,
    #[serde(default)]
    pub max_connections_per_source: Option<u32>,
    #[serde(default)]
    pub connection_rate_per_source: Option<SourceRateConfig>,
    /// Read a PROXY protocol header (v1 or v2) first; refused from peers outside
    /// `trusted_proxies`.
    #[serde(default)]
    pub accept_proxy: bool,
    /// The whole PROXY header must arrive within this.
    #[serde(default)]
    pub proxy_timeout_ms: u64,
    /// Peers whose PROXY header and `X-Forwarded-For` are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<Cidr>,
    /// `mode: http` only.
    #[serde(default)]
    pub http: Option<HttpFrontendConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    /// How a server is chosen for a new connection (HTTP: for each request).
    #[serde(default)]
    pub balance: Balance,
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default)]
    pub all_backups: bool,
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Read/write splitting (for `mode: mysql` frontends).
    #[serde(default)]
    pub mysql: Option<MysqlConfig>,
    #[serde(default)]
    pub tls: Option<BackendTlsConfig>,
    /// Send a PROXY protocol header on every new server connection.
    #[serde(default)]
    pub send_proxy: Option<ProxyVersion>,
    /// Health checks send the PROXY header too (servers that require it on every connection).
    #[serde(default)]
    pub check_send_proxy: bool,
    /// The HTTP server-connection pool (used by `mode: http` frontends).
    #[serde(default)]
    pub http: Option<HttpBackendConfig>,
    pub servers: Vec<ServerConfig>,
}

/// A backend's balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// nginx's smooth weighted round-robin.
    #[default]
    Roundrobin,
    /// Maglev consistent hashing of the client's IP address (`balancer::maglev`).
    Maglev,
    /// HAProxy's name for hashing the client address; fastlb hashes it with Maglev, like
    /// HAProxy's `hash-type consistent`, so it is the same as `maglev`.
    Source,
    /// The server with the fewest connections (TCP) or requests in flight (HTTP) relative
    /// to its weight (`balancer::least`).
    Leastconn,
}

impl Balance {
    /// True if the client's address decides the server.
    pub fn hashes_client(self) -> bool {
        matches!(self, Balance::Maglev | Balance::Source)
    }
}

/// What an active check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A TCP connect.
    Tcp,
    /// `GET path`; the status code must be `expect_status`.
    Http,
    /// Reads the server's initial handshake packet (an error packet fails).
    Mysql,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http => "http",
            CheckKind::Mysql => "mysql",
        }
    }
}

/// An active health check and its rise/fall thresholds (HAProxy's `check inter rise fall`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(rename = "type")]
    pub kind: CheckKind,
    #[serde(default = "default_check_interval_ms")]
    pub interval_ms: u64,
    /// Used while a server is between states (HAProxy's `fastinter`).
    #[serde(default = "default_check_fast_interval_ms")]
    pub fast_interval_ms: u64,
    #[serde(default = "default_check_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_rise")]
    pub rise: u32,
    #[serde(default = "default_fall")]
    pub fall: u32,
    #[serde(default = "default_check_path")]
    pub path: String,
    #[serde(default = "default_expect_status")]
    pub expect_status: u16,
    #[serde(default)]
    pub host: Option<String>,
    /// mysql: log in as this user (empty password) and quit instead of dropping the
    /// connection after the greeting, which the server counts as an aborted connect.
    #[serde(default)]
    pub user: Option<String>,
    /// Count consecutive connect failures of live traffic like failed checks.
    #[serde(default = "default_observe")]
    pub observe: bool,
}

fn default_check_interval_ms() -> u64 {
    2_000
}
fn default_check_fast_interval_ms() -> u64 {
    500
}
fn default_check_timeout_ms() -> u64 {
    1_000
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}
fn default_check_path() -> String {
    "/".into()
}
fn default_expect_status() -> u16 {
    200
}
fn default_observe() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub name: String,
    pub address: SocketAddr,
    #[serde(default = "default_weight")]
    pub weight: u32,
    #[serde(default)]
    pub backup: bool,
    /// MySQL backends: the server's role (replicas take the reads).
    #[serde(default)]
    pub role: Option<ServerRole>,
    /// The host name the server was configured with (before resolution): SNI and the name
    /// its certificate must carry when its backend uses TLS.
    #[serde(default)]
    pub tls_name: Option<String>,
    /// The persistence cookie value naming this server (`http.cookie`); default: its name.
    #[serde(default)]
    pub cookie: Option<String>,
}

fn default_max_connections() -> usize {
    20_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_retries() -> u32 {
    3
}
fn default_connect_timeout_ms() -> u64 {
    5_000
}
fn default_weight() -> u32 {
    1
}

impl FrontendConfig {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

impl FrontendConfig {
    fn validate_security(&self) -> std::result::Result<(), String> {
        if self.max_connections_per_source == Some(0) {
            return Err("max_connections_per_source must be at least 1".into());
        }
        if let Some(rate) = self.connection_rate_per_source {
            if rate.connections == 0 || rate.window_ms == 0 {
                return Err("connection_rate_per_source needs connections and window > 0".into());
            }
        }
        if let Some(tls) = &self.tls {
            if tls.certificates.is_empty() {
                return Err("tls needs at least one certificate".into());
            }
            if tls.handshake_timeout_ms == 0 {
                return Err("tls.handshake_timeout_ms must be positive".into());
            }
            if let Some(bad) = tls.alpn.iter().find(|p| p.is_empty() || p.len() > 255) {
                return Err(format!("tls.alpn: {bad:?} must be 1 to 255 bytes"));
            }
        }
        Ok(())
    }
}

impl BackendConfig {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl CoreConfig {
    /// Parses and checks the JSON produced by `fastlb.config.Config.to_core_json()`.
    /// Reads no file: certificates and keys are loaded when an engine is built from it.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: CoreConfig =
            serde_json::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        if self.workers == 0 {
            return bad("workers must be at least 1".into());
        }
        if self.max_connections == Some(0) {
            return bad("max_connections must be at least 1".into());
        }
        let mut backend_names = HashSet::new();
        for backend in &self.backends {
            if !backend_names.insert(backend.name.as_str()) {
                return bad(format!("duplicate backend {:?}", backend.name));
            }
            if let Some(check) = &backend.health_check {
                if check.rise == 0 || check.fall == 0 || check.interval_ms == 0 {
                    return bad(format!(
                        "backend {:?}: health_check rise, fall and interval must be positive",
                        backend.name
                    ));
                }
            }
            if let Some(mysql) = &backend.mysql {
                mysql
                    .validate(&backend.servers)
                    .map_err(|msg| Error::Config(format!("backend {:?}: {msg}", backend.name)))?;
            }
            let mut server_names = HashSet::new();
            for server in &backend.servers {
                if !server_names.insert(server.name.as_str()) {
                    return bad(format!(
                        "backend {:?}: duplicate server {:?}",
                        backend.name, server.name
                    ));
                }
                if server.weight > MAX_WEIGHT {
                    return Err(Error::WeightOutOfRange(server.weight));
                }
            }
            if let Some(http) = &backend.http {
                http.validate_cookies(&backend.servers)
                    .map_err(|msg| Error::Config(format!("backend {:?}: {msg}", backend.name)))?;
            }
        }
        let mut frontend_names = HashSet::new();
        for frontend in &self.frontends {
            if !frontend_names.insert(frontend.name.as_str()) {
                return bad(format!("duplicate frontend {:?}", frontend.name));
            }
            let Some(backend) = self.backends.iter().find(|b| b.name == frontend.backend) else {
                return bad(format!(
                    "frontend {:?}: unknown backend {:?}",
                    frontend.name, frontend.backend
                ));
            };
            if frontend.mode == FrontendMode::Mysql && backend.mysql.is_none() {
                return bad(format!(
                    "frontend {:?}: mode mysql needs a mysql section on backend {:?}",
                    frontend.name, frontend.backend
                ));
            }
            if (frontend.mode == FrontendMode::Http) != frontend.http.is_some() {
                return bad(format!(
                    "frontend {:?}: an http section goes with mode http, and only with it",
                    frontend.name
                ));
            }
            if frontend.mode != FrontendMode::Mysql
                && frontend.tls.as_ref().is_some_and(|t| !t.required)
            {
                return bad(format!(
                    "frontend {:?}: tls.required false is for mysql frontends only",
                    frontend.name
                ));
            }
            frontend
                .validate_security()
                .map_err(|why| Error::Config(format!("frontend {:?}: {why}", frontend.name)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"workers": 2, "frontends": [{"name": "web", "listen": "127.0.0.1:0",
        "backend": "web"}], "backends": [{"name": "web", "servers": [{"name": "a",
        "address": "127.0.0.1:9001", "weight": 3}]}]}"#;

    #[test]
    fn parses_with_defaults() {
        let config = CoreConfig::from_json(GOOD).unwrap();
        assert_eq!(config.splice, SpliceMode::Auto);
        assert_eq!(config.backends[0].retries, 3);
        assert_eq!(config.frontends[0].max_connections, 20_000);
        assert!(!config.backends[0].servers[0].backup);
    }

    #[test]
    fn refuses_unknown_backend_and_bad_weight() {
        let missing = GOOD.replace(r#""backend": "web""#, r#""backend": "nope""#);
        assert!(CoreConfig::from_json(&missing)
            .unwrap_err()
            .to_string()
            .contains("unknown backend \"nope\""));
        let heavy = GOOD.replace(r#""weight": 3"#, r#""weight": 257"#);
        assert!(matches!(
            CoreConfig::from_json(&heavy),
            Err(Error::WeightOutOfRange(257))
        ));
        let typo = GOOD.replace("workers", "wokers");
        assert!(CoreConfig::from_json(&typo).is_err());
    }

    #[test]
    fn plaintext_beside_tls_only_on_mysql_frontends() {
        let tls = GOOD.replace(
            r#""backend": "web""#,
            r#""backend": "web", "tls": {"certificates": [{"cert": "/c", "key": "/k"}],
                "required": false}"#,
        );
        assert!(CoreConfig::from_json(&tls)
            .unwrap_err()
            .to_string()
            .contains("tls.required false is for mysql frontends only"));
    }
}
