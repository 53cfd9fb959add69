//! Counters and latency histograms: relaxed atomics written on the data path, read by
//! snapshots that never stop traffic.

mod counters;
mod histogram;
mod snapshot;

pub(crate) use counters::{bump, read};
pub use counters::{FrontendStats, ServerStats, Traffic};
pub use histogram::{AtomicHistogram, HistogramSnapshot};
pub use snapshot::{
    BackendHttpSnapshot, BackendSnapshot, CheckSnapshot, FrontendSnapshot, GlobalSnapshot,
    HttpFrontendSnapshot, MysqlSnapshot, RefusedSnapshot, ResponsesSnapshot, ServerHttpSnapshot,
    ServerMysqlSnapshot, ServerSnapshot, StatsSnapshot, TrafficSnapshot,
};
