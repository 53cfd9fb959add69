//! A frontend: where it listens, which backend it feeds, its limits and counters.

use arc_swap::{ArcSwap, ArcSwapOption};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::global_limit::GlobalSlot;
use super::soft_stop::SoftStop;
use crate::balancer::Backend;
use crate::config::{FrontendConfig, FrontendMode, SpliceMode};
use crate::firewall::{Firewall, Refusal, SourceRefusal, SourceTicket};
use crate::http::HttpFrontend;
use crate::stats::{bump, FrontendStats};
use crate::tls::{HandshakeError, TlsTermination};

pub struct Frontend {
    pub name: String,
    /// The configured and the actually bound address (they differ for port 0). Control
    /// side only.
    addresses: Mutex<Addresses>,
    backend: ArcSwap<Backend>,
    max_connections: AtomicU64,
    idle_timeout_ms: AtomicU64,
    /// TLS termination, when the frontend has `tls` (swapped whole on reload).
    tls: ArcSwapOption<TlsTermination>,
    /// `mode: http`: settings, routes and access log (swapped whole on reload).
    http: ArcSwapOption<HttpFrontend>,
    /// The ACL and per-source limits checked at accept.
    pub firewall: Firewall,
    pub splice: SpliceMode,
    /// `accept_proxy`: read a PROXY header first (swapped whole on reload).
    pub accept_proxy: ArcSwapOption<crate::proxy_protocol::AcceptProxy>,
    /// Fixed for the listener's life (a reload that changes it rebinds the frontend).
    pub mode: FrontendMode,
    pub stats: FrontendStats,
    /// Raised when the engine stops: HTTP sessions close at their next clean boundary.
    pub soft_stop: SoftStop,
}

#[derive(Clone, Copy)]
pub struct Addresses {
    pub configured: SocketAddr,
    pub bound: Option<SocketAddr>,
}

impl Frontend {
    pub fn new(
        config: &FrontendConfig,
        backend: Arc<Backend>,
        splice: SpliceMode,
        tls: Option<Arc<TlsTermination>>,
        http: Option<Arc<HttpFrontend>>,
    ) -> Self {
        let frontend = Frontend {
            name: config.name.clone(),
            addresses: Mutex::new(Addresses {
                configured: config.listen,
                bound: None,
            }),
            backend: ArcSwap::new(backend),
            max_connections: AtomicU64::new(config.max_connections as u64),
            idle_timeout_ms: AtomicU64::new(config.idle_timeout_ms),
            tls: ArcSwapOption::new(tls),
            http: ArcSwapOption::new(http),
            firewall: Firewall::default(),
            splice,
            accept_proxy: ArcSwapOption::empty(),
            mode: config.mode,
            stats: FrontendStats::default(),
            soft_stop: SoftStop::default(),
        };
        frontend.configure_firewall(config);
        frontend
    }

    /// A reload: new backend, limits, TLS certificates and (already bound) address;
    /// connections in progress keep the backend (and the certificate) they started with.
    pub fn update(
        &self,
        config: &FrontendConfig,
        backend: Arc<Backend>,
        tls: Option<Arc<TlsTermination>>,
        http: Option<Arc<HttpFrontend>>,
    ) {
        self.backend.store(backend);
        self.tls.store(tls);
        self.http.store(http);
        self.configure_firewall(config);
        self.max_connections
            .store(config.max_connections as u64, Ordering::Relaxed);
        self.idle_timeout_ms
            .store(config.idle_timeout_ms, Ordering::Relaxed);
    }

    fn configure_firewall(&self, config: &FrontendConfig) {
        self.accept_proxy
            .store(crate::proxy_protocol::AcceptProxy::from_config(config));
        self.firewall.configure(
            config.acl.as_ref(),
            config.max_connections_per_source,
            config.connection_rate_per_source,
        );
    }

    /// TLS termination, if this frontend has it.
    #[inline]
    pub fn tls(&self) -> Option<Arc<TlsTermination>> {
        self.tls.load_full()
    }

    /// The HTTP state of a `mode: http` frontend.
    #[inline]
    pub fn http(&self) -> Option<Arc<HttpFrontend>> {
        self.http.load_full()
    }

    /// Requests its access log dropped (a full queue); 0 without one.
    pub fn access_log_dropped(&self) -> u64 {
        self.http
            .load()
            .as_ref()
            .map_or(0, |h| h.access_log_dropped())
    }

    /// Counts a client's TLS handshake that failed or timed out.
    #[cold]
    pub fn count_tls_handshake_error(&self, error: &HandshakeError) {
        bump(match error {
            HandshakeError::Timeout => &self.stats.tls_handshake_timeouts,
            HandshakeError::Failed(_) => &self.stats.tls_handshake_failures,
        });
    }

    /// Counts a connection the firewall closed at accept.
    #[cold]
    pub fn count_refusal(&self, refusal: Refusal) {
        bump(match refusal {
            Refusal::Acl => &self.stats.refused_acl,
            Refusal::Source(SourceRefusal::TooManyConnections) => {
                &self.stats.refused_source_connections
            }
            Refusal::Source(SourceRefusal::RateExceeded) => &self.stats.refused_source_rate,
        });
    }

    pub fn backend(&self) -> Arc<Backend> {
        self.backend.load_full()
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.load(Ordering::Relaxed))
    }

    pub fn addresses(&self) -> Addresses {
        *self.addresses.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_addresses(&self, configured: SocketAddr, bound: Option<SocketAddr>) {
        *self.addresses.lock().unwrap_or_else(|e| e.into_inner()) = Addresses { configured, bound };
    }

    /// Takes a connection slot if the frontend is under `max_connections`. Exact under
    /// concurrent accept loops (compare-and-swap), unlike a check followed by an increment.
    /// The slot keeps the connection's global and per-source places until it ends.
    pub fn reserve_slot(
        self: &Arc<Self>,
        global: GlobalSlot,
        source: Option<SourceTicket>,
    ) -> Option<ConnectionSlot> {
        let current = &self.stats.traffic.current;
        current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_connections.load(Ordering::Relaxed)).then_some(n + 1)
            })
            .ok()?;
        self.stats.traffic.total.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot {
            frontend: self.clone(),
            _global: global,
            _source: source,
        })
    }
}

/// An accepted connection's place in its frontend's count (and in the global and its
/// source's counts); released on drop, however the session ends (including a runtime
/// shutdown dropping the task).
pub struct ConnectionSlot {
    frontend: Arc<Frontend>,
    _global: GlobalSlot,
    _source: Option<SourceTicket>,
}

impl ConnectionSlot {
    pub fn frontend(&self) -> &Arc<Frontend> {
        &self.frontend
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.frontend
            .stats
            .traffic
            .current
            .fetch_sub(1, Ordering::Relaxed);
    }
}
