//! Fitted models for Python: `Model` (a network with column names, the
//! `model.json` of `sapm train`) and `Solution` (a PINN's network with its
//! problem, evaluated at points of the problem's box).

use crate::convert::{Samples, samples, to_numpy, to_py_err};
use faer::{Mat, MatRef};
use numpy::{PyArray1, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use sapm::fit::march::Marched;
use sapm::task::pde::Problem;
use std::path::PathBuf;

/// One layer's `(weight (m_l, m_{l-1}), bias (m_l,))` as numpy arrays.
type LayerArrays<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<f64>>);

/// Most memory one prediction batch may use when the machine's size is unknown.
const FALLBACK_LIMIT: u64 = 4 << 30;

/// `model` (its scaling included) at the columns of `x` (`d x n`) in
/// batches of rows that fit in memory, as `sapm predict` streams them; `m x n`.
fn predict_batched(model: &sapm::Model, x: MatRef<'_, f64>) -> sapm::Result<Mat<f64>> {
    let net = &model.net;
    let limit = sapm::memory::default_limit().unwrap_or(FALLBACK_LIMIT);
    let rows = sapm::memory::predict_batch_rows(net.widths(), limit)?;
    let n = x.ncols();
    if n <= rows {
        return model.predict(x);
    }
    let mut out = Mat::zeros(net.output_dim(), n);
    let mut start = 0;
    while start < n {
        let k = rows.min(n - start);
        let u = model.predict(x.subcols(start, k))?;
        out.as_mut().subcols_mut(start, k).copy_from(&u);
        start += k;
    }
    Ok(out)
}

/// A fitted network with the names of its input and output columns; the
/// same `model.json` as `sapm train` writes and `sapm predict` reads.
#[pyclass(module = "sapm._sapm", name = "Model", frozen)]
pub struct PyModel {
    pub inner: sapm::Model,
}

#[pymethods]
impl PyModel {
    /// Parse a `model.json` text.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        sapm::Model::from_json(text)
            .map(|inner| PyModel { inner })
            .map_err(to_py_err)
    }

    /// Read a `model.json` file.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        sapm::Model::load(&path)
            .map(|inner| PyModel { inner })
            .map_err(to_py_err)
    }

    /// Write `model.json` atomically.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.inner.save(&path).map_err(to_py_err)
    }

    /// The `model.json` text.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// Predictions `(n, outputs)` for inputs `(n, inputs)` (float64); the
    /// GIL is released while the network runs.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let d = self.inner.net.input_dim();
        if x.shape()[1] != d {
            return Err(PyValueError::new_err(format!(
                "X has {} features (columns), the model takes {d} ({})",
                x.shape()[1],
                self.inner.input_names.join(", ")
            )));
        }
        let xs = samples(&x);
        let model = &self.inner;
        let u = match &xs {
            Samples::View(v) => {
                let v = *v;
                py.detach(|| predict_batched(model, v))
            }
            Samples::Owned(m) => py.detach(|| predict_batched(model, m.as_ref())),
        }
        .map_err(to_py_err)?;
        Ok(to_numpy(py, u.as_ref()))
    }

    #[getter]
    fn input_names(&self) -> Vec<String> {
        self.inner.input_names.clone()
    }
    #[getter]
    fn output_names(&self) -> Vec<String> {
        self.inner.output_names.clone()
    }
    /// Layer widths `[inputs, hidden..., outputs]`.
    #[getter]
    fn widths(&self) -> Vec<usize> {
        self.inner.net.widths().to_vec()
    }
    #[getter]
    fn activation(&self) -> String {
        self.inner.net.activation().to_string()
    }
    /// Weights and biases, one `(weight (m_l, m_{l-1}), bias (m_l,))` pair per layer.
    fn layers<'py>(&self, py: Python<'py>) -> Vec<LayerArrays<'py>> {
        let net = &self.inner.net;
        (0..net.depth())
            .map(|l| {
                let m = net.layer(l);
                let k = m.ncols() - 1;
                // `to_numpy` lays a matrix out by columns; the transpose puts rows first.
                let w = to_numpy(py, m.subcols(0, k).transpose());
                let b = PyArray1::from_vec(py, (0..m.nrows()).map(|i| m[(i, k)]).collect());
                (w, b)
            })
            .collect()
    }

    /// The data scaling the layers work in (`None` when unscaled): a dict with
    /// `kind` and `input_shift`, `input_scale`, `output_shift`, `output_scale`
    /// (predictions are `net((x - input_shift) / input_scale) * output_scale
    /// + output_shift`).
    fn scaling<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, pyo3::types::PyDict>>> {
        let Some(sc) = &self.inner.scaling else {
            return Ok(None);
        };
        let d = pyo3::types::PyDict::new(py);
        d.set_item("kind", sc.kind.name())?;
        d.set_item("input_shift", PyArray1::from_slice(py, &sc.inputs.shift))?;
        d.set_item("input_scale", PyArray1::from_slice(py, &sc.inputs.scale))?;
        d.set_item("output_shift", PyArray1::from_slice(py, &sc.outputs.shift))?;
        d.set_item("output_scale", PyArray1::from_slice(py, &sc.outputs.scale))?;
        Ok(Some(d))
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let ctor = py.get_type::<PyModel>().getattr("from_json")?;
        let args = PyTuple::new(py, [slf.get().inner.to_json()])?;
        Ok((ctor, args))
    }

    fn __repr__(&self) -> String {
        format!(
            "Model(widths={:?}, activation={:?}, inputs={:?}, outputs={:?})",
            self.inner.net.widths(),
            self.inner.net.activation().to_string(),
            self.inner.input_names,
            self.inner.output_names
        )
    }
}

