//! The access log: one line per HTTP request, formatted and written by a writer thread fed
//! through a lock-free queue, so a worker never blocks on the disk (docs/http.md).

use serde::Deserialize;

/// `frontends[i].http.access_log`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// A file (absolute path; appended to, reopened on `Engine::reopen_logs`) or `-` for stdout.
    pub path: String,
    pub format: AccessLogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogFormat {
    Json,
    /// Common Log Format (Apache/nginx `common`).
    Clf,
    /// HAProxy's `option httplog` line.
    Haproxy,
}
