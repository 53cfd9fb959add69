//! The process-wide `max_connections`: at the limit, accept loops pause (HAProxy's global
//! `maxconn`) instead of accepting and closing, so clients wait in the kernel's accept
//! queue and are served as soon as connections end, rather than being turned away.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

use crate::stats::bump;

#[derive(Default)]
pub struct GlobalLimit {
    current: AtomicU64,
    /// 0: no limit.
    max: AtomicU64,
    /// Times an accept loop had to wait for a connection to end.
    pauses: AtomicU64,
    freed: Notify,
}

/// One connection's place under the global limit; released on drop.
pub struct GlobalSlot(Arc<GlobalLimit>);

impl Drop for GlobalSlot {
    fn drop(&mut self) {
        let before = self.0.current.fetch_sub(1, Ordering::Relaxed);
        let max = self.0.max.load(Ordering::Relaxed);
        if max != 0 && before >= max {
            // Someone may be paused at the limit: wake every accept loop to look again.
            self.0.freed.notify_waiters();
        }
    }
}

impl GlobalLimit {
    pub fn set_max(&self, max: Option<u64>) {
        self.max.store(max.unwrap_or(0), Ordering::Relaxed);
        // A raised limit lets paused accept loops go on now.
        self.freed.notify_waiters();
    }

    pub fn max(&self) -> Option<u64> {
        Some(self.max.load(Ordering::Relaxed)).filter(|&m| m != 0)
    }

    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    pub fn pauses(&self) -> u64 {
        self.pauses.load(Ordering::Relaxed)
    }

    fn try_acquire(self: &Arc<Self>) -> Option<GlobalSlot> {
        self.current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                let max = self.max.load(Ordering::Relaxed);
                (max == 0 || n < max).then_some(n + 1)
            })
            .ok()?;
        Some(GlobalSlot(self.clone()))
    }

    /// A slot, waiting as long as the process is at its limit.
    pub async fn acquire(self: &Arc<Self>) -> GlobalSlot {
        if let Some(slot) = self.try_acquire() {
            return slot;
        }
        bump(&self.pauses);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the re-check: a slot freed in between still wakes us.
            freed.as_mut().enable();
            if let Some(slot) = self.try_acquire() {
                return slot;
            }
            freed.await;
        }
    }

    /// Resolves once there is room for one more connection (without taking it).
    pub async fn room(self: &Arc<Self>) {
        drop(self.acquire().await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waits_at_the_limit_and_resumes_when_a_slot_frees() {
        let limit = Arc::new(GlobalLimit::default());
        limit.set_max(Some(2));
        let first = limit.acquire().await;
        let _second = limit.acquire().await;
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move { limit.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "a third slot was handed out over the limit"
        );
        assert_eq!(limit.pauses(), 1);
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("not woken when a slot was freed")
            .unwrap();
        assert_eq!(limit.current(), 2);
        drop(third);
        assert_eq!(limit.current(), 1);
    }

    #[tokio::test]
    async fn raising_the_limit_wakes_waiters_and_no_limit_never_waits() {
        let limit = Arc::new(GlobalLimit::default());
        let _slots: Vec<_> = take_slots(&limit, 1000).await;
        limit.set_max(Some(1000));
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move { limit.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the limit did not hold the waiter");
        assert_eq!(limit.pauses(), 1);
        limit.set_max(Some(1001));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("raising the limit did not wake the waiter")
            .unwrap();
    }

    async fn take_slots(limit: &Arc<GlobalLimit>, n: usize) -> Vec<GlobalSlot> {
        let mut slots = Vec::with_capacity(n);
        for _ in 0..n {
            slots.push(limit.acquire().await);
        }
        slots
    }
}
