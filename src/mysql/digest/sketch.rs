//! A weighted Space-Saving sketch (Metwally, Agrawal, El Abbadi, 2005) in fixed memory.
//!
//! It holds at most `capacity` keys. A key already held adds its weight; a new key takes the
//! slot of the key with the smallest weight, inherits that weight as its possible
//! overestimation (`error`) and starts its own statistics from zero. Any key whose true total
//! exceeds (total weight) / capacity is guaranteed to be held, and a key that was never evicted
//! has exact statistics: in a skewed workload the heavy keys stay exact however many light ones
//! pass through (ProxySQL's digest table instead grows with every distinct statement:
//! proxysql#2095, #1293, #4531).
//!
//! The smallest weight is found through a binary min-heap of slot numbers (weights only grow,
//! so an update only sifts down); keys are found through a hash map sized once for the
//! capacity. After the first `capacity` keys nothing allocates, except what a value's own
//! `reset` does.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Keys are already hashes: the map uses them as they are.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type KeyMap = HashMap<u64, u32, BuildHasherDefault<KeyHasher>>;

/// One held key.
#[derive(Debug, Clone)]
pub struct Slot<V> {
    pub key: u64,
    /// The estimated total weight: exact weight seen since it entered, plus `error`.
    pub weight: u64,
    /// The weight it inherited when it entered (at most this much of `weight` is not its own).
    pub error: u64,
    pub value: V,
}

pub struct SpaceSaving<V> {
    capacity: usize,
    slots: Vec<Slot<V>>,
    /// Slot numbers, a min-heap on their weight.
    heap: Vec<u32>,
    /// Where each slot sits in `heap`.
    position: Vec<u32>,
    index: KeyMap,
    evictions: u64,
}

impl<V> SpaceSaving<V> {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        SpaceSaving {
            capacity,
            slots: Vec::with_capacity(capacity),
            heap: Vec::with_capacity(capacity),
            position: Vec::with_capacity(capacity),
            index: KeyMap::with_capacity_and_hasher(capacity, Default::default()),
            evictions: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Keys replaced by others so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    pub fn slots(&self) -> &[Slot<V>] {
        &self.slots
    }

    /// Bytes of the sketch's own arrays and map (the values' buffers not included).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<V>>()
            + (self.heap.capacity() + self.position.capacity()) * 4
            // hashbrown: the (key, slot) pair and one control byte per bucket.
            + self.index.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
    }

    /// The allocated capacity of the key map (it must not grow: tests check).
    pub fn index_capacity(&self) -> usize {
        self.index.capacity()
    }

    /// Adds `weight` to `key`. `enter` prepares the value of a key that just entered: a
    /// default one, or the evicted key's, to reset (its buffers are reused). `update` then
    /// records into the value.
    #[inline]
    pub fn add(
        &mut self,
        key: u64,
        weight: u64,
        enter: impl FnOnce(&mut V),
        update: impl FnOnce(&mut V),
    ) where
        V: Default,
    {
        let slot = match self.index.get(&key) {
            Some(&slot) => slot as usize,
            None => {
                let slot = self.enter(key);
                enter(&mut self.slots[slot].value);
                slot
            }
        };
        let held = &mut self.slots[slot];
        held.weight = held.weight.saturating_add(weight);
        update(&mut held.value);
        self.sift_down(self.position[slot] as usize);
    }

    /// The slot for a key not held: a new one while there is room, else the lightest key's.
    fn enter(&mut self, key: u64) -> usize
    where
        V: Default,
    {
        if self.slots.len() < self.capacity {
            let slot = self.slots.len();
            self.slots.push(Slot {
                key,
                weight: 0,
                error: 0,
                value: V::default(),
            });
            self.position.push(slot as u32);
            self.heap.push(slot as u32);
            self.index.insert(key, slot as u32);
            // Weight 0 is the smallest there is: the new slot belongs at the top.
            self.sift_up(self.heap.len() - 1);
            return slot;
        }
        let slot = self.heap[0] as usize;
        self.evictions += 1;
        let victim = &mut self.slots[slot];
        self.index.remove(&victim.key);
        victim.key = key;
        victim.error = victim.weight;
        self.index.insert(key, slot as u32);
        slot
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.weight_at(parent) <= self.weight_at(at) {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
    }

    #[inline]
    fn sift_down(&mut self, mut at: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * at + 1;
            if left >= len {
                return;
            }
            let right = left + 1;
            let child = if right < len && self.weight_at(right) < self.weight_at(left) {
                right
            } else {
                left
            };
            if self.weight_at(at) <= self.weight_at(child) {
                return;
            }
            self.swap(at, child);
            at = child;
        }
    }

    #[inline]
    fn weight_at(&self, heap_index: usize) -> u64 {
        self.slots[self.heap[heap_index] as usize].weight
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.position[self.heap[a] as usize] = a as u32;
        self.position[self.heap[b] as usize] = b as u32;
    }
}
