//! fastlb's native core: the data path (listeners, weighted round-robin, relay, counters).
//!
//! Everything outside `py/` is plain Rust and tests with `cargo test`; the PyO3 bindings are
//! behind the `python` feature, which maturin turns on when it builds `fastlb._core`.

pub mod balancer;
pub mod config;
pub mod error;
pub mod firewall;
pub mod health;
pub mod http;
pub mod mysql;
pub mod proxy;
pub mod proxy_protocol;
pub mod relay;
pub mod stats;
pub mod tls;

#[cfg(feature = "python")]
mod py;

pub use balancer::WeightedRoundRobin;
pub use config::CoreConfig;
pub use error::{Error, Side};
pub use proxy::Engine;

/// The Python extension module `fastlb._core`: each binding module registers its classes.
#[cfg(feature = "python")]
#[pyo3::pymodule(name = "_core")]
fn core_module(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
    py::init_pymodule(m)
}
