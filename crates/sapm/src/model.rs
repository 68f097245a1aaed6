//! A trained model (network, column names, input/output scaling) and its
//! JSON file format (`docs/models.md`).

use crate::Activation;
use crate::error::{Error, Result};
use crate::net::Network;
use crate::scale::{Affine, ScaleKind, Scaling};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Current `model.json` format version (what [`Model::save`] writes).
/// Version 2 added the optional `scaling` field; version 1 files (no
/// scaling) are still read.
pub const MODEL_VERSION: u32 = 2;

/// Every `model.json` version [`Model::load`] reads. When the format changes,
/// keep reading the old versions here rather than refusing them.
pub const SUPPORTED_MODEL_VERSIONS: &[u32] = &[1, 2];

/// A fitted network with the names of its input and output columns.
///
/// ```
/// use sapm::{model::Model, NetworkSpec};
/// let net = NetworkSpec::new(vec![1, 4, 1]).build(0).unwrap();
/// let m = Model::new(net, vec!["x".into()], vec!["y".into()]).unwrap();
/// let back = Model::from_json(&m.to_json()).unwrap();
/// assert_eq!(m, back);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The network.
    pub net: Network,
    /// Input column names (length `d`).
    pub input_names: Vec<String>,
    /// Output column names (length `m_L`).
    pub output_names: Vec<String>,
    /// Maps from the data's units to the network's and back (`data.scale`);
    /// `None`: the network sees the data as they are.
    pub scaling: Option<Scaling>,
}

/// The fields read before the strict parse: any JSON object passes, so the
/// format and version can be judged first.
#[derive(Deserialize)]
struct Probe {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    format: String,
    version: u32,
    activation: Activation,
    widths: Vec<usize>,
    input_names: Vec<String>,
    output_names: Vec<String>,
    /// Per layer: `weight` as rows (`m_l` rows of `m_{l-1}` values) and `bias`.
    layers: Vec<LayerFile>,
    /// Version 2: `x_net = (x - input_shift) / input_scale`,
    /// `y = y_net * output_scale + output_shift`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scaling: Option<ScalingFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScalingFile {
    kind: ScaleKind,
    input_shift: Vec<f64>,
    input_scale: Vec<f64>,
    output_shift: Vec<f64>,
    output_scale: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerFile {
    weight: Vec<Vec<f64>>,
    bias: Vec<f64>,
}

impl Model {
    /// Pair a network with column names (lengths must match its widths).
    pub fn new(net: Network, input_names: Vec<String>, output_names: Vec<String>) -> Result<Model> {
        if input_names.len() != net.input_dim() || output_names.len() != net.output_dim() {
            return Err(Error::shape(
                "model column names",
                format!(
                    "{} inputs and {} outputs",
                    net.input_dim(),
                    net.output_dim()
                ),
                format!("{} and {}", input_names.len(), output_names.len()),
            ));
        }
        Ok(Model {
            net,
            input_names,
            output_names,
            scaling: None,
        })
    }

    /// The same model with `scaling` (checked against its widths).
    pub fn with_scaling(mut self, scaling: Option<Scaling>) -> Result<Model> {
        if let Some(s) = &scaling {
            s.check(self.net.input_dim(), self.net.output_dim())?;
        }
        self.scaling = scaling;
        Ok(self)
    }

    /// Inputs `d x N` scaled for the network (`None`: no scaling, or a wrong
    /// row count, which the network's own check reports).
    fn scaled_inputs(&self, x: MatRef<'_, f64>) -> Option<(&Scaling, Mat<f64>)> {
        let s = self.scaling.as_ref()?;
        (x.nrows() == s.inputs.len()).then(|| (s, s.inputs.apply(x)))
    }

    /// Predictions `m_L x N` in the data's units for inputs `d x N` in the
    /// data's units (scaling applied, then undone on the outputs).
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        match self.scaled_inputs(x) {
            Some((s, xs)) => Ok(s.unscale_outputs(self.net.predict(xs.as_ref())?)),
            None => self.net.predict(x),
        }
    }

    /// [`Model::predict`] with the network evaluated in f32 (the scaling in
    /// f64): the fragility check of a deployed single-precision network.
    pub fn predict_f32(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        match self.scaled_inputs(x) {
            Some((s, xs)) => s.unscale_outputs(self.net.predict_f32(xs.as_ref())),
            None => self.net.predict_f32(x),
        }
    }

