//! Server sets and the smooth weighted round-robin that picks among them.
//!
//! The schedule for one full cycle is computed off the hot path whenever weights or states
//! change and published through `ArcSwap`; a pick is one relaxed `fetch_add` on a cursor.

mod backend;
mod rotation;
mod schedule;
mod server;
mod wrr;

pub use backend::{Backend, BackendSettings, Pick};
pub use rotation::Rotation;
pub use schedule::smooth_cycle;
pub use server::{AdminState, Server, Status};
pub use wrr::WeightedRoundRobin;

/// Highest server weight (HAProxy's range is 0..=256 too).
pub const MAX_WEIGHT: u32 = 256;
