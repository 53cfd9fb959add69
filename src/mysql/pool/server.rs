//! One server's pool: idle logged-in connections by key, and the slots that bound how many
//! connections (idle and in use) the server holds. Generic over the connection so the
//! limits and the waiting are tested without a server.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

use super::config::PoolConfig;

/// What makes two server connections interchangeable at login: the same user, default
/// schema, character set/collation and negotiated capabilities. Anything set later
/// (SET, USE) is the session's state, replayed on the connection it borrows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub user: String,
    pub database: Option<Vec<u8>>,
    pub collation: u8,
    pub capabilities: u32,
    pub track_gtid: bool,
}

/// A connection the pool can hold.
pub trait Pooled: Send + 'static {
    /// The server closed it, or bytes are waiting that nobody asked for.
    fn is_dead(&self) -> bool;
    fn born(&self) -> Instant;
    /// Closes it politely, without making the caller wait; its slot is free at once.
    fn retire(self);
}

/// The connection count of one server, shared by the pool and each connection's lease.
#[derive(Default)]
pub struct Slots {
    open: AtomicUsize,
    freed: Notify,
}

impl Slots {
    /// A slot, unless `max` connections are open.
    fn reserve(self: &Arc<Self>, max: usize) -> Option<Lease> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Lease(self.clone()))
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// One open server connection counted against `max_per_server`; dropping it (with the
/// connection) frees the slot and wakes the waiting sessions (the first of them takes it).
pub struct Lease(Arc<Slots>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.freed.notify_waiters();
    }
}

struct Idle<C> {
    key: PoolKey,
    conn: C,
    since: Instant,
}

/// What `take` found.
pub enum Taken<C> {
    /// An idle connection logged in with the same key.
    Reused(C),
    /// None idle: a slot to open a new connection in.
    Open(Lease),
}

/// `max_per_server` connections are in use and none was given back in time.
#[derive(Debug)]
pub struct Full;

pub struct ServerPool<C> {
    slots: Arc<Slots>,
    /// Oldest first: taking from the end reuses the warmest connection, and the idle
    /// timeout closes the coldest ones.
    idle: Mutex<Vec<Idle<C>>>,
    /// The settings of the last (re)load that used this pool.
    config: Mutex<PoolConfig>,
    /// The sessions waiting for a connection now, by ticket in arrival order. Only the
    /// first may take what comes free: a session that arrives (or a multiplexed one that
    /// borrows again) while others wait queues behind them, so a busy session can't take
    /// every connection back before a woken waiter runs.
    queue: Mutex<VecDeque<u64>>,
    next_ticket: AtomicU64,
    /// The queue's length, read without its lock: multiplexed sessions ask after every
    /// statement whether anyone waits.
    waiting: AtomicUsize,
    /// The signal to sessions that hold a connection between statements (multiplexing)
    /// that someone wants it.
    wanted: Notify,
}

/// A session's place in the queue, left when it drops (the connection taken, or the wait
/// over); the next session in line is woken then, as something may be free for it.
struct Place<'a, C: Pooled> {
    pool: &'a ServerPool<C>,
    ticket: u64,
}

impl<C: Pooled> Drop for Place<'_, C> {
    fn drop(&mut self) {
        let mut queue = self.pool.queue.lock().unwrap();
        queue.retain(|&t| t != self.ticket);
        self.pool.waiting.store(queue.len(), Ordering::Release);
        drop(queue);
        self.pool.slots.freed.notify_waiters();
    }
}

impl<C: Pooled> ServerPool<C> {
    pub fn new(config: PoolConfig) -> Self {
        ServerPool {
            slots: Arc::default(),
            idle: Mutex::new(Vec::new()),
            config: Mutex::new(config),
            queue: Mutex::new(VecDeque::new()),
            next_ticket: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            wanted: Notify::new(),
        }
    }

    pub fn config(&self) -> PoolConfig {
        self.config.lock().unwrap().clone()
    }

