//! A published schedule plus a shared cursor: lock-free picks, wait-free republishing.

use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::schedule::smooth_cycle;

/// The smooth weighted round-robin of a fixed set of members (indexes `0..n`).
///
/// `publish` (control side) computes a new cycle and swaps it in; pickers never block and
/// never see a half-built schedule. Each pick takes its own cursor slot, so over any run of
/// `cycle_len` consecutive picks, from any number of threads, every member gets exactly its
/// share (while the weights stay put).
pub struct Rotation {
    schedule: ArcSwap<Box<[u32]>>,
    cursor: AtomicUsize,
}

impl Rotation {
    pub fn new(weights: &[u32]) -> Self {
        Rotation {
            schedule: ArcSwap::from_pointee(smooth_cycle(weights).into_boxed_slice()),
            cursor: AtomicUsize::new(0),
        }
    }

    /// Replaces the schedule. The cursor restarts so a new cycle begins on a cycle boundary.
    pub fn publish(&self, weights: &[u32]) {
        self.schedule
            .store(Arc::new(smooth_cycle(weights).into_boxed_slice()));
        self.cursor.store(0, Ordering::Relaxed);
    }

    /// The next member in the schedule, or None when every weight is 0.
    #[inline]
    pub fn next(&self) -> Option<usize> {
        self.pick_where(|_| true).map(|(_, member)| member)
    }

    /// The next (slot, member) that `accept` takes, scanning at most one cycle: the
    /// schedule can lag a state change by a moment, so the hot path re-checks and skips.
    #[inline]
    pub fn pick_where(&self, mut accept: impl FnMut(usize) -> bool) -> Option<(usize, usize)> {
        let schedule = self.schedule.load();
        let len = schedule.len();
        for _ in 0..len {
            let slot = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
            let member = schedule[slot] as usize;
            if accept(member) {
                return Some((slot, member));
            }
        }
        None
    }

    /// The first member `accept` takes in the slots after `slot`, without moving the shared
    /// cursor: a retry goes to the next server in the schedule and doesn't shift everyone
    /// else's turn (otherwise a dead server would be tried by every connection).
    pub fn after(
        &self,
        slot: usize,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<(usize, usize)> {
        let schedule = self.schedule.load();
        let len = schedule.len();
        (1..=len)
            .map(|step| (slot + step) % len)
            .map(|slot| (slot, schedule[slot] as usize))
            .find(|&(_, member)| accept(member))
    }

    /// One full cycle of the current schedule.
    pub fn cycle(&self) -> Vec<u32> {
        self.schedule.load().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::thread;

    #[test]
    fn many_threads_picking_get_exact_shares() {
        let rotation = Arc::new(Rotation::new(&[5, 3, 1]));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let rotation = rotation.clone();
                thread::spawn(move || {
                    let mut counts = [0u64; 3];
                    for _ in 0..90_000 {
                        counts[rotation.next().unwrap()] += 1;
                    }
                    counts
                })
            })
            .collect();
        let mut total = [0u64; 3];
        for handle in threads {
            for (t, c) in total.iter_mut().zip(handle.join().unwrap()) {
                *t += c;
            }
        }
        // 720_000 picks = 80_000 full cycles: exact.
        assert_eq!(total, [400_000, 240_000, 80_000]);
    }

    #[test]
    fn pickers_never_block_or_fail_while_weights_change() {
        // Member 2 has weight 0 in every schedule ever published: it must never be picked,
        // and a member with weight is always available, whatever publish is in flight.
        let rotation = Arc::new(Rotation::new(&[1, 1, 0]));
        let stop = Arc::new(AtomicBool::new(false));
        let pickers: Vec<_> = (0..6)
            .map(|_| {
                let (rotation, stop) = (rotation.clone(), stop.clone());
                thread::spawn(move || {
                    let mut picks = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let member = rotation.next().expect("a member always has weight");
                        assert_ne!(member, 2, "picked a weight-0 member");
                        picks += 1;
                    }
                    picks
                })
            })
            .collect();
        for round in 0..5_000u32 {
            rotation.publish(&[1 + round % 256, 256 - round % 256, 0]);
        }
        stop.store(true, Ordering::Relaxed);
        for handle in pickers {
            assert!(handle.join().unwrap() > 0);
        }
        // Once the weights settle, sequential picks are exact over a cycle again.
        rotation.publish(&[5, 3, 1]);
        let mut counts = [0; 3];
        for _ in 0..9 {
            counts[rotation.next().unwrap()] += 1;
        }
        assert_eq!(counts, [5, 3, 1]);
    }

    #[test]
    fn all_zero_picks_nothing() {
        let rotation = Rotation::new(&[0, 0]);
        assert_eq!(rotation.next(), None);
        rotation.publish(&[0, 4]);
        assert_eq!(rotation.next(), Some(1));
    }
}
