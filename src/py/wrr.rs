//! `fastlb._core.WeightedRoundRobin`: the balancer's rotation over names, on its own.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::to_py;
use crate::balancer::WeightedRoundRobin;
use crate::error::Error;

#[pyclass(name = "WeightedRoundRobin", module = "fastlb._core", frozen)]
pub struct PyWeightedRoundRobin {
    inner: WeightedRoundRobin,
}

fn weight_of(weight: i64) -> PyResult<u32> {
    u32::try_from(weight).map_err(|_| to_py(Error::WeightOutOfRange(weight)))
}

#[pymethods]
impl PyWeightedRoundRobin {
    /// `weights` is any mapping of name -> weight; its order breaks ties, as in nginx.
    #[new]
    fn new(weights: &Bound<'_, PyAny>) -> PyResult<Self> {
        let members = weights
            .call_method0("items")?
            .try_iter()?
            .map(|item| {
                let (name, weight): (String, i64) = item?.extract()?;
                Ok((name, weight_of(weight)?))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyWeightedRoundRobin {
            inner: WeightedRoundRobin::new(members).map_err(to_py)?,
        })
    }

    fn pick(&self) -> Option<String> {
        self.inner.pick().map(|name| name.to_string())
    }

    fn set_weight(&self, name: &str, weight: i64) -> PyResult<()> {
        self.inner
            .set_weight(name, weight_of(weight)?)
            .map_err(to_py)
    }

    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let weights = PyDict::new(py);
        for (name, weight) in self.inner.weights() {
            weights.set_item(name, weight)?;
        }
        Ok(weights)
    }

    fn cycle(&self) -> Vec<&str> {
        self.inner.cycle()
    }

    fn __repr__(&self) -> String {
        let weights: Vec<String> = self
            .inner
            .weights()
            .iter()
            .map(|(name, weight)| format!("{name:?}: {weight}"))
            .collect();
        format!("WeightedRoundRobin({{{}}})", weights.join(", "))
    }
}
