//! Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
//! Network Load Balancer", NSDI 2016, section 3.4): `balance: maglev` and `balance: source`.
//!
//! Every server gets a permutation of the table's slots from two hashes of its name
//! (`offset`, `skip`); servers take turns claiming their next free preferred slot until the
//! table is full. The table depends only on the set of (name, weight) pairs, so two fastlb
//! nodes with the same servers build the same table and send a client to the same server
//! without talking to each other; adding or removing one of N servers remaps about 1/N of
//! the slots (the paper's "minimal disruption", slightly above the 1/N floor).
//!
//! Weights: a server of weight w takes `w / max_weight` turns per round (as Envoy's
//! weighted Maglev does), so its share of the table is w / sum(w) to within a slot or so.
//!
//! Health and operator state don't rebuild the table: a down, drained or maintenance
//! server keeps its slots and a client landing on one rehashes to further slots until one
//! belongs to a live server. So only that server's clients move, they spread over the
//! others by weight, every node probes the same way, and they all come back when it does. Weight, membership and backup switches
//! rebuild (a few ms for 65537 slots, on the control side), and an unchanged member set
//! reuses the last table.
//!
//! A pick is one hash of the client address and one table load, lock-free (`ArcSwap`).

use arc_swap::{ArcSwap, Guard};
use std::sync::{Arc, Mutex};

use super::hashing::{fmix64, hash_bytes, reduce, OFFSET_SEED, SKIP_SEED};

/// Slots in a table: prime (so every `skip` walks all of them) and, per the paper, well
/// over 100 times the number of servers for balanced shares; 65537 is the paper's size.
pub const TABLE_SIZE: usize = 65_537;

/// Probes of a client's own sequence before a linear scan: with a fraction `d` of the
/// table down, all of them miss with probability d^16 (1.5% at d = 0.77).
const REHASHES: usize = 16;

/// SplitMix64's increment: consecutive probes of one client hash to unrelated slots.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A slot no server has claimed yet (only during a build).
const EMPTY: u16 = u16::MAX;

/// Builds a Maglev lookup table of `size` slots (prime) over `members` (name, weight):
/// each slot holds an index into `members`. Weight-0 members get no slot; all zero (or no
/// member) gives an empty table. Members are visited in name order, not list order, so the
/// table doesn't depend on the order servers were configured or added in. At most
/// `u16::MAX` members take part (the rest get no slot); Maglev wants far fewer anyway.
pub fn build_table(members: &[(&str, u32)], size: usize) -> Vec<u16> {
    let mut order: Vec<usize> = (0..members.len().min(usize::from(EMPTY)))
        .filter(|&i| members[i].1 > 0)
        .collect();
    if order.is_empty() || size == 0 {
        return Vec::new();
    }
    order.sort_by(|&a, &b| members[a].0.cmp(members[b].0));
    let size64 = size as u64;
    // Per member: where its permutation starts, its stride, how far it has got, and the
    // running target that says when its next turn is due.
    let offsets: Vec<u64> = order
        .iter()
        .map(|&i| hash_bytes(members[i].0.as_bytes(), OFFSET_SEED) % size64)
        .collect();
    let skips: Vec<u64> = order
        .iter()
        .map(|&i| hash_bytes(members[i].0.as_bytes(), SKIP_SEED) % (size64 - 1) + 1)
        .collect();
    let weights: Vec<u64> = order.iter().map(|&i| u64::from(members[i].1)).collect();
    let max_weight = *weights.iter().max().expect("order is not empty");
    let mut next = vec![0u64; order.len()];
    let mut target = vec![max_weight; order.len()];
    let mut table = vec![EMPTY; size];
    let mut filled = 0;
    for round in 1u64.. {
        for (k, &member) in order.iter().enumerate() {
            // The heaviest member takes a turn every round, a member of weight w in
            // w/max of them: floor(round * w / max) turns after `round` rounds.
            if round * weights[k] < target[k] {
                continue;
            }
            target[k] += max_weight;
            loop {
                let slot = ((offsets[k] + next[k] * skips[k]) % size64) as usize;
                next[k] += 1;
                if table[slot] == EMPTY {
                    table[slot] = member as u16;
                    filled += 1;
                    break;
                }
            }
            if filled == size {
                return table;
            }
        }
    }
    unreachable!("every round fills at least one slot")
}

/// One published state: the members, the table over them, and which may take clients.
pub struct Lookup<M> {
    pub members: Vec<M>,
    table: Arc<[u16]>,
    /// Per member: in the table and allowed to take new clients right now.
    live: Box<[bool]>,
    any_live: bool,
}