    pub fn set_config(&self, config: &PoolConfig) {
        let mut current = self.config.lock().unwrap();
        if *current != *config {
            *current = config.clone();
            // A larger limit may let waiting sessions in now.
            self.slots.freed.notify_waiters();
        }
    }

    /// An idle connection for `key`, or a slot for a new one; waits up to `timeout` for a
    /// connection to come back when the server holds `max_per_server`, in turn behind the
    /// sessions that were waiting already. `waited` says whether it had to.
    pub async fn take(
        &self,
        key: &PoolKey,
        timeout: Duration,
        waited: &mut bool,
    ) -> Result<Taken<C>, Full> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut place: Option<Place<'_, C>> = None;
        loop {
            let config = self.config();
            // Registered before looking, so that a connection given back in between wakes
            // this session.
            let freed = self.slots.freed.notified();
            if self.my_turn(place.as_ref()) {
                if let Some(conn) = self.take_idle(key, &config) {
                    return Ok(Taken::Reused(conn));
                }
                if let Some(lease) = self.slots.reserve(config.max_per_server) {
                    return Ok(Taken::Open(lease));
                }
            }
            *waited = true;
            if place.is_none() {
                place = Some(self.enqueue());
            }
            // Sessions holding a connection between statements give it back now.
            self.wanted.notify_waiters();
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(Full);
            }
        }
    }

    /// Whether a session may take a connection now: it is first in the queue, or (not
    /// queued yet) nobody waits.
    fn my_turn(&self, place: Option<&Place<'_, C>>) -> bool {
        let queue = self.queue.lock().unwrap();
        match place {
            Some(place) => queue.front() == Some(&place.ticket),
            None => queue.is_empty(),
        }
    }

    fn enqueue(&self) -> Place<'_, C> {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let mut queue = self.queue.lock().unwrap();
        queue.push_back(ticket);
        self.waiting.store(queue.len(), Ordering::Release);
        Place { pool: self, ticket }
    }

    /// The newest live idle connection with `key`; when none fits and the server is at
    /// its limit, the oldest idle connection of another key is closed to make room.
    fn take_idle(&self, key: &PoolKey, config: &PoolConfig) -> Option<C> {
        let mut retired = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap();
            let mut found = None;
            while let Some(position) = idle.iter().rposition(|entry| entry.key == *key) {
                let entry = idle.remove(position);
                // A dead connection leaves the pool here, once: it is never handed out.
                if entry.conn.is_dead() || entry.conn.born().elapsed() >= config.max_lifetime() {
                    retired.push(entry.conn);
                    continue;
                }
                found = Some(entry.conn);
                break;
            }
            if found.is_none() && self.slots.open() >= config.max_per_server && !idle.is_empty() {
                retired.push(idle.remove(0).conn);
            }
            found
        };
        retired.into_iter().for_each(Pooled::retire);
        found
    }

    /// Keeps `conn` for the next session with `key` (closed instead when the pool is off
    /// now, the server holds more than a reload's lower `max_per_server`, or the
    /// connection is past its lifetime).
    pub fn give_back(&self, key: PoolKey, conn: C) {
        let config = self.config();
        let over_limit = self.slots.open() > config.max_per_server;
        if !config.enabled || over_limit || conn.born().elapsed() >= config.max_lifetime() {
            return conn.retire();
        }
        self.idle.lock().unwrap().push(Idle {
            key,
            conn,
            since: Instant::now(),
        });
        self.slots.freed.notify_waiters();
    }

    /// Closes idle connections that are dead, past the idle timeout (keeping `min_idle`)
    /// or past their lifetime; all of them when the pool was turned off, and the oldest
    /// ones while the server holds more than `max_per_server` (a reload lowered it).
    pub fn evict(&self) {
        let config = self.config();
        let retired: Vec<C> = {
            let mut idle = self.idle.lock().unwrap();
            let mut keep = Vec::with_capacity(idle.len());
            let mut retired = Vec::new();
            let total = idle.len();
            let mut excess = self.slots.open().saturating_sub(config.max_per_server);
            for (index, entry) in idle.drain(..).enumerate() {
                // Entries are oldest first: the newest `min_idle` stay past the idle timeout.
                let protected = total - index <= config.min_idle;
                let stale = entry.since.elapsed() >= config.idle_timeout() && !protected;
                let expired = entry.conn.born().elapsed() >= config.max_lifetime();
                let over_limit = excess > 0;
                if !config.enabled || over_limit || stale || expired || entry.conn.is_dead() {
                    // The slot is freed when the retired connection drops, below.
                    excess = excess.saturating_sub(1);
                    retired.push(entry.conn);
                } else {
                    keep.push(entry);
                }
            }
            *idle = keep;
            retired
        };
        retired.into_iter().for_each(Pooled::retire);
    }

    /// Sessions waiting for a connection of this server now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Resolves when a session starts waiting for a connection of this server (a future
    /// created before `waiting()` is checked sees every later start).
    pub fn wanted(&self) -> tokio::sync::futures::Notified<'_> {
        self.wanted.notified()
    }

    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap().len()
    }

    pub fn open(&self) -> usize {
        self.slots.open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    struct Fake {
        dead: Arc<AtomicBool>,
        born: Instant,
        _lease: Lease,
    }

    impl Pooled for Fake {
        fn is_dead(&self) -> bool {
            self.dead.load(Ordering::Relaxed)
        }
        fn born(&self) -> Instant {
            self.born
        }
        fn retire(self) {}
    }

    fn key(user: &str) -> PoolKey {
        PoolKey {
            user: user.into(),
            database: None,
            collation: 45,
            capabilities: 0,
            track_gtid: false,
        }
    }

    fn pool(max: usize) -> ServerPool<Fake> {
        ServerPool::new(PoolConfig {
            enabled: true,
            max_per_server: max,
            ..PoolConfig::default()
        })
    }

    async fn open(pool: &ServerPool<Fake>, k: &PoolKey) -> Fake {
        let mut waited = false;
        match pool.take(k, Duration::from_millis(50), &mut waited).await {
            Ok(Taken::Open(lease)) => Fake {
                dead: Arc::default(),
                born: Instant::now(),
                _lease: lease,
            },
            _ => panic!("expected a free slot"),
        }
    }

    #[tokio::test]
    async fn a_given_back_connection_is_reused_by_the_same_key_only() {
        let pool = pool(2);
        let conn = open(&pool, &key("a")).await;
        pool.give_back(key("a"), conn);
        let mut waited = false;
        let taken = pool.take(&key("b"), Duration::ZERO, &mut waited).await;
        assert!(matches!(taken, Ok(Taken::Open(_))));
        let taken = pool.take(&key("a"), Duration::ZERO, &mut waited).await;
        assert!(matches!(taken, Ok(Taken::Reused(_))));
        assert!(!waited);
    }

    #[tokio::test]
    async fn a_full_pool_waits_then_fails_and_a_return_wakes_a_waiter() {
        let pool = Arc::new(pool(1));
        let conn = open(&pool, &key("a")).await;
        let mut waited = false;
        let taken = pool
            .take(&key("a"), Duration::from_millis(20), &mut waited)
            .await;
        assert!(matches!(taken, Err(Full)));
        assert!(waited);
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut waited = false;
                matches!(
                    pool.take(&key("a"), Duration::from_secs(5), &mut waited)
                        .await,
                    Ok(Taken::Reused(_))
                )
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        pool.give_back(key("a"), conn);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn a_connection_given_back_goes_to_the_first_waiter_not_to_a_later_arrival() {
        let pool = Arc::new(pool(1));
        let conn = open(&pool, &key("a")).await;
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut waited = false;
                // Kept (in the task's output) until the test is done with the pool.
                pool.take(&key("a"), Duration::from_secs(5), &mut waited)
                    .await
            })
        };
        while pool.waiting() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        pool.give_back(key("a"), conn);
        // Before the woken waiter runs, a session that arrives now must queue behind it.
        let mut waited = false;
        let barging = pool.take(&key("a"), Duration::ZERO, &mut waited).await;
        assert!(matches!(barging, Err(Full)));
        assert!(matches!(waiter.await.unwrap(), Ok(Taken::Reused(_))));
        assert_eq!(pool.waiting(), 0);
    }

    #[tokio::test]
    async fn a_dead_idle_connection_is_never_handed_out() {
        let pool = pool(2);
        let conn = open(&pool, &key("a")).await;
        let dead = conn.dead.clone();
        pool.give_back(key("a"), conn);
        dead.store(true, Ordering::Relaxed);
        let mut waited = false;
        let taken = pool.take(&key("a"), Duration::ZERO, &mut waited).await;
        assert!(matches!(taken, Ok(Taken::Open(_))));
        assert_eq!(pool.idle(), 0);
    }

    #[tokio::test]
    async fn another_keys_idle_connection_makes_room_at_the_limit() {
        let pool = pool(1);
        let conn = open(&pool, &key("a")).await;
        pool.give_back(key("a"), conn);
        let mut waited = false;
        let taken = pool
            .take(&key("b"), Duration::from_secs(1), &mut waited)
            .await;
        assert!(matches!(taken, Ok(Taken::Open(_))));
        assert_eq!(pool.idle(), 0);
    }

    #[tokio::test]
    async fn a_lower_limit_closes_the_connections_beyond_it() {
        let pool = pool(4);
        let mut conns = Vec::new();
        for _ in 0..4 {
            conns.push(open(&pool, &key("a")).await);
        }
        let in_use = conns.pop().unwrap();
        conns
            .into_iter()
            .for_each(|conn| pool.give_back(key("a"), conn));
        assert_eq!((pool.idle(), pool.open()), (3, 4));
        pool.set_config(&PoolConfig {
            enabled: true,
            max_per_server: 2,
            ..PoolConfig::default()
        });
        // The sweep closes idle connections until the server holds the new limit...
        pool.evict();
        assert_eq!((pool.idle(), pool.open()), (1, 2));
        // ... and one that comes back while the server holds more is closed, not kept.
        let second = open_when_free(&pool).await;
        assert_eq!((pool.idle(), pool.open()), (0, 2));
        pool.set_config(&PoolConfig {
            enabled: true,
            max_per_server: 1,
            ..PoolConfig::default()
        });
        pool.give_back(key("a"), in_use);
        assert_eq!((pool.idle(), pool.open()), (0, 1));
        pool.give_back(key("b"), second);
        assert_eq!((pool.idle(), pool.open()), (1, 1));
    }

    /// A connection of another key: the idle one of key "a" makes room for it.
    async fn open_when_free(pool: &ServerPool<Fake>) -> Fake {
        let mut waited = false;
        match pool
            .take(&key("b"), Duration::from_millis(50), &mut waited)
            .await
        {
            Ok(Taken::Open(lease)) => Fake {
                dead: Arc::default(),
                born: Instant::now(),
                _lease: lease,
            },
            _ => panic!("expected a slot"),
        }
    }

    #[tokio::test]
    async fn eviction_keeps_min_idle_and_closes_everything_when_turned_off() {
        let pool = ServerPool::new(PoolConfig {
            enabled: true,
            max_per_server: 4,
            min_idle: 1,
            idle_timeout_ms: 0,
            ..PoolConfig::default()
        });
        let first = open(&pool, &key("a")).await;
        let second = open(&pool, &key("a")).await;
        pool.give_back(key("a"), first);
        pool.give_back(key("a"), second);
        assert_eq!(pool.idle(), 2);
        pool.evict();
        assert_eq!(pool.idle(), 1);
        pool.set_config(&PoolConfig::default());
        pool.evict();
        assert_eq!((pool.idle(), pool.open()), (0, 0));
    }
}