    /// Serialise to pretty JSON.
    pub fn to_json(&self) -> String {
        let net = &self.net;
        let layers = (0..net.depth())
            .map(|l| {
                let m = net.layer(l);
                let k = m.ncols() - 1;
                LayerFile {
                    weight: (0..m.nrows())
                        .map(|i| (0..k).map(|j| m[(i, j)]).collect())
                        .collect(),
                    bias: (0..m.nrows()).map(|i| m[(i, k)]).collect(),
                }
            })
            .collect();
        let f = ModelFile {
            format: "sapm-model".into(),
            version: MODEL_VERSION,
            activation: net.activation(),
            widths: net.widths().to_vec(),
            input_names: self.input_names.clone(),
            output_names: self.output_names.clone(),
            layers,
            scaling: self.scaling.as_ref().map(|s| ScalingFile {
                kind: s.kind,
                input_shift: s.inputs.shift.clone(),
                input_scale: s.inputs.scale.clone(),
                output_shift: s.outputs.shift.clone(),
                output_scale: s.outputs.scale.clone(),
            }),
        };
        serde_json::to_string_pretty(&f).expect("model serialises")
    }

    /// Parse and validate JSON (format tag, version, shapes, finiteness);
    /// errors are labelled `<model>`.
    pub fn from_json(text: &str) -> Result<Model> {
        Model::parse(Path::new("<model>"), text.as_bytes())
    }

