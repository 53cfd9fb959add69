//! A published schedule plus a shared cursor: lock-free picks, wait-free republishing.

use arc_swap::{ArcSwap, Guard};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::schedule::smooth_cycle;

/// A set of members and one cycle of their smooth weighted round-robin, published together
/// so a picker never sees a schedule of one member list applied to another.
pub struct Schedule<M> {
    pub members: Vec<M>,
    order: Box<[u32]>,
}

/// The smooth weighted round-robin over a member list that can change at runtime.
///
/// `publish` (control side) computes a new cycle and swaps it in; pickers never block and
/// never see a half-built schedule. Each pick takes its own cursor slot, so over any run of
/// `cycle_len` consecutive picks, from any number of threads, every member gets exactly its
/// share (while the weights stay put).
pub struct Rotation<M> {
    schedule: ArcSwap<Schedule<M>>,
    cursor: AtomicUsize,
}

impl<M> Rotation<M> {
    pub fn new(members: Vec<M>, weights: &[u32]) -> Self {
        Rotation {
            schedule: ArcSwap::from_pointee(Self::schedule(members, weights)),
            cursor: AtomicUsize::new(0),
        }
    }

    fn schedule(members: Vec<M>, weights: &[u32]) -> Schedule<M> {
        debug_assert_eq!(members.len(), weights.len());
        Schedule {
            members,
            order: smooth_cycle(weights).into_boxed_slice(),
        }
    }

    /// Replaces members and schedule. The cursor restarts so a new cycle begins on a cycle
    /// boundary.
    pub fn publish(&self, members: Vec<M>, weights: &[u32]) {
        self.schedule
            .store(Arc::new(Self::schedule(members, weights)));
        self.cursor.store(0, Ordering::Relaxed);
    }

    /// The current members and schedule.
    pub fn load(&self) -> Guard<Arc<Schedule<M>>> {
        self.schedule.load()
    }

    /// One full cycle of the current schedule, as member indexes.
    pub fn cycle(&self) -> Vec<u32> {
        self.schedule.load().order.to_vec()
    }
}

impl<M: Clone> Rotation<M> {
    /// The next member in the schedule, or None when every weight is 0.
    #[inline]
    pub fn next(&self) -> Option<M> {
        self.pick_where(|_| true).map(|(_, member)| member)
    }

    /// The next (slot, member) that `accept` takes, scanning at most one cycle: the
    /// schedule can lag a state change by a moment, so the hot path re-checks and skips.
    #[inline]
    pub fn pick_where(&self, mut accept: impl FnMut(&M) -> bool) -> Option<(usize, M)> {
        let schedule = self.schedule.load();
        let len = schedule.order.len();
        for _ in 0..len {
            let slot = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
            let member = &schedule.members[schedule.order[slot] as usize];
            if accept(member) {
                return Some((slot, member.clone()));
            }
        }
        None
    }

    /// Any member `accept` takes, scheduled or not (e.g. a backup outside the schedule).
    pub fn find_member(&self, accept: impl FnMut(&&M) -> bool) -> Option<M> {
        self.schedule.load().members.iter().find(accept).cloned()
    }

    /// The first member `accept` takes in the slots after `slot`, without moving the shared
    /// cursor: a retry goes to the next server in the schedule and doesn't shift everyone
    /// else's turn (otherwise a dead server would be tried by every connection).
    pub fn after(&self, slot: usize, mut accept: impl FnMut(&M) -> bool) -> Option<(usize, M)> {
        let schedule = self.schedule.load();
        let len = schedule.order.len();
        (1..=len)
            .map(|step| (slot + step) % len)
            .map(|slot| (slot, &schedule.members[schedule.order[slot] as usize]))
            .find(|(_, member)| accept(member))
            .map(|(slot, member)| (slot, member.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::thread;

    #[test]
    fn many_threads_picking_get_exact_shares() {
        let rotation = Arc::new(Rotation::new(vec![0usize, 1, 2], &[5, 3, 1]));
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
        let rotation = Arc::new(Rotation::new(vec![0usize, 1, 2], &[1, 1, 0]));
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
            rotation.publish(vec![0, 1, 2], &[1 + round % 256, 256 - round % 256, 0]);
        }
        stop.store(true, Ordering::Relaxed);
        for handle in pickers {
            assert!(handle.join().unwrap() > 0);
        }
        // Once the weights settle, sequential picks are exact over a cycle again.
        rotation.publish(vec![0, 1, 2], &[5, 3, 1]);
        let mut counts = [0; 3];
        for _ in 0..9 {
            counts[rotation.next().unwrap()] += 1;
        }
        assert_eq!(counts, [5, 3, 1]);
    }

    #[test]
    fn all_zero_picks_nothing() {
        let rotation = Rotation::new(vec![0usize, 1], &[0, 0]);
        assert_eq!(rotation.next(), None);
        rotation.publish(vec![0, 1], &[0, 4]);
        assert_eq!(rotation.next(), Some(1));
    }
}
