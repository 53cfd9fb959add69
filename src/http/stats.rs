//! HTTP counters of a frontend and of a server (docs/http.md, "Stats"): relaxed atomics
//! bumped once per request, and their snapshots. Backend figures are the sums of its
//! servers' (no extra atomics on the data path), as for the connection counters.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::stats::{bump, read, AtomicHistogram, HistogramSnapshot};

/// Responses by status class (HAProxy's `hrsp_1xx` ... `hrsp_other`).
#[derive(Default)]
pub struct ResponseClasses([AtomicU64; 6]);

impl ResponseClasses {
    /// Counts one response with `status`.
    #[inline]
    pub fn count(&self, status: u16) {
        let class = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => 5,
        };
        bump(&self.0[class]);
    }

    pub fn snapshot(&self) -> ResponsesSnapshot {
        let [c1, c2, c3, c4, c5, other] = self.0.each_ref().map(read);
        ResponsesSnapshot {
            c1xx: c1,
            c2xx: c2,
            c3xx: c3,
            c4xx: c4,
            c5xx: c5,
            other,
        }
    }
}

/// `{"1xx": n, ..., "other": n}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResponsesSnapshot {
    #[serde(rename = "1xx")]
    pub c1xx: u64,
    #[serde(rename = "2xx")]
    pub c2xx: u64,
    #[serde(rename = "3xx")]
    pub c3xx: u64,
    #[serde(rename = "4xx")]
    pub c4xx: u64,
    #[serde(rename = "5xx")]
    pub c5xx: u64,
    pub other: u64,
}

impl std::ops::Add for ResponsesSnapshot {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        ResponsesSnapshot {
            c1xx: self.c1xx + o.c1xx,
            c2xx: self.c2xx + o.c2xx,
            c3xx: self.c3xx + o.c3xx,
            c4xx: self.c4xx + o.c4xx,
            c5xx: self.c5xx + o.c5xx,
            other: self.other + o.other,
        }
    }
}

/// A `mode: http` frontend's counters (all zero on other frontends).
#[derive(Default)]
pub struct HttpFrontendCounters {
    /// Requests whose head was parsed (including the ones answered by fastlb itself).
    pub requests: AtomicU64,
    /// Final responses sent to clients, fastlb's own error pages and redirects included.
    pub responses: ResponseClasses,
    /// Requests refused as malformed, too large or smuggling-prone (400, 431, 501, ...).
    pub bad_requests: AtomicU64,
    /// Request heads not complete within `request_timeout` (408).
    pub request_timeouts: AtomicU64,
    pub redirects: AtomicU64,
    /// Clients that negotiated HTTP/2 (ALPN `h2` or h2c).
    pub h2_connections: AtomicU64,
    /// Requests switched to a tunnel by the server's 101.
    pub websocket_upgrades: AtomicU64,
    /// HAProxy's Ta: from the first byte of the request to the end of the response.
    pub request_time: AtomicHistogram,
}

impl HttpFrontendCounters {
    /// Counts a final response sent to a client and the request's total time.
    #[inline]
    pub fn answered(&self, status: u16, elapsed: Duration) {
        self.responses.count(status);
        self.request_time.record(elapsed);
    }

    pub fn snapshot(&self, access_log_dropped: u64) -> HttpFrontendSnapshot {
        HttpFrontendSnapshot {
            requests: read(&self.requests),
            responses: self.responses.snapshot(),
            bad_requests: read(&self.bad_requests),
            request_timeouts: read(&self.request_timeouts),
            redirects: read(&self.redirects),
            h2_connections: read(&self.h2_connections),
            websocket_upgrades: read(&self.websocket_upgrades),
            access_log_dropped,
            request_time: self.request_time.snapshot(),
        }
    }
}

/// A server's HTTP counters (requests sent to it through a `mode: http` frontend).
#[derive(Default)]
pub struct HttpServerCounters {
    pub requests: AtomicU64,
    pub responses: ResponseClasses,
    /// Idle pooled connections to this server now (all workers).
    pub idle_connections: AtomicU64,
    /// Requests sent over a pooled (reused) connection ...
    pub pool_hits: AtomicU64,
    /// ... or over a new one.
    pub pool_misses: AtomicU64,
    /// Requests sent again after a reused connection failed before answering.
    pub retried_requests: AtomicU64,
    /// HAProxy's Tr: from the request sent to the response head received.
    pub response_time: AtomicHistogram,
    /// Requests on their way to or from this server now (picked, not yet answered in full):
    /// what `balance: leastconn` weighs in HTTP mode.
    pub active: AtomicU64,
    /// Responses that got a `Set-Cookie` naming this server (sticky sessions, `insert`).
    pub cookies_set: AtomicU64,
}

