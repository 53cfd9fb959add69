//! `fastlb._core.classify_statement` and `fastlb._core.RoutingPolicy`: the MySQL statement
//! classifier and routing policy for Python. `fastlb.mysql.Router` asks them rather than
//! deciding itself, so it routes with exactly the proxy's code (`route::decide` and the
//! compiled user rules of `MysqlSettings`).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::mysql::config::{MysqlConfig, MysqlSettings};
use crate::mysql::session::route::{decide, SessionView};
use crate::mysql::Role;
use crate::mysql::{classify, Classification, Kind};

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
        self.inner.route.as_str()
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

/// The statement text's bytes (`str` as UTF-8, `bytes` as they are); TypeError otherwise.
fn with_sql<T>(sql: &Bound<'_, PyAny>, caller: &str, then: impl FnOnce(&[u8]) -> T) -> PyResult<T> {
    if let Ok(bytes) = sql.cast::<PyBytes>() {
        Ok(then(bytes.as_bytes()))
    } else if let Ok(text) = sql.cast::<PyString>() {
        Ok(then(text.to_str()?.as_bytes()))
    } else {
        Err(PyTypeError::new_err(format!(
            "{caller}() takes str or bytes, not {}",
            sql.get_type().name()?
        )))
    }
}

/// Classifies one statement text (`str`, or `bytes` in the connection's charset).
/// The query digest of a statement: (16 hex digits, normalised text), as the proxy counts it.
#[pyfunction]
fn normalize_statement(sql: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    with_sql(sql, "normalize_statement", |sql| {
        let mut text = String::new();
        crate::mysql::digest::render(sql, &mut text);
        (
            format!("{:016x}", crate::mysql::digest::fingerprint(sql)),
            text,
        )
    })
}

#[pyfunction]
fn classify_statement(sql: &Bound<'_, PyAny>) -> PyResult<PyStatementClass> {
    let inner = with_sql(sql, "classify_statement", classify)?;
    Ok(PyStatementClass { inner })
}

/// What a session has done so far, as `route::decide` reads it: see `fastlb._core.pyi`.
#[pyclass(name = "SessionView", module = "fastlb._core", frozen, eq)]
#[derive(PartialEq)]
pub struct PySessionView {
    inner: SessionView,
}

#[pymethods]
impl PySessionView {
    #[new]
    #[pyo3(signature = (*, in_transaction=None, pinned=false, autocommit=true))]
    fn new(in_transaction: Option<&str>, pinned: bool, autocommit: bool) -> PyResult<Self> {
        let open_transaction = match in_transaction {
            None => None,
            Some("primary") => Some(Role::Primary),
            Some("replica") => Some(Role::Replica),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "in_transaction must be 'primary', 'replica' or None (got {other:?})"
                )))
            }
        };
        Ok(PySessionView {
            inner: SessionView {
                open_transaction,
                pinned,
                autocommit,
            },
        })
    }

    #[getter]
    fn in_transaction(&self) -> Option<&'static str> {
        self.inner.open_transaction.map(Role::as_str)
    }

    #[getter]
    fn pinned(&self) -> bool {
        self.inner.pinned
    }

    #[getter]
    fn autocommit(&self) -> bool {
        self.inner.autocommit
    }

    fn __repr__(&self) -> String {
        let in_transaction = match self.in_transaction() {
            Some(target) => format!("'{target}'"),
            None => "None".into(),
        };
        format!(
            "SessionView(in_transaction={in_transaction}, pinned={}, autocommit={})",
            python_bool(self.inner.pinned),
            python_bool(self.inner.autocommit),
        )
    }
}

/// One routing decision and what it was made from: see `fastlb._core.pyi`.
#[pyclass(name = "Routing", module = "fastlb._core", frozen)]
pub struct PyRouting {
    target: Role,
    rule: Option<usize>,
    statement: Py<PyStatementClass>,
}

#[pymethods]
impl PyRouting {
    #[getter]
    fn target(&self) -> &'static str {
        self.target.as_str()
    }

    #[getter]
    fn rule(&self) -> Option<usize> {
        self.rule
    }

    #[getter]
    fn statement(&self, py: Python<'_>) -> Py<PyStatementClass> {
        self.statement.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        let rule = self.rule.map_or("None".into(), |index| index.to_string());
        format!(
            "Routing(target='{}', rule={rule}, statement={})",
            self.target(),
            self.statement.get().__repr__()
        )
    }
}

/// The proxy's routing policy for one `mysql:` section: see `fastlb._core.pyi`.
#[pyclass(name = "RoutingPolicy", module = "fastlb._core", frozen)]
pub struct PyRoutingPolicy {
    settings: MysqlSettings,
}

#[pymethods]
impl PyRoutingPolicy {
    #[new]
    fn new(config_json: &str) -> PyResult<Self> {
        let config: MysqlConfig = serde_json::from_str(config_json)
            .map_err(|e| PyValueError::new_err(format!("invalid mysql section: {e}")))?;
        // The proxy drops a rule that doesn't compile (the configuration was checked before);
        // here the caller hears about it.
        config.validate(&[]).map_err(PyValueError::new_err)?;
        Ok(PyRoutingPolicy {
            settings: MysqlSettings::new(&config),
        })
    }

    /// Where `sql` runs for a session in state `session` (a free session by default).
    #[pyo3(signature = (sql, session=None))]
    fn route(
        &self,
        sql: &Bound<'_, PyAny>,
        session: Option<&PySessionView>,
    ) -> PyResult<&'static str> {
        let view = session.map_or(SessionView::FREE, |s| s.inner);
        let target = with_sql(sql, "route", |text| {
            let rule = self.settings.rule_route(text);
            decide(view, classify(text), rule)
        })?;
        Ok(target.as_str())
    }

    /// `route()` with its reasons: the matching rule's index and the classification.
    #[pyo3(signature = (sql, session=None))]
    fn decide(
        &self,
        py: Python<'_>,
        sql: &Bound<'_, PyAny>,
        session: Option<&PySessionView>,
    ) -> PyResult<PyRouting> {
        let view = session.map_or(SessionView::FREE, |s| s.inner);
        let (class, rule) = with_sql(sql, "decide", |text| {
            (classify(text), self.settings.matching_rule(text))
        })?;
        Ok(PyRouting {
            target: decide(view, class, rule.map(|(_, route)| route)),
            rule: rule.map(|(index, _)| index),
            statement: Py::new(py, PyStatementClass { inner: class })?,
        })
    }
}

pub fn init_pymodule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStatementClass>()?;
    m.add_class::<PySessionView>()?;
    m.add_class::<PyRouting>()?;
    m.add_class::<PyRoutingPolicy>()?;
    m.add_function(wrap_pyfunction!(classify_statement, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_statement, m)?)?;
    // `mysql.digests.top_k`'s limit: config_mysql checks it for field-named errors.
    m.add("MYSQL_DIGESTS_MAX_TOP_K", crate::mysql::digest::MAX_TOP_K)?;
    Ok(())
}
