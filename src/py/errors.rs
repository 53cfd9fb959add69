//! The one place core errors become Python exceptions.
//!
//! The runtime refusals become the classes of `fastlb.errors` (each one is also a standard
//! exception: `UnknownServerError` a `KeyError`, `ServerExistsError` a `ValueError` ...), so
//! Python callers catch what the core decided and never re-derive it from stats or messages.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::error::Error;

pub fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    let class = match &error {
        Error::UnknownBackend(_) => "UnknownBackendError",
        Error::UnknownServer { .. } => "UnknownServerError",
        Error::ServerExists { .. } => "ServerExistsError",
        Error::WeightOutOfRange(_) => "WeightOutOfRangeError",
        Error::UnknownState(_) => "UnknownStateError",
        Error::UnknownRole(_) => "UnknownRoleError",
        // The core refused a configuration Python validated: Python adds the context (which
        // file, which call) and raises its ConfigError.
        Error::Config(_) => return PyValueError::new_err(message),
        Error::Bind { source, .. } => {
            return match source.raw_os_error() {
                Some(code) => PyOSError::new_err((code, message)),
                None => PyOSError::new_err(message),
            }
        }
        Error::Runtime(_) => return PyOSError::new_err(message),
        _ => return PyRuntimeError::new_err(message),
    };
    Python::attach(|py| match fastlb_error(py, class) {
        Ok(class) => PyErr::from_type(class, message),
        Err(missing) => missing,
    })
}

/// A class of `fastlb.errors` (the package ships it beside `_core`; a cold path).
fn fastlb_error<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    Ok(py
        .import("fastlb.errors")?
        .getattr(name)?
        .cast_into::<PyType>()?)
}
