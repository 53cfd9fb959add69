//! The `mysql.pool` settings as the core receives them (Python validates the user's file
//! and sends durations in milliseconds).

use serde::Deserialize;
use std::time::Duration;

/// `mysql.pool`: server connections kept logged in between client sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Off by default: a pooled connection outlives its client, which changes what a server
    /// sees (fewer logins, `Connections` no longer counts clients).
    pub enabled: bool,
    /// Server connections (idle and in use) one server may hold for this backend.
    pub max_per_server: usize,
    /// Idle connections the idle timeout never closes.
    pub min_idle: usize,
    pub idle_timeout_ms: u64,
    /// A connection older than this is closed when it comes back instead of being reused
    /// (servers' memory per connection grows with its history).
    pub max_lifetime_ms: u64,
    /// Sessions give their server connections back between statements (outside
    /// transactions and pins) instead of holding them for their whole life. Off by default
    /// until it has soaked: a borrowed connection is brought to the session's state by
    /// replaying its SET/USE log, and state fastlb can't reproduce pins the session.
    pub multiplexing: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            enabled: false,
            max_per_server: 64,
            min_idle: 0,
            idle_timeout_ms: 60_000,
            max_lifetime_ms: 3_600_000,
            multiplexing: false,
        }
    }
}

impl PoolConfig {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn max_lifetime(&self) -> Duration {
        Duration::from_millis(self.max_lifetime_ms)
    }

    /// Checks what the Python layer also checks, for embedders that build the JSON.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_per_server == 0 {
            return Err("mysql.pool.max_per_server must be at least 1".into());
        }
        if self.min_idle > self.max_per_server {
            return Err("mysql.pool.min_idle must not exceed mysql.pool.max_per_server".into());
        }
        Ok(())
    }
}
