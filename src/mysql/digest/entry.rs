//! What is counted per digest: calls, errors, rows, time by route, and a compact latency
//! histogram; and how two shards' counts of one digest add up.

use serde::Serialize;
use std::time::Duration;

use crate::mysql::Role;

/// Sub-buckets per power of two of the per-digest histogram: 4 (values within 25%, reported
/// as the bucket's upper bound). NOTE: the core's `AtomicHistogram` (32 sub-buckets, 8 KiB)
/// would make every held digest 8 KiB; this one is 512 bytes, and percentiles of a digest
/// are for telling 1 ms from 10 ms, not 1.00 from 1.03 ms.
const SUB_BITS: u32 = 2;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Microseconds up to 2^32 (~71 minutes); longer lands in the last bucket.
const MAX_EXPONENT: u32 = 32;
pub const BUCKETS: usize = (2 * SUB_COUNT + (MAX_EXPONENT - SUB_BITS) as u64 * SUB_COUNT) as usize;

fn bucket_of(us: u64) -> usize {
    if us < 2 * SUB_COUNT {
        return us as usize;
    }
    let exponent = (63 - us.leading_zeros()).min(MAX_EXPONENT);
    let shift = exponent - SUB_BITS;
    let mantissa = (us >> shift).min(2 * SUB_COUNT - 1) - SUB_COUNT;
    ((2 * SUB_COUNT + u64::from(exponent - SUB_BITS - 1) * SUB_COUNT + mantissa) as usize)
        .min(BUCKETS - 1)
}

fn upper_bound_of(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * SUB_COUNT {
        return index;
    }
    let above = index - 2 * SUB_COUNT;
    let shift = above / SUB_COUNT + 1;
    let mantissa = SUB_COUNT + above % SUB_COUNT;
    ((mantissa + 1) << shift) - 1
}

/// One finished statement, as the session saw it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub latency: Duration,
    /// The server answered with an ERR packet.
    pub error: bool,
    /// Result-set rows sent to the client.
    pub rows: u64,
    pub route: Role,
}

impl Sample {
    /// The latency in nanoseconds (the sketch's weight).
    #[inline]
    pub fn nanos(&self) -> u64 {
        u64::try_from(self.latency.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The counts of one digest (in one shard, or merged).
#[derive(Debug, Clone)]
pub struct DigestStats {
    /// The normalised text (at most `normalize::MAX_TEXT` bytes and `...`).
    pub text: String,
    pub calls: u64,
    pub errors: u64,
    pub rows: u64,
    pub time_ns: u64,
    pub max_ns: u64,
    pub calls_primary: u64,
    pub calls_replica: u64,
    pub histogram: Box<[u32; BUCKETS]>,
}

impl Default for DigestStats {
    fn default() -> Self {
        DigestStats {
            text: String::new(),
            calls: 0,
            errors: 0,
            rows: 0,
            time_ns: 0,
            max_ns: 0,
            calls_primary: 0,
            calls_replica: 0,
            histogram: Box::new([0; BUCKETS]),
        }
    }
}

impl DigestStats {
    /// Zeroes the counts for a new digest; the text buffer and the histogram are reused.
    pub fn reset(&mut self) {
        self.calls = 0;
        self.errors = 0;
        self.rows = 0;
        self.time_ns = 0;
        self.max_ns = 0;
        self.calls_primary = 0;
        self.calls_replica = 0;
        self.histogram.fill(0);
    }

    #[inline]
    pub fn record(&mut self, sample: &Sample) {
        let ns = sample.nanos();
        self.calls += 1;
        self.errors += u64::from(sample.error);
        self.rows += sample.rows;
        self.time_ns = self.time_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
        match sample.route {
            Role::Primary => self.calls_primary += 1,
            Role::Replica => self.calls_replica += 1,
        }
        let bucket = &mut self.histogram[bucket_of(ns / 1000)];
        *bucket = bucket.saturating_add(1);
    }

    /// Adds another shard's counts of the same digest.
    pub fn merge(&mut self, other: &DigestStats) {
        if self.text.is_empty() {
            self.text.clone_from(&other.text);
        }
        self.calls += other.calls;
        self.errors += other.errors;
        self.rows += other.rows;
        self.time_ns = self.time_ns.saturating_add(other.time_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        self.calls_primary += other.calls_primary;
        self.calls_replica += other.calls_replica;
        for (mine, theirs) in self.histogram.iter_mut().zip(other.histogram.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    /// The latency (seconds) below which a fraction `q` of the calls finished.
    pub fn quantile(&self, q: f64) -> f64 {
        let count: u64 = self.histogram.iter().map(|&c| u64::from(c)).sum();
        if count == 0 {
            return 0.0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (index, &c) in self.histogram.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return upper_bound_of(index) as f64 / 1e6;
            }
        }
        upper_bound_of(BUCKETS - 1) as f64 / 1e6
    }
}

/// One digest as reported (`GET /api/mysql/digests`).
#[derive(Debug, Clone, Serialize)]
pub struct DigestSnapshot {
    /// The 64-bit digest, as 16 hex digits.
    pub digest: String,
    pub text: String,
    pub calls: u64,
    pub errors: u64,
    pub rows_sent: u64,
    pub total_seconds: f64,
    pub mean_seconds: f64,
    pub max_seconds: f64,
    pub p50_seconds: f64,
    pub p95_seconds: f64,
    pub p99_seconds: f64,
    pub calls_primary: u64,
    pub calls_replica: u64,
    /// Time the sketch may have credited to this digest that belonged to digests it replaced
    /// (0: the counts are exact).
    pub time_error_seconds: f64,
}

impl DigestSnapshot {
    pub fn new(key: u64, error_ns: u64, stats: &DigestStats) -> Self {
        let seconds = |ns: u64| ns as f64 / 1e9;
        DigestSnapshot {
            digest: format!("{key:016x}"),
            text: stats.text.clone(),
            calls: stats.calls,
            errors: stats.errors,
            rows_sent: stats.rows,
            total_seconds: seconds(stats.time_ns),
            mean_seconds: seconds(stats.time_ns) / stats.calls.max(1) as f64,
            max_seconds: seconds(stats.max_ns),
            p50_seconds: stats.quantile(0.5),
            p95_seconds: stats.quantile(0.95),
            p99_seconds: stats.quantile(0.99),
            calls_primary: stats.calls_primary,
            calls_replica: stats.calls_replica,
            time_error_seconds: seconds(error_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_layout_is_contiguous() {
        for index in 1..BUCKETS {
            let upper = upper_bound_of(index - 1);
            assert_eq!(bucket_of(upper + 1), index, "bucket {index}");
            assert_eq!(bucket_of(upper_bound_of(index)), index);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_within_a_bucket() {
        let mut stats = DigestStats::default();
        for us in 1..=1000u64 {
            let sample = Sample {
                latency: Duration::from_micros(us),
                error: us % 10 == 0,
                rows: 2,
                route: Role::Replica,
            };
            stats.record(&sample);
        }
        assert_eq!((stats.calls, stats.errors, stats.rows), (1000, 100, 2000));
        assert_eq!(stats.calls_replica, 1000);
        let p50 = stats.quantile(0.5);
        assert!((0.0005..=0.0005 * 1.25).contains(&p50), "{p50}");
        let p99 = stats.quantile(0.99);
        assert!((0.00099..=0.00099 * 1.25).contains(&p99), "{p99}");
    }
}
