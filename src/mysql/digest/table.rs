//! The digest table of a frontend: one Space-Saving sketch per shard, a shard per worker
//! thread, merged into the top-K when someone asks.
//!
//! Recording locks only its own thread's shard, which nobody else takes except a snapshot
//! copying it out: an uncontended lock (one atomic swap each way), never a wait behind another
//! worker. Threads beyond the number of shards share shards; that is still correct.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::entry::{DigestSnapshot, DigestStats, Sample};
use super::normalize::{fingerprint, render};
use super::sketch::SpaceSaving;
use serde::Serialize;

/// Keys each shard holds per reported entry. Space-Saving's error bound is total/capacity:
/// 4x the reported count keeps the top-K of a skewed workload exact (tests.rs shows it).
const SLOTS_PER_ENTRY: usize = 4;
/// The least keys a shard holds, so that a small `top_k` still sees past a burst.
const MIN_SLOTS: usize = 64;

/// A shard on its own cache line: shards written by different threads don't share one.
#[repr(align(64))]
struct Shard(Mutex<SpaceSaving<DigestStats>>);

pub struct DigestTable {
    top_k: usize,
    shards: Box<[Shard]>,
}

/// The table as reported: the top entries by total time, and the sketch's own figures.
#[derive(Debug, Clone, Serialize)]
pub struct TableSnapshot {
    pub top_k: usize,
    /// Distinct digests the shards hold now (at most `capacity`). A digest recorded on two
    /// worker threads sits in both shards but counts once: which worker accepts a client is
    /// the kernel's choice (SO_REUSEPORT), and the figure must not depend on it.
    pub tracked: usize,
    /// Keys the shards can hold together.
    pub capacity: usize,
    /// Digests replaced by heavier ones so far.
    pub evictions: u64,
    /// Sorted by total time, heaviest first; at most `top_k`.
    pub digests: Vec<DigestSnapshot>,
}

thread_local! {
    /// This thread's shard number (modulo the shard count), given out in thread order.
    static THREAD_SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

impl DigestTable {
    /// A table reporting `top_k` digests, with one shard per CPU (tokio's worker threads).
    pub fn new(top_k: usize) -> Self {
        let shards = std::thread::available_parallelism().map_or(4, |n| n.get().min(64));
        Self::with_shards(top_k, shards)
    }

    pub fn with_shards(top_k: usize, shards: usize) -> Self {
        let top_k = top_k.max(1);
        let slots = (top_k * SLOTS_PER_ENTRY).max(MIN_SLOTS);
        DigestTable {
            top_k,
            shards: (0..shards.max(1))
                .map(|_| Shard(Mutex::new(SpaceSaving::new(slots))))
                .collect(),
        }
    }

    pub fn top_k(&self) -> usize {
        self.top_k
    }

    /// Counts one finished statement. Hashes the statement's normalised tokens (no
    /// allocation); renders its text only when the digest enters the shard's sketch.
    #[inline]
    pub fn record(&self, sql: &[u8], sample: &Sample) {
        let key = fingerprint(sql);
        let shard = THREAD_SHARD.with(|n| *n) % self.shards.len();
        let mut sketch = self.shards[shard]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        sketch.add(
            key,
            sample.nanos().max(1),
            |stats| {
                stats.reset();
                render(sql, &mut stats.text);
            },
            |stats| stats.record(sample),
        );
    }

    /// The top entries by total time, the shards' counts of each digest added up.
    pub fn snapshot(&self) -> TableSnapshot {
        let mut merged: std::collections::HashMap<u64, (u64, u64, DigestStats)> =
            std::collections::HashMap::new();
        let (mut capacity, mut evictions) = (0, 0);
        for shard in self.shards.iter() {
            let sketch = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
            capacity += sketch.capacity();
            evictions += sketch.evictions();
            for slot in sketch.slots() {
                let entry = merged
                    .entry(slot.key)
                    .or_insert_with(|| (0, 0, DigestStats::default()));
                entry.0 += slot.weight;
                entry.1 += slot.error;
                entry.2.merge(&slot.value);
            }
        }
        let tracked = merged.len();
        let mut entries: Vec<_> = merged.into_iter().collect();
        // By estimated weight (what the sketch ranks by), then by digest for a stable order.
        entries.sort_unstable_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        entries.truncate(self.top_k);
        TableSnapshot {
            top_k: self.top_k,
            tracked,
            capacity,
            evictions,
            digests: entries
                .iter()
                .map(|(key, (_, error, stats))| DigestSnapshot::new(*key, *error, stats))
                .collect(),
        }
    }

    /// Bytes the table holds now, buffers included (tests check it stays bounded).
    pub fn memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let sketch = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
                sketch.heap_bytes()
                    + sketch
                        .slots()
                        .iter()
                        .map(|slot| {
                            slot.value.text.capacity()
                                + std::mem::size_of_val(&*slot.value.histogram)
                        })
                        .sum::<usize>()
            })
            .sum()
    }
}