impl<M> Lookup<M> {
    /// The table's slots as member indexes (tests, disruption figures).
    pub fn table(&self) -> &[u16] {
        &self.table
    }
}

/// The last table built, and what it was built from, to skip rebuilding on a health flap.
type Built = (Vec<(String, u32)>, Arc<[u16]>);

/// A Maglev table over a member list that changes at runtime: `publish` (control side)
/// swaps in a new state, `pick_where` (hot path) never blocks.
pub struct Maglev<M> {
    lookup: ArcSwap<Lookup<M>>,
    built: Mutex<Option<Built>>,
    size: usize,
}

impl<M: Clone> Maglev<M> {
    /// An empty table of `size` slots (prime; `TABLE_SIZE` outside tests).
    pub fn new(size: usize) -> Self {
        Maglev {
            lookup: ArcSwap::from_pointee(Lookup {
                members: Vec::new(),
                table: Arc::from(Vec::new()),
                live: Box::new([]),
                any_live: false,
            }),
            built: Mutex::new(None),
            size,
        }
    }

    /// Publishes `members`: the table follows `names` and `weights` (rebuilt only when they
    /// changed), `live` says which members take new clients (a member not live keeps its
    /// slots; clients that land there probe on).
    pub fn publish(&self, members: Vec<M>, names: &[&str], weights: &[u32], live: &[bool]) {
        debug_assert!(members.len() == names.len() && names.len() == weights.len());
        let key: Vec<(String, u32)> = names
            .iter()
            .zip(weights)
            .map(|(n, &w)| (n.to_string(), w))
            .collect();
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        let table = match built.as_ref() {
            Some((known, table)) if *known == key => table.clone(),
            _ => {
                let pairs: Vec<(&str, u32)> = names.iter().copied().zip(weights.to_vec()).collect();
                let table: Arc<[u16]> = Arc::from(build_table(&pairs, self.size));
                *built = Some((key, table.clone()));
                table
            }
        };
        let live: Box<[bool]> = live
            .iter()
            .zip(weights)
            .map(|(&l, &w)| l && w > 0)
            .collect();
        let any_live = live.iter().any(|&l| l);
        self.lookup.store(Arc::new(Lookup {
            members,
            table,
            live,
            any_live,
        }));
    }

    /// The current state.
    pub fn load(&self) -> Guard<Arc<Lookup<M>>> {
        self.lookup.load()
    }

    /// The (slot, member) for a client whose key hashes to `hash`: its own slot's member if
    /// live and `accept`ed (the state can lag a change by a moment, so the hot path
    /// re-checks), else the member of the next slot in the client's own probe sequence
    /// (rehashing, not the neighbouring slot: neighbours are correlated by the way the
    /// table fills, and a down server's clients would pile onto a few servers), so they
    /// spread over the live servers by weight. After `REHASHES` misses (most of the table
    /// down), a linear scan guarantees a live server if there is one.
    #[inline]
    pub fn pick_where(&self, hash: u64, mut accept: impl FnMut(&M) -> bool) -> Option<(usize, M)> {
        let lookup = self.lookup.load();
        if !lookup.any_live {
            return None;
        }
        let len = lookup.table.len();
        let mut hash = hash;
        for _ in 0..REHASHES {
            let slot = reduce(hash, len);
            let index = usize::from(lookup.table[slot]);
            if lookup.live[index] && accept(&lookup.members[index]) {
                return Some((slot, lookup.members[index].clone()));
            }
            hash = fmix64(hash.wrapping_add(GOLDEN_GAMMA));
        }
        probe(&lookup, reduce(hash, len), accept)
    }

    /// The first live member `accept` takes in the slots after `slot` (a retry: it is the
    /// same for the same client on every node).
    pub fn after(&self, slot: usize, accept: impl FnMut(&M) -> bool) -> Option<(usize, M)> {
        let lookup = self.lookup.load();
        if !lookup.any_live {
            return None;
        }
        probe(&lookup, (slot + 1) % lookup.table.len(), accept)
    }
}

/// Linear probe from `slot` over the whole table at most once.
#[inline]
fn probe<M: Clone>(
    lookup: &Lookup<M>,
    mut slot: usize,
    mut accept: impl FnMut(&M) -> bool,
) -> Option<(usize, M)> {
    let len = lookup.table.len();
    for _ in 0..len {
        let index = usize::from(lookup.table[slot]);
        if lookup.live[index] && accept(&lookup.members[index]) {
            return Some((slot, lookup.members[index].clone()));
        }
        slot += 1;
        if slot == len {
            slot = 0;
        }
    }
    None
}

#[cfg(test)]
#[path = "maglev_tests.rs"]
mod tests;
