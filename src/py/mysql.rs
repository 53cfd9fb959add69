//! `fastlb._core.classify_statement`: the MySQL statement classifier for Python
//! (`fastlb.mysql.Router` routes with the same rules as the proxy).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::mysql::{classify, Classification, Kind, Route};

/// What `classify_statement` found: see `fastlb._core.pyi`.
#[pyclass(name = "StatementClass", module = "fastlb._core", frozen, eq)]
#[derive(PartialEq)]
pub struct PyStatementClass {
    inner: Classification,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Read => "read",
        Kind::Write => "write",
        Kind::Begin => "begin",
        Kind::BeginReadOnly => "begin_read_only",
        Kind::End => "end",
        Kind::SetAutocommit(_) => "set_autocommit",
        Kind::SessionState => "session_state",
        Kind::Call => "call",
        Kind::Other => "other",
    }
}

fn route_name(route: Route) -> &'static str {
    match route {
        Route::Replica => "replica",
        Route::Primary => "primary",
    }
}

fn python_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

#[pymethods]
impl PyStatementClass {
    #[getter]
    fn kind(&self) -> &'static str {
        kind_name(self.inner.kind)
    }

    /// The value of `SET autocommit = ...`; None for every other kind.
    #[getter]
    fn autocommit(&self) -> Option<bool> {
        match self.inner.kind {
            Kind::SetAutocommit(on) => Some(on),
            _ => None,
        }
    }

    #[getter]
    fn route(&self) -> &'static str {
        route_name(self.inner.route)
    }

    #[getter]
    fn pins_primary(&self) -> bool {
        self.inner.pins_primary
    }

    #[getter]
    fn multi_statement(&self) -> bool {
        self.inner.multi_statement
    }

    fn __repr__(&self) -> String {
        let autocommit = match self.autocommit() {
            Some(on) => format!(", autocommit={}", python_bool(on)),
            None => String::new(),
        };
        format!(
            "StatementClass(kind='{}'{autocommit}, route='{}', pins_primary={}, \
             multi_statement={})",
            self.kind(),
            self.route(),
            python_bool(self.inner.pins_primary),
            python_bool(self.inner.multi_statement),
        )
    }
}

/// Classifies one statement text (`str`, or `bytes` in the connection's charset).
#[pyfunction]
fn classify_statement(sql: &Bound<'_, PyAny>) -> PyResult<PyStatementClass> {
    let inner = if let Ok(bytes) = sql.cast::<PyBytes>() {
        classify(bytes.as_bytes())
    } else if let Ok(text) = sql.cast::<PyString>() {
        classify(text.to_str()?.as_bytes())
    } else {
        return Err(PyTypeError::new_err(format!(
            "classify_statement() takes str or bytes, not {}",
            sql.get_type().name()?
        )));
    };
    Ok(PyStatementClass { inner })
}

pub fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStatementClass>()?;
    m.add_function(wrap_pyfunction!(classify_statement, m)?)?;
    Ok(())
}
