//! The server-connection pool of `mode: mysql` backends (`mysql.pool`): logged-in server
//! connections outlive their client sessions, so that a client that connects per request
//! doesn't pay a server login each time, and `max_per_server` bounds what a server holds.
//!
//! One pool per server (`server.rs`: idle connections by key, the connection slots); this
//! file keeps them by server id and closes idle connections in the background. Sessions
//! decide when a connection can go back and reset it first (`session/pooled.rs`).
//!
//! Worker runtimes share the pools: a connection opened on one worker may serve a session
//! on another (tokio's I/O resources wake from any thread while their runtime runs).

pub mod config;
pub mod server;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use crate::balancer::Server;
use crate::mysql::session::upstream::Upstream;
pub use config::PoolConfig;
pub use server::{Full, Lease, PoolKey, Pooled, ServerPool, Taken};

/// How often idle connections are checked for the idle timeout, lifetime and death.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

struct Entry {
    server: Weak<Server>,
    pool: Arc<ServerPool<Upstream>>,
    backend: String,
}

static POOLS: LazyLock<Mutex<HashMap<u64, Entry>>> = LazyLock::new(Mutex::default);

/// `server`'s pool in `backend`; `config` (the backend's current settings, not a
/// session's: those may be older than the last reload) applies to it from now on.
pub fn for_server(
    backend: &str,
    server: &Arc<Server>,
    config: &PoolConfig,
) -> Arc<ServerPool<Upstream>> {
    let mut pools = POOLS.lock().unwrap();
    if let Some(entry) = pools.get(&server.id) {
        entry.pool.set_config(config);
        return entry.pool.clone();
    }
    // Servers removed by a reload (or a stopped engine) leave their pools here.
    pools.retain(|_, entry| entry.server.strong_count() > 0);
    let pool = Arc::new(ServerPool::new(config.clone()));
    pools.insert(
        server.id,
        Entry {
            server: Arc::downgrade(server),
            pool: pool.clone(),
            backend: backend.to_owned(),
        },
    );
    let weak = Arc::downgrade(&pool);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_INTERVAL).await;
            match weak.upgrade() {
                Some(pool) => pool.evict(),
                None => return,
            }
        }
    });
    pool
}

/// A reload's pool settings for every pool of `backend`, at once: sessions that started
/// before it keep the settings they started with, so the pools must not wait for the next
/// session to learn them (nor take an older session's back). Idle connections beyond a
/// lower limit, or all of them when the pool was turned off, close at the next sweep.
pub fn reconfigure(backend: &str, config: &PoolConfig) {
    let pools = POOLS.lock().unwrap();
    pools
        .values()
        .filter(|entry| entry.backend == backend)
        .for_each(|entry| entry.pool.set_config(config));
}

/// A server's pooled connections now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Figures {
    pub idle: u64,
    /// Idle and in use.
    pub open: u64,
}

/// The pooled connections of each of `backend`'s servers, by server name (a server a
/// reload replaced under the same name adds its pool's figures until its last session ends).
pub fn figures(backend: &str) -> BTreeMap<String, Figures> {
    let pools = POOLS.lock().unwrap();
    let mut by_name: BTreeMap<String, Figures> = BTreeMap::new();
    for entry in pools.values().filter(|entry| entry.backend == backend) {
        let Some(server) = entry.server.upgrade() else {
            continue;
        };
        let figures = by_name.entry(server.name.clone()).or_default();
        figures.idle += entry.pool.idle() as u64;
        figures.open += entry.pool.open() as u64;
    }
    by_name
}
