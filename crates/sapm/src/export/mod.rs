//! `sapm export`: a model's weights, biases, activation and scaling as
//! `.npz` (numpy) or `.safetensors` files, with the same tensor names in
//! both, laid out for PyTorch's `nn.Linear` (`docs/models.md`).
//!
//! | name | shape | what |
//! |---|---|---|
//! | `layer{l}.weight` | `(m_{l+1}, m_l)` | weights of affine layer `l` (0-based, input first) |
//! | `layer{l}.bias` | `(m_{l+1},)` | its bias |
//! | `input_shift`, `input_scale` | `(d,)` | the network sees `(x - input_shift) / input_scale` |
//! | `output_shift`, `output_scale` | `(m,)` | predictions are `u * output_scale + output_shift` |
//!
//! All f64, C order. Without scaling the shifts are 0 and the scales 1, so a
//! loader needs no special case. The activation follows every layer but the
//! last. Strings (activation, column names, format) are `<U` arrays in the
//! `.npz` and header metadata in the `.safetensors`.

mod zip;

pub use self::zip::read_stored_zip;

use crate::data::{npy_bytes_with_header, npy_padded_header};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::scale::ScaleKind;
use std::collections::HashMap;
use std::path::Path;

/// Name of the export format, in the file (`format`).
pub const EXPORT_FORMAT: &str = "sapm-export";
/// Version of the export layout (`version`).
pub const EXPORT_VERSION: u32 = 1;

/// A file format `sapm export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// numpy's `.npz` (a ZIP of `.npy` files).
    Npz,
    /// Hugging Face's `.safetensors`.
    Safetensors,
}

impl ExportFormat {
    /// `npz` or `safetensors`.
    pub fn parse(s: &str) -> Result<ExportFormat> {
        match s {
            "npz" => Ok(ExportFormat::Npz),
            "safetensors" => Ok(ExportFormat::Safetensors),
            _ => Err(Error::Data(format!(
                "export format {}: expected npz or safetensors",
                crate::error::quoted(s)
            ))),
        }
    }

    /// The format a file name's extension says (`.npz`, `.safetensors`).
    pub fn from_path(p: &Path) -> Option<ExportFormat> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        ExportFormat::parse(&ext).ok()
    }
}

/// One f64 tensor of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Its name (see the module docs).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values in C order.
    pub values: Vec<f64>,
}

/// The tensors of `model`, layers first (in order), then the scaling.
pub fn tensors(model: &Model) -> Vec<Tensor> {
    let net = &model.net;
    let mut out = Vec::with_capacity(2 * net.depth() + 4);
    for l in 0..net.depth() {
        let m = net.layer(l);
        let (rows, k) = (m.nrows(), m.ncols() - 1);
        out.push(Tensor {
            name: format!("layer{l}.weight"),
            shape: vec![rows, k],
            values: (0..rows)
                .flat_map(|i| (0..k).map(move |j| m[(i, j)]))
                .collect(),
        });
        out.push(Tensor {
            name: format!("layer{l}.bias"),
            shape: vec![rows],
            values: (0..rows).map(|i| m[(i, k)]).collect(),
        });
    }
    let (d, mo) = (net.input_dim(), net.output_dim());
    let s = model.scaling.as_ref();
    let pair = |v: Option<&Vec<f64>>, n: usize, fill: f64| v.cloned().unwrap_or(vec![fill; n]);
    for (name, values) in [
        ("input_shift", pair(s.map(|s| &s.inputs.shift), d, 0.0)),
        ("input_scale", pair(s.map(|s| &s.inputs.scale), d, 1.0)),
        ("output_shift", pair(s.map(|s| &s.outputs.shift), mo, 0.0)),
        ("output_scale", pair(s.map(|s| &s.outputs.scale), mo, 1.0)),
    ] {
        out.push(Tensor {
            name: name.into(),
            shape: vec![values.len()],
            values,
        });
    }
    out
}

/// The string fields of an export: `format`, `version`, `activation`,
/// `depth`, `scaling` (kind or `none`), and `input_names`, `output_names`,
/// `widths` as JSON arrays.
pub fn metadata(model: &Model) -> Vec<(&'static str, String)> {
    vec![
        ("format", EXPORT_FORMAT.into()),
        ("version", EXPORT_VERSION.to_string()),
        ("activation", model.net.activation().name().into()),
        ("depth", model.net.depth().to_string()),
        (
            "scaling",
            model
                .scaling
                .as_ref()
                .map_or(ScaleKind::None, |s| s.kind)
                .name()
                .into(),
        ),
        ("widths", json(&model.net.widths().to_vec())),
        ("input_names", json(&model.input_names)),
        ("output_names", json(&model.output_names)),
    ]
}

