//! PyO3 bindings: the only place that imports pyo3. Thin wrappers over the Rust core.

mod engine;
mod errors;
mod mysql;
mod wrr;

use pyo3::prelude::*;

pub fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<engine::PyEngine>()?;
    m.add_class::<wrr::PyWeightedRoundRobin>()?;
    mysql::init_pymodule(m)?;
    Ok(())
}
