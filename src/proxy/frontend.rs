//! A frontend: where it listens, which backend it feeds, its limits and counters.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::balancer::Backend;
use crate::config::{FrontendConfig, SpliceMode};
use crate::stats::FrontendStats;

pub struct Frontend {
    pub name: String,
    pub configured_listen: SocketAddr,
    /// The address actually bound (differs when the config asked for port 0).
    pub bound: OnceLock<SocketAddr>,
    pub backend: Arc<Backend>,
    pub max_connections: u64,
    pub idle_timeout: Duration,
    pub splice: SpliceMode,
    pub stats: FrontendStats,
}

impl Frontend {
    pub fn new(config: &FrontendConfig, backend: Arc<Backend>, splice: SpliceMode) -> Self {
        Frontend {
            name: config.name.clone(),
            configured_listen: config.listen,
            bound: OnceLock::new(),
            backend,
            max_connections: config.max_connections as u64,
            idle_timeout: config.idle_timeout(),
            splice,
            stats: FrontendStats::default(),
        }
    }

    /// Takes a connection slot if the frontend is under `max_connections`. Exact under
    /// concurrent accept loops (compare-and-swap), unlike a check followed by an increment.
    pub fn reserve_slot(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let current = &self.stats.traffic.current;
        current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_connections).then_some(n + 1)
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
