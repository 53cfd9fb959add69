//! Server sets and the algorithms that pick among them: smooth weighted round-robin
//! (`balance: roundrobin`), Maglev consistent hashing of the client address
//! (`balance: maglev` / `source`) and the least loaded server (`balance: leastconn`).
//!
//! The schedule for one full cycle, or the Maglev table, is computed off the hot path
//! whenever weights or states change and published through `ArcSwap`; a round-robin pick
//! is one relaxed `fetch_add` on a cursor, a Maglev pick one hash and one table load.
//!
//! No protocol lives here: what a protocol knows about a backend and its servers (a
//! database's roles, read pool and lag) is that protocol's extension (`extension.rs`).

mod backend;
mod extension;
mod hashing;
mod least;
mod maglev;
mod rotation;
mod schedule;
mod server;
mod wrr;

pub use backend::{Backend, BackendSettings, Pick};
pub use extension::{BackendExtension, ServerMetadata};
pub use hashing::hash_client;
pub use least::LeastLoaded;
pub use maglev::{build_table, Maglev, TABLE_SIZE};
pub use rotation::Rotation;
pub use schedule::smooth_cycle;
pub use server::{cookie_value, AdminState, Server, Status};
pub use wrr::WeightedRoundRobin;

/// Highest server weight (HAProxy's range is 0..=256 too).
pub const MAX_WEIGHT: u32 = 256;
