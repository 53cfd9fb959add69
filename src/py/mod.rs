//! PyO3 bindings: the only place that imports pyo3. Thin wrappers over the Rust core.

mod engine;
mod errors;
mod mysql;
mod wrr;

use pyo3::prelude::*;
use pyo3::types::PyDict;

pub fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The header fields HTTP mode frames itself: routes may not edit them (config_http
    // checks the same set early, for field-named errors; a test keeps the two equal).
    m.add(
        "HTTP_PROXY_OWNED_HEADERS",
        crate::http::routing::PROXY_OWNED_HEADERS.to_vec(),
    )?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_class::<engine::PyEngine>()?;
    m.add_class::<wrr::PyWeightedRoundRobin>()?;
    mysql::init_pymodule(m)?;
    Ok(())
}

/// What this build is (`fastlb version`): version, git commit, cargo profile, crate features,
/// target triple and rustc, as build.rs recorded them.
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = PyDict::new(py);
    info.set_item("version", env!("CARGO_PKG_VERSION"))?;
    info.set_item("commit", env!("FASTLB_BUILD_COMMIT"))?;
    info.set_item("profile", env!("FASTLB_BUILD_PROFILE"))?;
    let features: Vec<&str> = env!("FASTLB_BUILD_FEATURES")
        .split(',')
        .filter(|f| !f.is_empty())
        .collect();
    info.set_item("features", features)?;
    info.set_item("target", env!("FASTLB_BUILD_TARGET"))?;
    info.set_item("rustc", env!("FASTLB_BUILD_RUSTC"))?;
    Ok(info)
}