/// JSON text of a plain value.
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain values serialise")
}

/// The bytes of `model` exported as `format`.
pub fn export_bytes(model: &Model, format: ExportFormat) -> Result<Vec<u8>> {
    match format {
        ExportFormat::Npz => npz(model),
        ExportFormat::Safetensors => safetensors_bytes(model),
    }
}

/// Export `model` to `path` atomically (a temporary file, then a rename).
pub fn export(model: &Model, format: ExportFormat, path: &Path) -> Result<()> {
    let bytes = export_bytes(model, format)?;
    crate::io::write_atomic(path, &bytes)
}

/// One `.npy` file: `descr` (`<f8`, `<i8`, `<U7`), `shape`, raw little-endian data.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    npy_bytes_with_header(1, &npy_padded_header(1, &dict), data)
}

/// A C-order f64 `.npy` of `shape`.
pub fn npy_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    npy("<f8", shape, &f64_bytes(values))
}

/// Strings as a numpy unicode array (`<U{width}`: UTF-32LE, zero-padded).
fn npy_strings(shape: &[usize], items: &[&str]) -> Vec<u8> {
    let width = items
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut data = Vec::with_capacity(items.len() * width * 4);
    for s in items {
        let n = s.chars().count();
        for c in s.chars().chain(std::iter::repeat_n('\0', width - n)) {
            data.extend_from_slice(&(c as u32).to_le_bytes());
        }
    }
    npy(&format!("<U{width}"), shape, &data)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// An `.npz` of f64 arrays (name, shape, values in C order) and string
/// arrays (name, items, as 1-D `<U` arrays), in that order: what `numpy.load`
/// reads without pickles.
pub fn npz_bytes(
    arrays: &[(&str, &[usize], &[f64])],
    strings: &[(&str, &[String])],
) -> Result<Vec<u8>> {
    let mut entries: Vec<(String, Vec<u8>)> = arrays
        .iter()
        .map(|(n, shape, v)| (format!("{n}.npy"), npy("<f8", shape, &f64_bytes(v))))
        .collect();
    for (n, items) in strings {
        entries.push((
            format!("{n}.npy"),
            npy_strings(&[items.len()], &strs(items)),
        ));
    }
    zip::stored_zip(&entries)
}

fn npz(model: &Model) -> Result<Vec<u8>> {
    let mut entries: Vec<(String, Vec<u8>)> = tensors(model)
        .into_iter()
        .map(|t| {
            let bytes = npy("<f8", &t.shape, &f64_bytes(&t.values));
            (format!("{}.npy", t.name), bytes)
        })
        .collect();
    for (key, value) in metadata(model) {
        let bytes = match key {
            "input_names" => npy_strings(&[model.input_names.len()], &strs(&model.input_names)),
            "output_names" => npy_strings(&[model.output_names.len()], &strs(&model.output_names)),
            "widths" | "version" | "depth" => {
                let ints: Vec<i64> = match key {
                    "widths" => model.net.widths().iter().map(|&w| w as i64).collect(),
                    "version" => vec![i64::from(EXPORT_VERSION)],
                    _ => vec![model.net.depth() as i64],
                };
                let shape: &[usize] = if key == "widths" { &[ints.len()] } else { &[] };
                let data: Vec<u8> = ints.iter().flat_map(|v| v.to_le_bytes()).collect();
                npy("<i8", shape, &data)
            }
            _ => npy_strings(&[], &[value.as_str()]),
        };
        entries.push((format!("{key}.npy"), bytes));
    }
    zip::stored_zip(&entries)
}

fn safetensors_bytes(model: &Model) -> Result<Vec<u8>> {
    let ts = tensors(model);
    let bytes: Vec<Vec<u8>> = ts.iter().map(|t| f64_bytes(&t.values)).collect();
    let views = ts
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F64, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Data(format!("export: {e}")))?;
    let meta: HashMap<String, String> = metadata(model)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::Data(format!("export: {e}")))
}
