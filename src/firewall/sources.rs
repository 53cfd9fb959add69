//! Per-source accounting: open connections and the connection rate of each client address.
//!
//! Lock-light: the table is split into shards by a keyed hash of the address, each behind
//! its own mutex held only for a map lookup, so accept loops and closing sessions on
//! different workers rarely meet. Memory is bounded: each shard holds at most
//! `SHARD_CAPACITY` sources; when one is full, sources with no open connection whose rate
//! window has passed are evicted first.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

const SHARDS: usize = 64;
/// 64 x 1024 = 65,536 sources tracked at most (~5 MiB).
const SHARD_CAPACITY: usize = 1024;

/// Why a source was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRefusal {
    /// It already has `max_connections_per_source` connections open.
    TooManyConnections,
    /// It opened connections faster than `connection_rate_per_source`.
    RateExceeded,
}

/// The limits in force; 0 means "no limit". Atomics so that a reload changes them in place
/// while the table (and every source's count) stays.
#[derive(Default)]
struct Limits {
    max_connections: AtomicU32,
    rate_connections: AtomicU32,
    rate_window_ms: AtomicU64,
}

/// What is known about one client address.
#[derive(Debug, Clone, Copy)]
struct Source {
    open: u32,
    /// Start of the current rate window (ms since the table's origin).
    window_start: u64,
    in_window: u32,
    in_previous_window: u32,
    last_seen: u64,
}

pub struct SourceTable {
    shards: Box<[Mutex<HashMap<IpAddr, Source>>]>,
    /// Keyed hashing: a client can't choose addresses that all land in one shard.
    hasher: RandomState,
    limits: Limits,
    origin: Instant,
}

/// One admitted connection's place in its source's count; released on drop.
pub struct SourceTicket {
    table: Arc<SourceTable>,
    peer: IpAddr,
}

impl Drop for SourceTicket {
    fn drop(&mut self) {
        let mut shard = self.table.shard(self.peer);
        if let Some(source) = shard.get_mut(&self.peer) {
            source.open = source.open.saturating_sub(1);
        }
    }
}

impl Default for SourceTable {
    fn default() -> Self {
        SourceTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            limits: Limits::default(),
            origin: Instant::now(),
        }
    }
}

impl SourceTable {
    /// Sets the limits (`None`: no limit); sources and their counts are kept.
    pub fn set_limits(&self, max_connections: Option<u32>, rate: Option<(u32, u64)>) {
        let limits = &self.limits;
        limits
            .max_connections
            .store(max_connections.unwrap_or(0), Ordering::Relaxed);
        let (count, window_ms) = rate.unwrap_or((0, 0));
        limits
            .rate_window_ms
            .store(window_ms.max(1), Ordering::Relaxed);
        limits.rate_connections.store(count, Ordering::Relaxed);
    }

    /// Whether any per-source limit is set (else the table is not consulted at all).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.limits.max_connections.load(Ordering::Relaxed) != 0
            || self.limits.rate_connections.load(Ordering::Relaxed) != 0
    }

    /// Counts a new connection from `peer`, or says why it must be refused. A refused
    /// attempt still counts towards the rate (as HAProxy's `conn_rate` does): a client that
    /// keeps hammering stays refused until it slows down.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<SourceTicket, SourceRefusal> {
        let max_open = self.limits.max_connections.load(Ordering::Relaxed);
        let rate_limit = self.limits.rate_connections.load(Ordering::Relaxed);
        let window = self.limits.rate_window_ms.load(Ordering::Relaxed).max(1);
        let now = self.origin.elapsed().as_millis() as u64;
        let mut shard = self.shard(peer);
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&peer) {
            evict_idle(&mut shard, now, window);
            if shard.len() >= SHARD_CAPACITY {
                // Every tracked source has connections open: refuse rather than forget
                // one of them (forgetting would let it exceed its limit).
                return Err(SourceRefusal::TooManyConnections);
            }
        }
        let source = match shard.entry(peer) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Source {
                open: 0,
                window_start: now,
                in_window: 0,
                in_previous_window: 0,
                last_seen: now,
            }),
        };
        source.last_seen = now;
        if rate_limit != 0 {
            advance_window(source, now, window);
            source.in_window = source.in_window.saturating_add(1);
            if estimated_rate(source, now, window) > f64::from(rate_limit) {
                return Err(SourceRefusal::RateExceeded);
            }
        }
        if max_open != 0 && source.open >= max_open {
            return Err(SourceRefusal::TooManyConnections);
        }
        source.open += 1;
        drop(shard);
        Ok(SourceTicket {
            table: self.clone(),
            peer,
        })
    }

    /// Sources tracked now (for tests and stats).
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    fn shard(&self, peer: IpAddr) -> MutexGuard<'_, HashMap<IpAddr, Source>> {
        let index = self.hasher.hash_one(peer) as usize % SHARDS;
        lock(&self.shards[index])
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Moves the fixed window forward to the one containing `now`.
fn advance_window(source: &mut Source, now: u64, window: u64) {
    let elapsed = now.saturating_sub(source.window_start);
    if elapsed < window {
        return;
    }
    let windows = elapsed / window;
    source.in_previous_window = if windows == 1 { source.in_window } else { 0 };
    source.in_window = 0;
    source.window_start += windows * window;
}

