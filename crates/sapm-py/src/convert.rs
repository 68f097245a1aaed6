//! Python <-> library conversions: option values to config overrides,
//! library errors to exceptions, numpy arrays to engine matrices and back.

use faer::{Mat, MatRef};
use numpy::ndarray::Array2;
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyMemoryError, PyOSError, PyRuntimeError,
    PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use sapm::record::Record;

/// The library's error as the Python exception a caller expects, with the
/// library's message: bad configs, data, shapes and files are `ValueError`,
/// missing files `FileNotFoundError`, other I/O `OSError`, memory limits
/// `MemoryError`.
pub fn to_py_err(e: sapm::Error) -> PyErr {
    let msg = e.to_string();
    match e {
        sapm::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(msg)
        }
        sapm::Error::Io { .. } => PyOSError::new_err(msg),
        sapm::Error::Resource(_) => PyMemoryError::new_err(msg),
        sapm::Error::Interrupted(_) => PyKeyboardInterrupt::new_err(msg),
        sapm::Error::Numerical { .. } => PyRuntimeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// A Python option value as a TOML value: bool, int, float, str (or a path),
/// lists and tuples of them, dicts with string keys (inline tables), numpy
/// scalars and arrays (through `tolist()`).
pub fn to_toml(key: &str, v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    let bad = |what: String| PyTypeError::new_err(format!("option `{key}`: {what}"));
    if v.is_none() {
        return Err(bad(
            "None is not a config value (leave the option out to get its default)".into(),
        ));
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract::<bool>()?));
    }
    if v.is_instance_of::<PyInt>() {
        return v.extract::<i64>().map(toml::Value::Integer).map_err(|_| {
            PyValueError::new_err(format!(
                "option `{key}`: integer {v} does not fit in 64 bits"
            ))
        });
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(v.extract::<f64>()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(v.extract::<String>()?));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, item) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| bad(format!("dict keys must be strings, got {k:?}")))?;
            let sub = format!("{key}.{k}");
            t.insert(k, to_toml(&sub, &item)?);
        }
        return Ok(toml::Value::Table(t));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items = v
            .try_iter()?
            .map(|item| to_toml(key, &item?))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(toml::Value::Array(items));
    }
    // numpy scalars and arrays, os.PathLike.
    if v.hasattr("tolist")? {
        let plain = v.call_method0("tolist")?;
        if !plain.is(v) {
            return to_toml(key, &plain);
        }
    }
    if v.hasattr("__fspath__")? {
        return to_toml(key, &v.call_method0("__fspath__")?);
    }
    Err(bad(format!(
        "{} is not a config value (bool, int, float, str, list or dict)",
        v.get_type().name()?
    )))
}

/// `key=value` overrides for the library's parser from `(dotted key, value)` pairs.
pub fn overrides(options: &[(String, Bound<'_, PyAny>)]) -> PyResult<Vec<String>> {
    options
        .iter()
        .map(|(k, v)| Ok(sapm::config::override_arg(k, &to_toml(k, v)?)))
        .collect()
}

/// A `d x n` engine view of an `(n, d)` float64 array: the array's own memory
/// when it is C- or Fortran-contiguous, else a copy.
pub enum Samples<'a> {
    /// Zero-copy view.
    View(MatRef<'a, f64>),
    /// Copy of a strided array.
    Owned(Mat<f64>),
}

impl Samples<'_> {
    /// The matrix, `d x n`.
    pub fn mat(&self) -> MatRef<'_, f64> {
        match self {
            Samples::View(v) => *v,
            Samples::Owned(m) => m.as_ref(),
        }
    }
}

/// See [`Samples`].
pub fn samples<'a>(a: &'a PyReadonlyArray2<'_, f64>) -> Samples<'a> {
    let (n, d) = (a.shape()[0], a.shape()[1]);
    // `as_slice` refuses unaligned and non-contiguous arrays.
    if let Ok(s) = a.as_slice() {
        // (n, d) in C order is `d x n` column-major; in Fortran order, row-major.
        if a.is_c_contiguous() {
            return Samples::View(MatRef::from_column_major_slice(s, d, n));
        }
        if a.is_fortran_contiguous() {
            return Samples::View(MatRef::from_row_major_slice(s, d, n));
        }
    }
    // Any other layout: strides in bytes (negative for reversed views, zero
    // for broadcasts), possibly unaligned (`np.frombuffer` at an odd offset).
    let base = a.data().cast::<u8>().cast_const();
    let (s0, s1) = (a.strides()[0], a.strides()[1]);
    Samples::Owned(Mat::from_fn(d, n, |i, j| {
        // SAFETY: the read-only borrow keeps the array alive and unchanged by
        // Rust code; (j, i) is within its shape, so the offset is within its
        // buffer; `read_unaligned` needs no alignment.
        unsafe {
            base.offset(j as isize * s0 + i as isize * s1)
                .cast::<f64>()
                .read_unaligned()
        }
    }))
}

/// An engine matrix `m x n` (one column per sample) as a numpy `(n, m)`
/// array; numpy takes over the buffer (no second copy).
pub fn to_numpy<'py>(py: Python<'py>, u: MatRef<'_, f64>) -> Bound<'py, PyArray2<f64>> {
    let (m, n) = (u.nrows(), u.ncols());
    let mut v = Vec::with_capacity(n * m);
    for j in 0..n {
        for i in 0..m {
            v.push(u[(i, j)]);
        }
    }
    let a = Array2::from_shape_vec((n, m), v).expect("n * m values");
    PyArray2::from_owned_array(py, a)
}

/// The history as a dict of 1-D arrays: `iteration`, `seconds`, `objective`,
/// `aux_loss` (NaN for methods without auxiliaries) and the task's metrics.
pub fn history<'py>(
    py: Python<'py>,
    names: &[String],
    rows: &[Record],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let iters: Vec<i64> = rows.iter().map(|r| r.iteration as i64).collect();
    d.set_item("iteration", PyArray1::from_vec(py, iters))?;
    let col = |f: &dyn Fn(&Record) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    d.set_item("seconds", PyArray1::from_vec(py, col(&|r| r.seconds)))?;
    d.set_item("objective", PyArray1::from_vec(py, col(&|r| r.objective)))?;
    d.set_item(
        "aux_loss",
        PyArray1::from_vec(py, col(&|r| r.aux_loss.unwrap_or(f64::NAN))),
    )?;
    for (k, name) in names.iter().enumerate() {
        let c = col(&|r| r.values.get(k).copied().unwrap_or(f64::NAN));
        d.set_item(name, PyArray1::from_vec(py, c))?;
    }
    Ok(d)
}
