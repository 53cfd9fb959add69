//! `balance: leastconn`: the eligible member with the least load relative to its weight,
//! HAProxy's semantics (`lb_fwlc.c`): the key is `(load + 1) / weight`, so at equal load
//! the heavier server goes first and a server of weight 2 carries twice the load of one of
//! weight 1 before they are even. Ties are spread round-robin: each pick starts its scan
//! at the next position of a shared cursor and keeps the first of the least loaded, so
//! idle servers take turns instead of the first one in the list taking everything.
//!
//! Lock-free: the eligible members are published through `ArcSwap` (off the hot path,
//! whenever weights or states change), and a pick reads their load counters (relaxed
//! atomics owned by the caller's `measure`) in one pass — O(servers), which for the
//! handful of servers of a backend costs less than a heap kept in order under a lock
//! (HAProxy's tree needs its lock for exactly that).

use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The members that may be picked, and a cursor that spreads ties.
pub struct LeastLoaded<M> {
    members: ArcSwap<Vec<M>>,
    cursor: AtomicUsize,
}

impl<M: Clone> LeastLoaded<M> {
    pub fn new() -> Self {
        LeastLoaded {
            members: ArcSwap::from_pointee(Vec::new()),
            cursor: AtomicUsize::new(0),
        }
    }

    /// Replaces the eligible members (those with a weight in the current schedule).
    pub fn publish(&self, members: Vec<M>) {
        self.members.store(Arc::new(members));
    }

    /// The member `accept` takes with the least `(load + 1) / weight`, where `measure`
    /// gives `(load, weight)`; a member of weight 0 is never picked. Returns the member's
    /// index in the published list with it.
    #[inline]
    pub fn pick_where(
        &self,
        mut accept: impl FnMut(&M) -> bool,
        measure: impl Fn(&M) -> (u64, u32),
    ) -> Option<(usize, M)> {
        let members = self.members.load();
        let len = members.len();
        if len == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
        // (index, load + 1, weight) of the best so far.
        let mut best: Option<(usize, u64, u64)> = None;
        for step in 0..len {
            let index = (start + step) % len;
            let member = &members[index];
            let (load, weight) = measure(member);
            if weight == 0 || !accept(member) {
                continue;
            }
            let (load, weight) = (load.saturating_add(1), u64::from(weight));
            // a/b < c/d  <=>  a*d < c*b (weights are at most 256: no overflow in practice).
            let better = best.is_none_or(|(_, best_load, best_weight)| {
                u128::from(load) * u128::from(best_weight)
                    < u128::from(best_load) * u128::from(weight)
            });
            if better {
                best = Some((index, load, weight));
            }
        }
        best.map(|(index, _, _)| (index, members[index].clone()))
    }
}

impl<M: Clone> Default for LeastLoaded<M> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    struct Member {
        load: AtomicU64,
        weight: u32,
    }

    fn members(weights: &[u32]) -> LeastLoaded<Arc<Member>> {
        let least = LeastLoaded::new();
        least.publish(
            weights
                .iter()
                .map(|&weight| {
                    Arc::new(Member {
                        load: AtomicU64::new(0),
                        weight,
                    })
                })
                .collect(),
        );
        least
    }

    fn measure(m: &Arc<Member>) -> (u64, u32) {
        (m.load.load(Ordering::Relaxed), m.weight)
    }

    #[test]
    fn the_least_loaded_is_picked_and_ties_take_turns() {
        let least = members(&[1, 1, 1]);
        // Nobody busy: three picks in a row land on three different members.
        let mut seen = [0; 3];
        for _ in 0..3 {
            seen[least.pick_where(|_| true, measure).unwrap().0] += 1;
        }
        assert_eq!(seen, [1, 1, 1]);
        // Member 1 holds 5 requests, member 2 holds 1: member 0 wins every time.
        let all = least.members.load_full();
        all[1].load.store(5, Ordering::Relaxed);
        all[2].load.store(1, Ordering::Relaxed);
        for _ in 0..10 {
            assert_eq!(least.pick_where(|_| true, measure).unwrap().0, 0);
        }
        // ... unless it is refused: then the next least loaded.
        assert_eq!(
            least
                .pick_where(|m| m.weight > 0 && !Arc::ptr_eq(m, &all[0]), measure)
                .unwrap()
                .0,
            2
        );
    }

    #[test]
    fn load_is_relative_to_weight() {
        let least = members(&[2, 1]);
        let all = least.members.load_full();
        // Idle: the heavier first ((0+1)/2 < (0+1)/1).
        assert_eq!(least.pick_where(|_| true, measure).unwrap().0, 0);
        // Simulate holding each pick: weights 2:1 end up carrying 2:1.
        for _ in 0..3 {
            let (i, _) = least.pick_where(|_| true, measure).unwrap();
            all[i].load.fetch_add(1, Ordering::Relaxed);
        }
        let loads: Vec<u64> = all.iter().map(|m| m.load.load(Ordering::Relaxed)).collect();
        assert_eq!(loads, vec![2, 1]);
    }

    #[test]
    fn weight_zero_and_empty_pick_nothing() {
        assert!(members(&[]).pick_where(|_| true, measure).is_none());
        assert!(members(&[0, 0]).pick_where(|_| true, measure).is_none());
        assert_eq!(members(&[0, 3]).pick_where(|_| true, measure).unwrap().0, 1);
    }
}
