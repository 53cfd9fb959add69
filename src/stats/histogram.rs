//! A lock-free HDR-style (log-linear) histogram of microseconds.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: values are kept to within 1/32 (~3%), HdrHistogram's
/// layout with 2 significant binary digits more than a plain log2 histogram.
const SUB_BITS: u32 = 5;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Values up to 2^36 us (~19 hours); larger ones land in the last bucket.
const MAX_EXPONENT: u32 = 36;
const BUCKETS: usize = (2 * SUB_COUNT + (MAX_EXPONENT - SUB_BITS) as u64 * SUB_COUNT) as usize;

/// Fixed Prometheus-style upper bounds (seconds) reported in snapshots.
pub const BOUNDS_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Records durations with one relaxed `fetch_add` per bucket/count/sum; no locks, so the
/// data path never waits on a reader. HdrHistogram's own structure is not concurrent, hence
/// this small atomic version of its bucket layout.
pub struct AtomicHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
}

/// Bucket index of a value: exact below 2*SUB_COUNT, then SUB_COUNT buckets per power of 2.
fn bucket_of(value: u64) -> usize {
    if value < 2 * SUB_COUNT {
        return value as usize;
    }
    let exponent = (63 - value.leading_zeros()).min(MAX_EXPONENT);
    let shift = exponent - SUB_BITS;
    let mantissa = (value >> shift).min(2 * SUB_COUNT - 1) - SUB_COUNT;
    (2 * SUB_COUNT + u64::from(exponent - SUB_BITS - 1) * SUB_COUNT + mantissa) as usize
}

/// Highest value that lands in bucket `index`.
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

impl AtomicHistogram {
    #[inline]
    pub fn record(&self, duration: Duration) {
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Percentiles and cumulative buckets. Concurrent records may be half-seen (count vs
    /// buckets); the snapshot derives everything from the bucket counts it read.
    pub fn snapshot(&self) -> HistogramSnapshot {
        Self::merged_snapshot(&[self])
    }

    /// One snapshot of several histograms' recordings together (a backend's servers):
    /// their bucket counts are added, so the percentiles are those of the union.
    pub fn merged_snapshot(histograms: &[&AtomicHistogram]) -> HistogramSnapshot {
        let mut counts = vec![0u64; BUCKETS];
        let mut sum_us = 0;
        for histogram in histograms {
            for (total, bucket) in counts.iter_mut().zip(histogram.buckets.iter()) {
                *total += bucket.load(Ordering::Relaxed);
            }
            sum_us += histogram.sum_us.load(Ordering::Relaxed);
        }
        let count: u64 = counts.iter().sum();
        let quantile = |q: f64| -> f64 {
            if count == 0 {
                return 0.0;
            }
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            for (index, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return upper_bound_of(index) as f64 / 1e6;
                }
            }
            upper_bound_of(BUCKETS - 1) as f64 / 1e6
        };
        let buckets = BOUNDS_SECONDS
            .iter()
            .map(|&bound| {
                let bound_us = (bound * 1e6) as u64;
                let below: u64 = counts
                    .iter()
                    .enumerate()
                    .take_while(|(index, _)| upper_bound_of(*index) <= bound_us)
                    .map(|(_, &c)| c)
                    .sum();
                (bound, below)
            })
            .collect();
        HistogramSnapshot {
            count,
            sum_seconds: sum_us as f64 / 1e6,
            p50: quantile(0.5),
            p90: quantile(0.9),
            p99: quantile(0.99),
            p999: quantile(0.999),
            buckets,
        }
    }
}

/// A histogram as reported: seconds; `buckets` are (upper bound, cumulative count).
#[derive(Debug, Clone, Serialize)]
pub struct HistogramSnapshot {
    pub count: u64,
    pub sum_seconds: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub buckets: Vec<(f64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bucket_layout_is_contiguous_and_monotonic() {
        let mut previous_upper = None;
        for index in 0..BUCKETS {
            let upper = upper_bound_of(index);
            if let Some(p) = previous_upper {
                assert!(upper > p, "bucket {index}");
                assert_eq!(bucket_of(p + 1), index, "first value of bucket {index}");
            }
            assert_eq!(bucket_of(upper), index);
            previous_upper = Some(upper);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    proptest! {
        #[test]
        fn relative_error_within_a_sub_bucket(value in 0u64..(1 << 36)) {
            let upper = upper_bound_of(bucket_of(value));
            prop_assert!(upper >= value);
            prop_assert!((upper - value) as f64 <= value as f64 / SUB_COUNT as f64 + 1.0);
        }
    }

    #[test]
    fn percentiles_and_buckets() {
        let histogram = AtomicHistogram::default();
        for us in 1..=1000u64 {
            histogram.record(Duration::from_micros(us));
        }
        let snap = histogram.snapshot();
        assert_eq!(snap.count, 1000);
        assert!((snap.p50 - 0.0005).abs() < 0.00002, "{}", snap.p50);
        assert!((snap.p99 - 0.00099).abs() < 0.00004, "{}", snap.p99);
        let le_100us = snap.buckets.iter().find(|(b, _)| *b == 0.0001).unwrap().1;
        assert!((96..=100).contains(&le_100us), "{le_100us}");
        let le_1ms = snap.buckets.iter().find(|(b, _)| *b == 0.001).unwrap().1;
        assert!((975..=1000).contains(&le_1ms), "{le_1ms}");
        assert!((snap.sum_seconds - 0.5005).abs() < 1e-9);
    }

    #[test]
    fn empty_histogram_reports_zeros() {
        let snap = AtomicHistogram::default().snapshot();
        assert_eq!((snap.count, snap.p50, snap.p999), (0, 0.0, 0.0));
        assert!(snap.buckets.iter().all(|(_, c)| *c == 0));
    }
}
