//! `fastlb._core.Engine`: the data path as a Python object.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::time::Duration;

use super::errors::to_py;
use crate::config::{CoreConfig, ServerConfig};
use crate::error::Error;
use crate::proxy::Engine;
use pyo3::exceptions::PyValueError;

#[pyclass(name = "Engine", module = "fastlb._core", frozen)]
pub struct PyEngine {
    engine: Engine,
}

#[pymethods]
impl PyEngine {
    #[new]
    fn new(config_json: &str) -> PyResult<Self> {
        let config = CoreConfig::from_json(config_json).map_err(to_py)?;
        Ok(PyEngine {
            engine: Engine::new(config).map_err(to_py)?,
        })
    }

    fn start(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.engine.start()).map_err(to_py)
    }

    /// Blocks while connections drain: the GIL is released so Python threads carry on.
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let deadline = Duration::try_from_secs_f64(timeout.max(0.0))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        py.detach(|| self.engine.stop(deadline));
        Ok(())
    }

    /// Before `start`: serve a frontend on listening sockets another fastlb handed over.
    /// Takes ownership of `fds` (the caller must not close them), even on error.
    fn adopt_listeners(&self, frontend: &str, configured: &str, fds: Vec<i32>) -> PyResult<()> {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: the caller hands these descriptors over (documented in _core.pyi).
        let fds = fds
            .into_iter()
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
            .collect();
        let configured = configured
            .parse()
            .map_err(|e| PyValueError::new_err(format!("{configured:?}: {e}")))?;
        self.engine
            .adopt_listeners(frontend, configured, fds)
            .map_err(to_py)
    }

    /// `(frontend, configured address, descriptors)` per running frontend: duplicates that
    /// the caller owns (and closes once it has sent them).
    fn export_listeners(&self) -> PyResult<Vec<(String, String, Vec<i32>)>> {
        use std::os::fd::IntoRawFd;
        let exported = self.engine.export_listeners().map_err(to_py)?;
        Ok(exported
            .into_iter()
            .map(|e| {
                let fds = e.fds.into_iter().map(IntoRawFd::into_raw_fd).collect();
                (e.frontend, e.configured.to_string(), fds)
            })
            .collect())
    }

    #[getter]
    fn running(&self) -> bool {
        self.engine.is_running()
    }

    fn listen_addresses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let addresses = PyDict::new(py);
        for (name, address) in self.engine.listen_addresses() {
            addresses.set_item(name, address.to_string())?;
        }
        Ok(addresses)
    }

    fn set_weight(&self, backend: &str, server: &str, weight: i64) -> PyResult<()> {
        let weight = u32::try_from(weight).map_err(|_| to_py(Error::WeightOutOfRange(weight)))?;
        self.engine
            .set_weight(backend, server, weight)
            .map_err(to_py)
    }

    fn set_state(&self, backend: &str, server: &str, state: &str) -> PyResult<()> {
        self.engine.set_state(backend, server, state).map_err(to_py)
    }

    fn add_server(&self, backend: &str, server_json: &str) -> PyResult<()> {
        let server: ServerConfig = serde_json::from_str(server_json)
            .map_err(|e| PyValueError::new_err(format!("invalid server: {e}")))?;
        self.engine.add_server(backend, &server).map_err(to_py)
    }

    fn remove_server(&self, backend: &str, server: &str) -> PyResult<()> {
        self.engine.remove_server(backend, server).map_err(to_py)
    }

    #[pyo3(signature = (backend, server, role, in_read_pool, lag_seconds=None))]
    fn set_topology(
        &self,
        backend: &str,
        server: &str,
        role: &str,
        in_read_pool: bool,
        lag_seconds: Option<f64>,
    ) -> PyResult<()> {
        self.engine
            .set_topology(backend, server, role, in_read_pool, lag_seconds)
            .map_err(to_py)
    }

    /// The core's own refusal when it has no such backend or server (nothing else happens).
    fn require_server(&self, backend: &str, server: &str) -> PyResult<()> {
        self.engine
            .backend(backend)
            .and_then(|b| b.server(server))
            .map(drop)
            .map_err(to_py)
    }

    /// Holds new writes of `backend` (a switchover) for at most `timeout` seconds.
    fn hold_writes(&self, backend: &str, timeout: f64) -> PyResult<()> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|e| PyValueError::new_err(format!("timeout: {e}")))?;
        crate::mysql::write_gate::hold(backend, timeout);
        Ok(())
    }

    /// Lets `backend`'s held writes go on (to the primary of the moment); whether it held.
    fn release_writes(&self, backend: &str) -> bool {
        crate::mysql::write_gate::release(backend)
    }

    /// `{"held": bool, "held_seconds": total, "holds": count}` for `backend`.
    fn write_gate<'py>(&self, py: Python<'py>, backend: &str) -> PyResult<Bound<'py, PyDict>> {
        let (held, seconds, holds) = crate::mysql::write_gate::status(backend);
        let out = PyDict::new(py);
        out.set_item("held", held)?;
        out.set_item("held_seconds", seconds)?;
        out.set_item("holds", holds)?;
        Ok(out)
    }

    /// Binding new addresses and closing old listeners can block briefly: release the GIL.
    fn reload(&self, py: Python<'_>, config_json: &str) -> PyResult<()> {
        let config = CoreConfig::from_json(config_json).map_err(to_py)?;
        py.detach(|| self.engine.reload(config)).map_err(to_py)
    }

    /// Cheap (flags and a wake-up per log): no need to release the GIL.
    fn reopen_logs(&self) {
        self.engine.reopen_logs();
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let snapshot = self.engine.snapshot();
        Ok(pythonize::pythonize(py, &snapshot)?)
    }

    /// The top query digests of each `mode: mysql` frontend, by frontend name.
    fn mysql_digests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let digests = self.engine.mysql_digests();
        Ok(pythonize::pythonize(py, &digests)?)
    }
}