/// The sliding-window estimate: this window's count plus the previous window's, weighted
/// by how much of it still overlaps the last `window` ms. Smooth at window edges, where a
/// plain fixed window lets a client burst twice the limit.
fn estimated_rate(source: &Source, now: u64, window: u64) -> f64 {
    let into_window = now.saturating_sub(source.window_start).min(window);
    let overlap = (window - into_window) as f64 / window as f64;
    f64::from(source.in_previous_window) * overlap + f64::from(source.in_window)
}

/// Drops sources with nothing open whose rate history no longer matters.
fn evict_idle(shard: &mut HashMap<IpAddr, Source>, now: u64, window: u64) {
    shard.retain(|_, s| s.open > 0 || now.saturating_sub(s.last_seen) < 2 * window);
    if shard.len() >= SHARD_CAPACITY {
        // Still full of recently seen sources: forget idle ones all the same (their rate
        // history is lost, the bound on memory is not).
        shard.retain(|_, s| s.open > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn limits_open_connections_per_source() {
        let table = Arc::new(SourceTable::default());
        table.set_limits(Some(2), None);
        let a1 = table.admit(ip("10.0.0.1")).unwrap();
        let _a2 = table.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(
            table.admit(ip("10.0.0.1")).err(),
            Some(SourceRefusal::TooManyConnections)
        );
        let _b = table
            .admit(ip("10.0.0.2"))
            .expect("another source has its own count");
        drop(a1);
        let _a3 = table
            .admit(ip("10.0.0.1"))
            .expect("room again once one closed");
    }

    #[test]
    fn limits_the_rate_per_source_and_recovers() {
        let table = Arc::new(SourceTable::default());
        table.set_limits(None, Some((3, 200)));
        for _ in 0..3 {
            drop(table.admit(ip("10.0.0.1")).unwrap());
        }
        assert_eq!(
            table.admit(ip("10.0.0.1")).err(),
            Some(SourceRefusal::RateExceeded)
        );
        assert!(table.admit(ip("10.0.0.2")).is_ok());
        // Two windows later the history has faded completely.
        std::thread::sleep(std::time::Duration::from_millis(450));
        assert!(table.admit(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn sliding_estimate_weighs_the_previous_window() {
        let mut source = Source {
            open: 0,
            window_start: 0,
            in_window: 10,
            in_previous_window: 0,
            last_seen: 0,
        };
        advance_window(&mut source, 1_250, 1_000);
        assert_eq!(
            (source.window_start, source.in_previous_window),
            (1_000, 10)
        );
        // A quarter into the new window, three quarters of the old one still count.
        assert_eq!(estimated_rate(&source, 1_250, 1_000), 7.5);
        advance_window(&mut source, 5_000, 1_000);
        assert_eq!(estimated_rate(&source, 5_000, 1_000), 0.0);
    }

    #[test]
    fn memory_stays_bounded_under_many_sources() {
        let table = Arc::new(SourceTable::default());
        table.set_limits(Some(10), None);
        // 200k distinct sources, each connecting once and leaving.
        for n in 0..200_000u32 {
            let peer = IpAddr::V4((0x0a00_0000 + n).into());
            drop(table.admit(peer).unwrap());
        }
        assert!(
            table.tracked() <= SHARDS * SHARD_CAPACITY,
            "{}",
            table.tracked()
        );
    }

    #[test]
    fn unlimited_table_is_inactive() {
        let table = SourceTable::default();
        assert!(!table.is_active());
        table.set_limits(Some(1), None);
        assert!(table.is_active());
        table.set_limits(None, None);
        assert!(!table.is_active());
    }
}
