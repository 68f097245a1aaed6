//! `sapm._sapm`: the native part of the `sapm` Python package. The Python
//! side (`python/sapm/`) checks arrays and names options; this module turns
//! options into the library's `--set` overrides (so the library's own parser
//! and checks decide what is valid), builds the data, runs the one fitting
//! pipeline of `sapm train` without the GIL, and hands back the model, the
//! summary (the `summary.json` text) and the history.

mod convert;
mod model;
mod run;

use convert::{history, overrides, samples, to_py_err};
use faer::Mat;
use model::{PyModel, PySolution};
use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sapm::config::{Checked, TrainConfig};
use sapm::data::{Dataset, Split};
use sapm::fit::Fitted;
use sapm::fit::march::{MarchOptions, time_march};
use sapm::memory::RunShape;
use std::path::PathBuf;

/// The checked config from TOML text (or a file) and `(dotted key, value)` options.
fn config(
    text: &str,
    path: Option<PathBuf>,
    options: &[(String, Bound<'_, PyAny>)],
) -> PyResult<Checked> {
    let sets = overrides(options)?;
    match path {
        Some(p) => TrainConfig::load(&p, &sets),
        None => TrainConfig::from_toml_str(text, &sets, None),
    }
    .map_err(to_py_err)
}

/// Refuse a run whose estimated memory exceeds the default limit (80% of
/// the physical memory), as `sapm train` does, before anything is allocated.
fn check_memory(cfg: &Checked, shape: RunShape) -> PyResult<()> {
    if let Some(limit) = sapm::memory::default_limit() {
        sapm::memory::run_estimate(cfg, shape)
            .check(limit, "this fit")
            .map_err(to_py_err)?;
    }
    Ok(())
}

fn threads(cfg: &Checked) -> usize {
    if cfg.threads == 0 {
        rayon::current_num_threads()
    } else {
        cfg.threads
    }
}

/// The canonical TOML of the config that `text` and `options` give (only
/// the keys in use), after every check of `sapm train`, without the dotted
/// keys in `hide` (sections left empty go too).
#[pyfunction]
#[pyo3(signature = (text, options, path=None, hide=Vec::new()))]
fn resolve_config(
    text: &str,
    options: Vec<(String, Bound<'_, PyAny>)>,
    path: Option<PathBuf>,
    hide: Vec<String>,
) -> PyResult<String> {
    let mut table = config(text, path, &options)?.canonical();
    for key in &hide {
        match key.split_once('.') {
            Some((section, leaf)) => {
                if let Some(toml::Value::Table(t)) = table.get_mut(section) {
                    t.remove(leaf);
                    if t.is_empty() {
                        table.remove(section);
                    }
                }
            }
            None => {
                table.remove(key);
            }
        }
    }
    toml::to_string(&table)
        .map_err(|e| PyValueError::new_err(format!("cannot write the config: {e}")))
}

/// `{model, summary (summary.json text), history (dict of arrays), interrupt}`.
fn result<'py>(
    py: Python<'py>,
    f: &Fitted,
    interrupt: Option<PyErr>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let json = sapm::verdict::summary_json(&f.summary, &f.history, &[]).map_err(to_py_err)?;
    d.set_item("summary", json)?;
    d.set_item("history", history(py, &f.metric_names, &f.history)?)?;
    d.set_item(
        "model",
        Py::new(
            py,
            PyModel {
                inner: f.model.clone(),
            },
        )?,
    )?;
    d.set_item("interrupt", interrupt.map(|e| e.into_value(py)))?;
    Ok(d)
}

fn dataset(
    x: &PyReadonlyArray2<'_, f64>,
    y: &PyReadonlyArray2<'_, f64>,
    input_names: &[String],
    output_names: &[String],
) -> PyResult<Dataset> {
    Dataset::new(
        samples(x).mat().to_owned(),
        samples(y).mat().to_owned(),
        input_names.to_vec(),
        output_names.to_vec(),
    )
    .map_err(to_py_err)
}

/// Fit a regression network on `(x, y)` with the config of `options`; the
/// test set is `(x_test, y_test)`, or the training set when they are None.
#[pyfunction]
#[pyo3(signature = (options, x, y, x_test, y_test, input_names, output_names, progress=None))]
#[allow(clippy::too_many_arguments)]
fn fit_regression<'py>(
    py: Python<'py>,
    options: Vec<(String, Bound<'py, PyAny>)>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    x_test: Option<PyReadonlyArray2<'py, f64>>,
    y_test: Option<PyReadonlyArray2<'py, f64>>,
    input_names: Vec<String>,
    output_names: Vec<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config("", None, &options)?;
    if cfg.pde.is_some() {
        return Err(PyValueError::new_err(
            "a [pde] section trains a PINN: use sapm.pinn.solve, not Regressor",
        ));
    }
    let train = dataset(&x, &y, &input_names, &output_names)?;
    let test = match (&x_test, &y_test) {
        (Some(xt), Some(yt)) => dataset(xt, yt, &input_names, &output_names)?,
        _ => train.clone(),
    };
    let shape = RunShape {
        inputs: x.shape()[1],
        outputs: y.shape()[1],
        n_train: train.len(),
        n_test: test.len(),
        n_boundary: 0,
        coordinates: 0,
        threads: threads(&cfg),
    };
    check_memory(&cfg, shape)?;
    let data = Split { train, test };
    let (fitted, interrupt) = run::released(py, cfg.threads, progress, |watch| {
        sapm::fit_with(&cfg, &data, watch)
    })?;
    result(py, &fitted, interrupt)
}

/// Train a PINN from TOML text (or the file `path`) and options; the
/// result also holds the `solution`.
#[pyfunction]
#[pyo3(signature = (text, options, path=None, progress=None))]
fn fit_pde<'py>(
    py: Python<'py>,
    text: &str,
    options: Vec<(String, Bound<'py, PyAny>)>,
    path: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config(text, path, &options)?;
    let Some(pde) = &cfg.pde else {
        return Err(PyValueError::new_err(
            "the config has no [pde] section: name a built-in problem (e.g. \"steady1d\") or give pde options",
        ));
    };
    let problem = pde.problem().map_err(to_py_err)?;
    let d = problem.dim();
    let shape = RunShape {
        inputs: problem.embedded_dim(),
        outputs: 1,
        n_train: pde.n_interior,
        n_test: pde.test_per_axis(d).saturating_pow(d as u32),
        n_boundary: pde.n_boundary,
        coordinates: d,
        threads: threads(&cfg),
    };
    check_memory(&cfg, shape)?;
    // Time marching through the library's `time_march` (what `fit_pde` runs
    // for `time_windows > 1`), keeping every window for the piecewise solution.
    let marching = pde.time_windows > 1;
    let options = MarchOptions::from_pde(pde);
    let ((fitted, marched), interrupt) = run::released(py, cfg.threads, progress, |watch| {
        if marching {
            let m = time_march(&problem, &cfg, options, watch)?;
            Ok((m.clone().into_fitted(&cfg)?, Some(Box::new(m))))
        } else {
            Ok((sapm::fit::fit_pde(&cfg, watch)?, None))
        }
    })?;
    let out = result(py, &fitted, interrupt)?;
    let model: Py<PyModel> = out.get_item("model")?.expect("set by result").extract()?;
    let solution = PySolution {
        model,
        problem,
        marched,
    };
    out.set_item("solution", Py::new(py, solution)?)?;
    Ok(out)
}

/// Every built-in PDE problem name.
#[pyfunction]
fn pde_problems() -> Vec<&'static str> {
    sapm::task::pde::PROBLEMS
        .iter()
        .copied()
        .filter(|p| *p != "custom")
        .collect()
}

/// Every method name.
#[pyfunction]
fn methods() -> Vec<&'static str> {
    sapm::Method::ALL.iter().map(|m| m.name()).collect()
}

