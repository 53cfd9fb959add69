//! fastlb's native core: the data path (listeners, weighted round-robin, relay, counters).
//!
//! Everything outside `py/` is plain Rust and tests with `cargo test`; the PyO3 bindings are
//! behind the `python` feature, which maturin turns on when it builds `fastlb._core`.

pub mod balancer;
pub mod config;
pub mod error;
pub mod proxy;
pub mod relay;
pub mod stats;

#[cfg(feature = "python")]
mod py;

pub use balancer::WeightedRoundRobin;
pub use config::CoreConfig;
pub use error::{Error, Side};
pub use proxy::Engine;
