//! PyO3 bindings: the only place that imports pyo3. Thin wrappers over the Rust core.

mod engine;
mod errors;
mod mysql;
mod wrr;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::balancer::{AdminState, Status, MAX_WEIGHT};
use crate::config::{Balance, CheckKind, FrontendMode, ServerRole, SpliceMode};

pub fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The header fields HTTP mode frames itself: routes may not edit them (config_http
    // checks the same set early, for field-named errors; a test keeps the two equal).
    m.add(
        "HTTP_PROXY_OWNED_HEADERS",
        crate::http::routing::PROXY_OWNED_HEADERS.to_vec(),
    )?;
    add_limits_and_enumerations(m)?;
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

/// The core's limits and the names of its enumerations, so that Python imports them instead
/// of spelling them again (`python/fastlb/contract.py` is the typed mirror a test compares).
fn add_limits_and_enumerations(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let names = |list: Vec<&'static str>| PyTuple::new(m.py(), list);
    m.add("MAX_WEIGHT", MAX_WEIGHT)?;
    m.add(
        "SERVER_STATES",
        names(AdminState::ALL.map(AdminState::as_str).to_vec())?,
    )?;
    m.add(
        "SERVER_STATUSES",
        names(Status::ALL.map(Status::as_str).to_vec())?,
    )?;
    m.add(
        "SERVER_ROLES",
        names(ServerRole::ALL.map(ServerRole::as_str).to_vec())?,
    )?;
    m.add(
        "FRONTEND_MODES",
        names(FrontendMode::ALL.map(FrontendMode::as_str).to_vec())?,
    )?;
    m.add(
        "BALANCE_ALGORITHMS",
        names(Balance::ALL.map(Balance::as_str).to_vec())?,
    )?;
    m.add(
        "CHECK_TYPES",
        names(CheckKind::ALL.map(CheckKind::as_str).to_vec())?,
    )?;
    m.add(
        "SPLICE_MODES",
        names(SpliceMode::ALL.map(SpliceMode::as_str).to_vec())?,
    )?;
    Ok(())
}