/// A PINN's network and its problem: values at points of the problem's box.
#[pyclass(module = "sapm._sapm", name = "Solution", frozen)]
pub struct PySolution {
    /// The network (of the last window for a time-marching run).
    pub model: Py<PyModel>,
    pub problem: Problem,
    /// Time-marching runs: every window's network, evaluated piecewise.
    pub marched: Option<Box<Marched>>,
}

impl PySolution {
    fn points<'a>(&self, x: &'a PyReadonlyArray2<'_, f64>) -> PyResult<Samples<'a>> {
        let d = self.problem.dim();
        if x.shape()[1] != d {
            return Err(PyValueError::new_err(format!(
                "points have {} coordinates, problem {} has {d} ({})",
                x.shape()[1],
                self.problem.name,
                self.problem.vars.join(", ")
            )));
        }
        Ok(samples(x))
    }
}

#[pymethods]
impl PySolution {
    /// `u` at `points` `(n, d)` (problem coordinates), `(n,)`.
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        points: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let xs = self.points(&points)?;
        let p = &self.problem;
        let model = &self.model.get().inner;
        let x = xs.mat();
        let marched = self.marched.as_deref();
        let u = py
            .detach(|| {
                if let Some(m) = marched {
                    // Each point goes to the network of its time window.
                    return m.predict(x, false);
                }
                let (d, de) = (p.dim(), p.embedded_dim());
                let (mut xj, mut e, mut v) = (vec![0.0; d], vec![0.0; de], vec![0.0; de]);
                let mut inputs = Mat::<f64>::zeros(de, x.ncols());
                for j in 0..x.ncols() {
                    for (i, xi) in xj.iter_mut().enumerate() {
                        *xi = x[(i, j)];
                    }
                    p.embed(&xj, &mut e, &mut v);
                    for (i, ei) in e.iter().enumerate() {
                        inputs[(i, j)] = *ei;
                    }
                }
                predict_batched(model, inputs.as_ref())
            })
            .map_err(to_py_err)?;
        Ok(PyArray1::from_vec(
            py,
            (0..u.ncols()).map(|j| u[(0, j)]).collect(),
        ))
    }

    /// The exact solution at `points` `(n, d)`, for problems that have one.
    fn exact<'py>(
        &self,
        py: Python<'py>,
        points: PyReadonlyArray2<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let Some(f) = &self.problem.exact else {
            return Err(PyValueError::new_err(format!(
                "problem {} has no exact solution",
                self.problem.name
            )));
        };
        let xs = self.points(&points)?;
        let x = xs.mat();
        let mut xj = vec![0.0; x.nrows()];
        let u = (0..x.ncols())
            .map(|j| {
                for (i, xi) in xj.iter_mut().enumerate() {
                    *xi = x[(i, j)];
                }
                f(&xj)
            })
            .collect();
        Ok(PyArray1::from_vec(py, u))
    }

    /// The network (inputs: the embedded coordinates, e.g. `cos_x`, `sin_x`, `t`).
    #[getter]
    fn model(&self, py: Python<'_>) -> Py<PyModel> {
        self.model.clone_ref(py)
    }
    #[getter]
    fn problem(&self) -> String {
        self.problem.name.clone()
    }
    /// Coordinate names, e.g. `["x", "t"]`.
    #[getter]
    fn variables(&self) -> Vec<String> {
        self.problem.vars.clone()
    }
    /// The box: `(lo, hi)`.
    #[getter]
    fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
        (self.problem.lo.clone(), self.problem.hi.clone())
    }
    #[getter]
    fn has_exact(&self) -> bool {
        self.problem.exact.is_some()
    }
    /// Time windows (1 unless the run marched in time).
    #[getter]
    fn windows(&self) -> usize {
        self.marched.as_ref().map_or(1, |m| m.windows.len())
    }
}