/// A built-in regression target (`sin_x2`, `franke`, ...) exactly as
/// `sapm train` generates it for `data.builtin`, `n_train`, `n_test`,
/// `noise` and `seed`: `(x_train, y_train, x_test, y_test)`, inputs
/// `(n, d)` and targets `(n, m)`.
#[pyfunction]
#[pyo3(signature = (name, n_train=100, n_test=1000, noise=0.0, seed=0))]
#[allow(clippy::type_complexity)]
fn builtin_data<'py>(
    py: Python<'py>,
    name: &str,
    n_train: usize,
    n_test: usize,
    noise: f64,
    seed: u64,
) -> PyResult<(
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, numpy::PyArray2<f64>>,
    Bound<'py, numpy::PyArray2<f64>>,
)> {
    let cfg = sapm::data::DataConfig {
        builtin: Some(name.to_string()),
        n_train,
        n_test,
        noise,
        ..Default::default()
    };
    let s = cfg.load(seed).map_err(to_py_err)?;
    let np = |m: &Mat<f64>| convert::to_numpy(py, m.as_ref());
    Ok((np(&s.train.x), np(&s.train.y), np(&s.test.x), np(&s.test.y)))
}

#[pymodule]
fn _sapm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyModel>()?;
    m.add_class::<PySolution>()?;
    m.add_function(wrap_pyfunction!(resolve_config, m)?)?;
    m.add_function(wrap_pyfunction!(fit_regression, m)?)?;
    m.add_function(wrap_pyfunction!(fit_pde, m)?)?;
    m.add_function(wrap_pyfunction!(pde_problems, m)?)?;
    m.add_function(wrap_pyfunction!(methods, m)?)?;
    m.add_function(wrap_pyfunction!(builtin_data, m)?)?;
    Ok(())
}
