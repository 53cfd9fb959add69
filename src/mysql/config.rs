//! A MySQL backend's read/write splitting settings (the `mysql:` section, as the core
//! receives it), and their compiled form.

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;
use std::time::Duration;

use crate::config::ServerConfig;
use crate::mysql::Role;

/// A user fastlb authenticates clients as, and logs in to the servers as.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlUser {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for MysqlUser {
    // Never print a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Whether a session's reads see its own earlier writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CausalReads {
    #[default]
    Off,
    /// After a write, a replica serves the session's reads only once it has applied that
    /// write's GTID (else the primary does).
    Session,
    /// A replica serves a read only once it has applied the highest GTID any session's
    /// write returned (read-your-writes across connections; MariaDB GTIDs).
    Global,
}

/// What happens to sessions while no primary is available (MaxScale's
/// `master_failure_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PrimaryFailure {
    /// Reads go on; a write gets an error packet saying no primary is available.
    #[default]
    ErrorOnWrite,
    /// Reads go on; a write closes the connection.
    FailOnWrite,
    /// Sessions close when they need the primary and it is gone, new ones are refused.
    FailInstantly,
}

/// A user routing rule: a regular expression on the statement text (ProxySQL's query
/// rules); the first match wins, before the classifier. Matching ignores case (SQL keywords
/// and unquoted names are case-insensitive) and `.` matches a newline (statements span
/// lines): see `compile_rule`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlRule {
    #[serde(rename = "match")]
    pub pattern: String,
    pub route: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    pub users: Vec<MysqlUser>,
    #[serde(default)]
    pub causal_reads: CausalReads,
    /// How long a replica may take to catch up with the session's write before the read
    /// goes to the primary.
    #[serde(default = "default_causal_timeout_ms")]
    pub causal_timeout_ms: u64,
    #[serde(default)]
    pub primary_failure: PrimaryFailure,
    #[serde(default)]
    pub rules: Vec<MysqlRule>,
    /// The version the greeting announces (clients read features from it); by default the
    /// version of the last server greeting fastlb saw.
    #[serde(default)]
    pub server_version: Option<String>,
    /// The largest command a client may send (MySQL's max_allowed_packet).
    #[serde(default = "default_max_packet")]
    pub max_packet_bytes: usize,
    /// Users whose `KILL` may end any session of the backend (others only their own
    /// user's sessions, as on a server).
    #[serde(default)]
    pub kill_admins: Vec<String>,
    /// Query digests (`mysql.digests`).
    #[serde(default)]
    pub digests: crate::mysql::digest::DigestConfig,
    /// `mysql.pool`: server connections shared between client sessions.
    #[serde(default)]
    pub pool: crate::mysql::pool::PoolConfig,
}

fn default_causal_timeout_ms() -> u64 {
    500
}
fn default_max_packet() -> usize {
    64 * 1024 * 1024
}

impl MysqlConfig {
    /// Checks what the Python layer also checks, for embedders that build the JSON.
    pub fn validate(&self, servers: &[ServerConfig]) -> Result<(), String> {
        if self.users.is_empty() {
            return Err("mysql.users must list at least one user".into());
        }
        let primaries = servers
            .iter()
            .filter(|s| s.role == Some(Role::Primary))
            .count();
        if primaries > 1 {
            return Err("at most one server can have role primary".into());
        }
        for rule in &self.rules {
            compile_rule(&rule.pattern)?;
        }
        self.digests.validate()?;
        self.pool.validate()
    }
}

/// Compiles a rule's pattern the one way both the proxy and `fastlb.mysql.Router` (through
/// `_core.RoutingPolicy`) match it: a search anywhere in the statement text, ignoring case,
/// `.` matching a newline (Python's `re.IGNORECASE | re.DOTALL`).
pub fn compile_rule(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .dot_matches_new_line(true)
        .build()
        .map_err(|e| format!("mysql rule {pattern:?} is not a valid regex: {e}"))
}

/// The settings a session uses, compiled once per (re)load.
#[derive(Debug)]
pub struct MysqlSettings {
    pub config: MysqlConfig,
    /// The rules that compiled, each with its index in `config.rules`.
    rules: Vec<(usize, Regex, Role)>,
}

impl PartialEq for MysqlSettings {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
    }
}

impl MysqlSettings {
    pub fn new(config: &MysqlConfig) -> Self {
        let rules = config
            .rules
            .iter()
            .enumerate()
            // Validated with the configuration; a rule that doesn't compile is dropped
            // rather than taking the backend down.
            .filter_map(|(index, rule)| {
                Some((index, compile_rule(&rule.pattern).ok()?, rule.route))
            })
            .collect();
        MysqlSettings {
            config: config.clone(),
            rules,
        }
    }

    pub fn user(&self, name: &[u8]) -> Option<&MysqlUser> {
        self.config.users.iter().find(|u| u.user.as_bytes() == name)
    }

    pub fn causal_timeout(&self) -> Duration {
        Duration::from_millis(self.config.causal_timeout_ms)
    }

    /// The first user rule matching `statement`.
    pub fn rule_route(&self, statement: &[u8]) -> Option<Role> {
        self.matching_rule(statement).map(|(_, route)| route)
    }

    /// The first user rule matching `statement`: its index in `config.rules` and its route.
    pub fn matching_rule(&self, statement: &[u8]) -> Option<(usize, Role)> {
        self.rules
            .iter()
            .find(|(_, regex, _)| regex.is_match(statement))
            .map(|&(index, _, route)| (index, route))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rules: &[(&str, Role)]) -> MysqlSettings {
        MysqlSettings::new(&MysqlConfig {
            users: vec![],
            causal_reads: CausalReads::Off,
            causal_timeout_ms: 500,
            primary_failure: PrimaryFailure::ErrorOnWrite,
            rules: rules
                .iter()
                .map(|&(pattern, route)| MysqlRule {
                    pattern: pattern.into(),
                    route,
                })
                .collect(),
            server_version: None,
            max_packet_bytes: 1024,
            kill_admins: vec![],
            digests: Default::default(),
            pool: Default::default(),
        })
    }

    #[test]
    fn rules_ignore_case_and_dots_match_newlines() {
        let rules = settings(&[(r"^select\b.*\bfrom reports", Role::Primary)]);
        assert_eq!(
            rules.rule_route(b"SELECT a FROM REPORTS"),
            Some(Role::Primary)
        );
        assert_eq!(
            rules.rule_route(b"select a\nfrom reports"),
            Some(Role::Primary)
        );
        assert_eq!(rules.rule_route(b"SELECT a FROM orders"), None);
    }
}
