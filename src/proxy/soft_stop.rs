//! Soft stop (HAProxy's): a frontend's signal that the process is stopping, so that its
//! HTTP sessions end at their next clean boundary instead of being cut at the drain
//! deadline. `Engine::stop` raises it; HTTP/1.1 sessions answer with `Connection: close`
//! from then on, h2 connections send a graceful GOAWAY (src/http/session.rs, h2/mod.rs).
//!
//! The hot path pays one relaxed load of a flag that is written once per process life
//! (`is_stopping`, per request); a session waiting for its next request also registers a
//! waker. The wakers are kept in one `Notify` per worker thread (sharded by thread), so
//! that registration takes an uncontended lock on the worker's own cache line, like the
//! keep-alive timer the same wait already arms on the worker's timer wheel.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::Notify;

/// Shards of wakers: one per worker thread up to this many (threads share beyond it).
const SHARDS: usize = 16;

/// One shard on its own cache line (two lines: the adjacent-line prefetcher).
#[repr(align(128))]
#[derive(Default)]
struct Shard(Notify);

/// The stop signal of one frontend's sessions.
pub struct SoftStop {
    stopping: AtomicBool,
    shards: [Shard; SHARDS],
}

impl Default for SoftStop {
    fn default() -> Self {
        SoftStop {
            stopping: AtomicBool::new(false),
            shards: std::array::from_fn(|_| Shard::default()),
        }
    }
}

impl SoftStop {
    /// Whether the process is stopping: an exchange that ends now closes its connection.
    #[inline]
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Tells every session, waiting or not. Idempotent.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        for shard in &self.shards {
            shard.0.notify_waiters();
        }
    }

    /// Clears the signal for a new start of the engine (the sessions told before are gone:
    /// stopping drops every task of the old workers).
    pub fn resume(&self) {
        self.stopping.store(false, Ordering::Release);
    }

    /// Completes once the process is stopping (at once if it already is). Race-free: the
    /// waiter is registered before the flag is read, and `notify_waiters` wakes every
    /// `Notified` created before it, polled or not (tokio's documented guarantee); a stop
    /// before the registration is seen through the flag.
    pub async fn stopped(&self) {
        let notified = self.shards[shard_index()].0.notified();
        if self.is_stopping() {
            return;
        }
        notified.await;
    }
}

/// This thread's shard: threads are numbered in the order they first wait.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|index| {
        if index.get() == usize::MAX {
            index.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
        }
        index.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_waiting_session_is_woken_and_a_late_one_returns_at_once() {
        let signal = Arc::new(SoftStop::default());
        let waiter = signal.clone();
        let waiting = std::thread::spawn(move || runtime().block_on(waiter.stopped()));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!signal.is_stopping());
        signal.stop();
        waiting.join().unwrap();
        assert!(signal.is_stopping());
        // After the stop: no wake-up needed, the flag answers.
        let late = runtime().block_on(async {
            tokio::time::timeout(Duration::from_secs(5), signal.stopped()).await
        });
        assert!(late.is_ok());
        signal.resume();
        assert!(!signal.is_stopping());
    }

    #[test]
    fn a_stop_between_creating_and_polling_the_wait_is_not_lost() {
        let signal = SoftStop::default();
        runtime().block_on(async {
            let stopped = signal.stopped();
            tokio::pin!(stopped);
            // Polled once: registered, pending.
            assert!(futures_poll_once(stopped.as_mut()).await.is_none());
            signal.stop();
            tokio::time::timeout(Duration::from_secs(5), stopped)
                .await
                .expect("the stop reached a registered waiter");
        });
    }

    /// Polls `future` once: `Some` if it completed.
    async fn futures_poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
                std::task::Poll::Ready(out) => Some(out),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
