//! The atomic counters the data path bumps: relaxed ordering, one cache line per group.

use std::sync::atomic::{AtomicU64, Ordering};

use super::histogram::AtomicHistogram;
use super::snapshot::TrafficSnapshot;

/// Connections and bytes through one frontend or one server.
#[derive(Default)]
pub struct Traffic {
    pub current: AtomicU64,
    pub total: AtomicU64,
    /// Client -> server bytes (HAProxy's `bin`).
    pub bytes_in: AtomicU64,
    /// Server -> client bytes (HAProxy's `bout`).
    pub bytes_out: AtomicU64,
}

impl Traffic {
    /// Counts a new connection; the returned guard counts its end, however the task ends
    /// (including being dropped by a runtime shutdown).
    pub fn open(&self) -> OpenConnection<'_> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.current.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self)
    }

    #[inline]
    pub fn add_in(&self, bytes: u64) {
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    #[inline]
    pub fn add_out(&self, bytes: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> TrafficSnapshot {
        TrafficSnapshot {
            current_connections: read(&self.current),
            total_connections: read(&self.total),
            bytes_in: read(&self.bytes_in),
            bytes_out: read(&self.bytes_out),
        }
    }
}

/// Decrements `current` when dropped.
pub struct OpenConnection<'a>(&'a Traffic);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Per-frontend counters.
#[derive(Default)]
pub struct FrontendStats {
    pub traffic: Traffic,
    /// Connections closed at accept because the frontend was at `max_connections`.
    pub rejected: AtomicU64,
    /// Client connections closed because no server could be reached.
    pub no_server: AtomicU64,
    /// accept(2) failures (e.g. out of file descriptors).
    pub accept_errors: AtomicU64,
    /// Accepted connections closed because fastlb ran out of a local resource (descriptors,
    /// memory, ephemeral ports) connecting to a server.
    pub resource_errors: AtomicU64,
    /// Read/write splitting (`mode: mysql` frontends).
    pub mysql: crate::mysql::stats::MysqlCounters,
    /// Closed at accept: the source address is not allowed by the frontend's `acl`.
    pub refused_acl: AtomicU64,
    /// Closed at accept: the source already had `max_connections_per_source` open.
    pub refused_source_connections: AtomicU64,
    /// Closed at accept: the source exceeded `connection_rate_per_source`.
    pub refused_source_rate: AtomicU64,
    /// Closed at accept (`accept_proxy`): a peer outside `trusted_proxies`, or a PROXY header
    /// that was malformed or late.
    pub proxy_refused: AtomicU64,
    /// TLS handshakes that failed (garbage, an old protocol, no common cipher, a reset).
    pub tls_handshake_failures: AtomicU64,
    /// TLS handshakes not finished within the handshake timeout.
    pub tls_handshake_timeouts: AtomicU64,
    /// Requests and responses (`mode: http` frontends).
    pub http: crate::http::stats::HttpFrontendCounters,
}

/// Per-server counters and latency histograms.
#[derive(Default)]
pub struct ServerStats {
    pub traffic: Traffic,
    pub connect_errors: AtomicU64,
    /// Failed connects to this server that were retried on another server.
    pub retries: AtomicU64,
    pub connect_time: AtomicHistogram,
    pub session_time: AtomicHistogram,
    /// MySQL statements this server ran for `mode: mysql` sessions.
    pub queries: AtomicU64,
    /// Requests from `mode: http` frontends and this server's connection pool.
    pub http: crate::http::stats::HttpServerCounters,
}

/// Shorthand for a relaxed load.
pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Shorthand for a relaxed increment.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
