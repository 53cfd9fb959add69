//! A frontend: where it listens, which backend it feeds, its limits and counters.

use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::balancer::Backend;
use crate::config::{FrontendConfig, FrontendMode, SpliceMode};
use crate::stats::FrontendStats;

pub struct Frontend {
    pub name: String,
    /// The configured and the actually bound address (they differ for port 0). Control
    /// side only.
    addresses: Mutex<Addresses>,
    backend: ArcSwap<Backend>,
    max_connections: AtomicU64,
    idle_timeout_ms: AtomicU64,
    pub splice: SpliceMode,
    /// Fixed for the listener's life (a reload that changes it rebinds the frontend).
    pub mode: FrontendMode,
    pub stats: FrontendStats,
}

#[derive(Clone, Copy)]
pub struct Addresses {
    pub configured: SocketAddr,
    pub bound: Option<SocketAddr>,
}

impl Frontend {
    pub fn new(config: &FrontendConfig, backend: Arc<Backend>, splice: SpliceMode) -> Self {
        Frontend {
            name: config.name.clone(),
            addresses: Mutex::new(Addresses {
                configured: config.listen,
                bound: None,
            }),
            backend: ArcSwap::new(backend),
            max_connections: AtomicU64::new(config.max_connections as u64),
            idle_timeout_ms: AtomicU64::new(config.idle_timeout_ms),
            splice,
            mode: config.mode,
            stats: FrontendStats::default(),
        }
    }

    /// A reload: new backend, limits and (already bound) address; connections in progress
    /// keep the backend they started with.
    pub fn update(&self, config: &FrontendConfig, backend: Arc<Backend>) {
        self.backend.store(backend);
        self.max_connections
            .store(config.max_connections as u64, Ordering::Relaxed);
        self.idle_timeout_ms
            .store(config.idle_timeout_ms, Ordering::Relaxed);
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
    pub fn reserve_slot(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let current = &self.stats.traffic.current;
        current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_connections.load(Ordering::Relaxed)).then_some(n + 1)
            })
            .ok()?;
        self.stats.traffic.total.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot(self.clone()))
    }
}

/// An accepted connection's place in its frontend's count; released on drop, however the
/// session ends (including a runtime shutdown dropping the task).
pub struct ConnectionSlot(Arc<Frontend>);

impl ConnectionSlot {
    pub fn frontend(&self) -> &Arc<Frontend> {
        &self.0
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.stats.traffic.current.fetch_sub(1, Ordering::Relaxed);
    }
}