impl HttpServerCounters {
    #[inline]
    pub fn active_requests(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn idle_added(&self) {
        self.idle_connections.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn idle_removed(&self) {
        self.idle_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// `None` for a server no http request ever reached.
    pub fn snapshot(&self) -> Option<ServerHttpSnapshot> {
        let requests = read(&self.requests);
        let idle = read(&self.idle_connections);
        (requests > 0 || idle > 0).then(|| ServerHttpSnapshot {
            requests,
            active_requests: read(&self.active),
            cookies_set: read(&self.cookies_set),
            responses: self.responses.snapshot(),
            idle_connections: idle,
            pool_hits: read(&self.pool_hits),
            pool_misses: read(&self.pool_misses),
            retried_requests: read(&self.retried_requests),
            response_time: self.response_time.snapshot(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HttpFrontendSnapshot {
    pub requests: u64,
    pub responses: ResponsesSnapshot,
    pub bad_requests: u64,
    pub request_timeouts: u64,
    pub redirects: u64,
    pub h2_connections: u64,
    pub websocket_upgrades: u64,
    pub access_log_dropped: u64,
    pub request_time: HistogramSnapshot,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerHttpSnapshot {
    pub requests: u64,
    pub active_requests: u64,
    pub cookies_set: u64,
    pub responses: ResponsesSnapshot,
    pub idle_connections: u64,
    pub pool_hits: u64,
    pub pool_misses: u64,
    pub retried_requests: u64,
    pub response_time: HistogramSnapshot,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendHttpSnapshot {
    pub requests: u64,
    pub active_requests: u64,
    pub cookies_set: u64,
    pub responses: ResponsesSnapshot,
    pub pool_hits: u64,
    pub pool_misses: u64,
    pub retried_requests: u64,
    pub response_time: HistogramSnapshot,
}

impl BackendHttpSnapshot {
    /// The sums over a backend's servers; `response_time` merges their histograms' buckets.
    /// `None` when none of them served an http request.
    pub fn from_servers<'a>(servers: impl Iterator<Item = &'a HttpServerCounters>) -> Option<Self> {
        let mut total: Option<(BackendHttpSnapshot, Vec<&AtomicHistogram>)> = None;
        for counters in servers {
            let Some(s) = counters.snapshot() else {
                continue;
            };
            let (t, histograms) = total.get_or_insert_with(|| {
                let empty = BackendHttpSnapshot {
                    requests: 0,
                    active_requests: 0,
                    cookies_set: 0,
                    responses: ResponsesSnapshot::default(),
                    pool_hits: 0,
                    pool_misses: 0,
                    retried_requests: 0,
                    response_time: AtomicHistogram::merged_snapshot(&[]),
                };
                (empty, Vec::new())
            });
            histograms.push(&counters.response_time);
            t.requests += s.requests;
            t.active_requests += s.active_requests;
            t.cookies_set += s.cookies_set;
            t.responses = t.responses + s.responses;
            t.pool_hits += s.pool_hits;
            t.pool_misses += s.pool_misses;
            t.retried_requests += s.retried_requests;
        }
        total.map(|(mut t, histograms)| {
            t.response_time = AtomicHistogram::merged_snapshot(&histograms);
            t
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_land_in_their_class() {
        let classes = ResponseClasses::default();
        for status in [100, 101, 200, 204, 301, 404, 431, 502, 599, 600, 99] {
            classes.count(status);
        }
        let s = classes.snapshot();
        assert_eq!(
            (s.c1xx, s.c2xx, s.c3xx, s.c4xx, s.c5xx, s.other),
            (2, 2, 1, 2, 2, 2)
        );
    }

    #[test]
    fn a_server_without_requests_has_no_http_snapshot() {
        let counters = HttpServerCounters::default();
        assert!(counters.snapshot().is_none());
        bump(&counters.requests);
        counters.response_time.record(Duration::from_millis(2));
        let idle = HttpServerCounters::default();
        let backend = BackendHttpSnapshot::from_servers([&counters, &idle].into_iter()).unwrap();
        assert_eq!((backend.requests, backend.response_time.count), (1, 1));
    }
}
