//! Idle keep-alive server connections, per worker thread (HAProxy `http-reuse safe`).
//!
//! Each worker is a current-thread runtime and a client connection stays on its worker, so
//! the pool is a thread-local: no lock and no atomic on the hot path besides the servers'
//! idle gauges. Connections are keyed by server id and kept LIFO: the most recently used
//! connection is the one least likely to have been closed by the server's own keep-alive
//! timeout. A connection is checked before reuse with a readiness probe (a server that
//! closed it, or sent anything unasked, made it readable) and closed after the backend's
//! `idle_timeout` by a sweeper task that runs while the worker's pool holds anything.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::Interest;

use super::config::HttpBackendConfig;
use crate::balancer::Server;
use crate::proxy::session::ServerStream;

/// How often the sweeper closes expired and dead idle connections. The expiry is also
/// checked on reuse, so this only bounds how long a dead socket keeps its descriptor.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

struct Idle {
    /// Always `Some` until taken (`Idle` owns the gauge decrement, so it is emptied rather
    /// than destructured).
    conn: Option<ServerStream>,
    server: Arc<Server>,
    expires: Instant,
}

impl Idle {
    fn usable(&self, now: Instant) -> bool {
        now < self.expires && !self.server.is_retired() && self.conn.as_ref().is_some_and(alive)
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        self.server.stats.http.idle_removed();
    }
}

#[derive(Default)]
struct Pool {
    by_server: HashMap<u64, VecDeque<Idle>>,
    /// A sweeper task runs on this worker.
    sweeping: bool,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::default();
}

/// An idle connection to `server` that still looks usable, if this worker has one.
pub(crate) fn take(server: &Server) -> Option<ServerStream> {
    POOL.with_borrow_mut(|pool| {
        let idle = pool.by_server.get_mut(&server.id)?;
        let now = Instant::now();
        while let Some(mut candidate) = idle.pop_back() {
            if candidate.usable(now) {
                return candidate.conn.take();
            }
        }
        None
    })
}

/// Keeps `conn` (idle, its last response read completely) for the next request to
/// `server`, unless the pool already holds `max_idle` for it (the oldest is closed then).
pub(crate) fn put(server: &Arc<Server>, conn: ServerStream, config: &HttpBackendConfig) {
    if config.max_idle == 0 {
        return;
    }
    server.stats.http.idle_added();
    let idle = Idle {
        conn: Some(conn),
        server: server.clone(),
        expires: Instant::now() + config.idle_timeout(),
    };
    let start_sweeper = POOL.with_borrow_mut(|pool| {
        let queue = pool.by_server.entry(server.id).or_default();
        while queue.len() >= config.max_idle {
            queue.pop_front();
        }
        queue.push_back(idle);
        !std::mem::replace(&mut pool.sweeping, true)
    });
    if start_sweeper {
        tokio::spawn(sweep());
    }
}

/// Closes expired, dead and retired servers' idle connections until the pool is empty.
async fn sweep() {
    loop {
        tokio::time::sleep(SWEEP_INTERVAL).await;
        let now = Instant::now();
        let empty = POOL.with_borrow_mut(|pool| {
            pool.by_server.retain(|_, idle| {
                idle.retain(|i| i.usable(now));
                !idle.is_empty()
            });
            let empty = pool.by_server.is_empty();
            if empty {
                pool.sweeping = false;
            }
            empty
        });
        if empty {
            return;
        }
    }
}

/// Whether an idle connection is still open and quiet. The readiness check costs no
/// syscall while tokio has seen no event on the socket; only a socket reported readable
/// is peeked at (EOF, unexpected bytes or an error: unusable).
pub(crate) fn alive(conn: &ServerStream) -> bool {
    let socket = conn.socket();
    let peeked = socket.try_io(Interest::READABLE, || {
        let mut byte = [0u8; 1];
        rustix::net::recv(
            socket.as_fd(),
            &mut byte,
            rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT,
        )
        .map(|(n, _)| n)
        .map_err(io::Error::from)
    });
    matches!(peeked, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}
