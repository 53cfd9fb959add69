//! Query digests: per normalised statement, calls, errors, rows, time and latency
//! percentiles by route, for the heaviest statements only, in fixed memory.
//!
//! - `normalize`: literals to `?`, literal lists collapsed, comments and spacing dropped; a
//!   64-bit fingerprint of the normalised tokens without allocating (the hot path), and the
//!   normalised text (only when a digest enters the sketch);
//! - `sketch`: a weighted Space-Saving sketch, fixed capacity, ranked by total time;
//! - `entry`: what is counted per digest;
//! - `table`: one sketch per worker thread, merged into the top-K at snapshot time.
//!
//! A `mode: mysql` frontend keeps one `DigestStore` for its life; sessions record each
//! COM_QUERY's outcome into it once the response is complete (`Session::statement`).

mod entry;
mod normalize;
mod sketch;
mod table;

use arc_swap::ArcSwapOption;
use serde::Deserialize;
use std::sync::Arc;

pub use entry::{DigestSnapshot, Sample};
pub use normalize::{fingerprint, normalize, render, MAX_TEXT};
pub use sketch::SpaceSaving;
pub use table::{DigestTable, TableSnapshot};

/// The largest `top_k`: its label count bounds the Prometheus series too.
pub const MAX_TOP_K: usize = 1000;

/// `mysql.digests` as the core receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Digests reported (by total time); each worker's sketch holds 4x as many.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
}

fn default_enabled() -> bool {
    true
}
fn default_top_k() -> usize {
    50
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            enabled: default_enabled(),
            top_k: default_top_k(),
        }
    }
}

impl DigestConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_TOP_K).contains(&self.top_k) {
            return Err(format!(
                "mysql.digests.top_k must be between 1 and {MAX_TOP_K}"
            ));
        }
        Ok(())
    }
}

/// A frontend's digest table, made when the first statement is recorded under a
/// configuration that enables it, and replaced when a reload changes `top_k` (the counts
/// start again then).
#[derive(Default)]
pub struct DigestStore {
    table: ArcSwapOption<DigestTable>,
}

impl DigestStore {
    /// Records one statement's outcome under `config` (the session's current settings).
    #[inline]
    pub fn record(&self, config: &DigestConfig, sql: &[u8], sample: &Sample) {
        if !config.enabled {
            return;
        }
        if let Some(table) = self.table.load().as_deref() {
            if table.top_k() == config.top_k {
                return table.record(sql, sample);
            }
        }
        self.replace(config.top_k).record(sql, sample);
    }

    #[cold]
    fn replace(&self, top_k: usize) -> Arc<DigestTable> {
        let fresh = Arc::new(DigestTable::new(top_k));
        // Two sessions may race here: the table stored first wins, the other's is dropped.
        let previous = self.table.rcu(|current| match current {
            Some(table) if table.top_k() == top_k => Some(table.clone()),
            _ => Some(fresh.clone()),
        });
        match previous {
            Some(table) if table.top_k() == top_k => table,
            _ => fresh,
        }
    }

    /// The top digests, or None while nothing was recorded.
    pub fn snapshot(&self) -> Option<TableSnapshot> {
        self.table.load().as_deref().map(DigestTable::snapshot)
    }
}

#[cfg(test)]
mod tests;
