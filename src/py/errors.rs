//! The one place core errors become Python exceptions.

use pyo3::exceptions::{PyKeyError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

use crate::error::Error;

pub fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Config(_) | Error::WeightOutOfRange(_) | Error::UnknownState(_) => {
            PyValueError::new_err(message)
        }
        Error::UnknownBackend(_) | Error::UnknownServer { .. } => PyKeyError::new_err(message),
        Error::Bind { source, .. } => match source.raw_os_error() {
            Some(code) => PyOSError::new_err((code, message)),
            None => PyOSError::new_err(message),
        },
        Error::Runtime(_) => PyOSError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}