    /// Parse and validate the bytes of a model file; `path` only labels errors.
    ///
    /// The format tag and version are checked before the rest of the file, so
    /// a file from another version gets a message that lists the supported
    /// versions rather than a complaint about an unknown field. Every error is
    /// an [`Error::Format`] naming the file and the field (`layers[1].bias[0]`)
    /// or the JSON line and column.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Model> {
        let bad = |r: String| Error::format(path, r);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let at = e.valid_up_to();
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            bad(format!("invalid UTF-8 at byte {at} (line {line})"))
        })?;
        let probe: Probe =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        match probe.format {
            Some(serde_json::Value::String(f)) if f == "sapm-model" => {}
            Some(other) => {
                return Err(bad(format!(
                    "field `format` is {other}, expected \"sapm-model\""
                )));
            }
            None => return Err(bad("missing field `format` (not a sapm model file?)".into())),
        }
        let supported = || {
            SUPPORTED_MODEL_VERSIONS
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &probe.version {
            Some(v)
                if v.as_u64().is_some_and(|v| {
                    u32::try_from(v).is_ok_and(|v| SUPPORTED_MODEL_VERSIONS.contains(&v))
                }) => {}
            Some(v) => {
                return Err(bad(format!(
                    "field `version` is {v}; this build reads model versions {} (re-train or convert the model)",
                    supported()
                )));
            }
            None => {
                return Err(bad(format!(
                    "missing field `version` (supported versions: {})",
                    supported()
                )));
            }
        }
        let f: ModelFile =
            serde_json::from_str(text).map_err(|e| bad(format!("invalid model file: {e}")))?;
        if f.widths.len() < 2 {
            return Err(bad(format!(
                "field `widths` {:?} needs at least an input and an output width",
                f.widths
            )));
        }
        if let Some(i) = f.widths.iter().position(|&w| w == 0) {
            return Err(bad(format!("field `widths[{i}]` is 0 in {:?}", f.widths)));
        }
        if f.layers.len() != f.widths.len() - 1 {
            return Err(bad(format!(
                "field `layers` has {} entries but `widths` {:?} needs {}",
                f.layers.len(),
                f.widths,
                f.widths.len() - 1
            )));
        }
        let (d, m) = (f.widths[0], f.widths[f.widths.len() - 1]);
        for (key, names, want) in [
            ("input_names", &f.input_names, d),
            ("output_names", &f.output_names, m),
        ] {
            if names.len() != want {
                return Err(bad(format!(
                    "field `{key}` has {} names but `widths` says {want}",
                    names.len()
                )));
            }
        }
        let mut mats = Vec::with_capacity(f.layers.len());
        for (l, lf) in f.layers.iter().enumerate() {
            let (rows, cols) = (f.widths[l + 1], f.widths[l]);
            if lf.weight.len() != rows {
                return Err(bad(format!(
                    "field `layers[{l}].weight` has {} rows, expected {rows} (widths[{}])",
                    lf.weight.len(),
                    l + 1
                )));
            }
            if let Some(i) = lf.weight.iter().position(|r| r.len() != cols) {
                return Err(bad(format!(
                    "field `layers[{l}].weight[{i}]` has {} values, expected {cols} (widths[{l}])",
                    lf.weight[i].len()
                )));
            }
            if lf.bias.len() != rows {
                return Err(bad(format!(
                    "field `layers[{l}].bias` has {} values, expected {rows} (widths[{}])",
                    lf.bias.len(),
                    l + 1
                )));
            }
            // JSON cannot spell NaN or Inf, but a hand-written 1e999 must not slip through.
            for (i, row) in lf.weight.iter().enumerate() {
                if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                    return Err(bad(format!(
                        "field `layers[{l}].weight[{i}][{j}]` is {}, not finite",
                        row[j]
                    )));
                }
            }
            if let Some(i) = lf.bias.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "field `layers[{l}].bias[{i}]` is {}, not finite",
                    lf.bias[i]
                )));
            }
            mats.push(Mat::from_fn(rows, cols + 1, |i, j| {
                if j < cols {
                    lf.weight[i][j]
                } else {
                    lf.bias[i]
                }
            }));
        }
        let scaling = match f.scaling {
            None => None,
            Some(_) if f.version < 2 => {
                return Err(bad("field `scaling` needs model version 2 or later".into()));
            }
            Some(ScalingFile {
                kind: ScaleKind::None,
                ..
            }) => {
                return Err(bad(
                    "field `scaling.kind` is \"none\": omit `scaling` instead".into(),
                ));
            }
            Some(sf) => {
                let s = Scaling {
                    kind: sf.kind,
                    inputs: Affine {
                        shift: sf.input_shift,
                        scale: sf.input_scale,
                    },
                    outputs: Affine {
                        shift: sf.output_shift,
                        scale: sf.output_scale,
                    },
                };
                s.inputs
                    .validate("scaling.input", d)
                    .and_then(|_| s.outputs.validate("scaling.output", m))
                    .map_err(bad)?;
                Some(s)
            }
        };
        let net = Network::from_layers(f.activation, mats).map_err(|e| bad(e.to_string()))?;
        Model::new(net, f.input_names, f.output_names)
            .and_then(|m| m.with_scaling(scaling))
            .map_err(|e| bad(e.to_string()))
    }

    /// Write `model.json` atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, self.to_json().as_bytes())
    }

    /// Read a model from a `sapm train` output folder (its `model.json`) or
    /// from a model file.
    pub fn load_run_or_file(path: &Path) -> Result<Model> {
        if path.is_dir() {
            let file = path.join("model.json");
            if !file.is_file() {
                return Err(Error::Data(format!(
                    "{}: a folder without model.json (give a `sapm train --out` folder or a model file)",
                    path.display()
                )));
            }
            return Model::load(&file);
        }
        Model::load(path)
    }

    /// Read and validate a model file.
    pub fn load(path: &Path) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Model::parse(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NetworkSpec;

    #[test]
    fn file_round_trip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let net = NetworkSpec::new(vec![2, 3, 2]).build(4).unwrap();
        let m = Model::new(
            net,
            vec!["a".into(), "b".into()],
            vec!["u".into(), "v".into()],
        )
        .unwrap();
        let p = dir.path().join("model.json");
        m.save(&p).unwrap();
        assert_eq!(Model::load(&p).unwrap(), m);
        let good = m.to_json();
        let mutations = [
            (good.replace("\"version\": 2", "\"version\": 99"), "version"),
            (good.replace("sapm-model", "other"), "format"),
            (
                good.replacen("\"widths\": [\n    2,", "\"widths\": [\n    5,", 1),
                "`input_names` has 2 names",
            ),
            (good.replace("tanh", "cube"), "`cube`"),
            (good[..good.len() / 2].to_string(), "not valid JSON"),
            ("{}".to_string(), "missing field `format`"),
        ];
        for (text, want) in mutations {
            assert_ne!(text, good);
            let e = Model::from_json(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        assert!(Model::load(&dir.path().join("missing.json")).is_err());
    }
}
