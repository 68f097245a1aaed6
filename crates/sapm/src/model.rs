//! A trained model (network plus column names) and its JSON file format.

use crate::Activation;
use crate::error::{Error, Result};
use crate::net::Network;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Current `model.json` format version.
pub const MODEL_VERSION: u32 = 1;

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
        })
    }

    /// Predictions `m_L x N` for inputs `d x N`.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.net.predict(x)
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
        };
        serde_json::to_string_pretty(&f).expect("model serialises")
    }

    /// Parse and validate JSON (format tag, version, shapes, finiteness).
    pub fn from_json(text: &str) -> Result<Model> {
        Model::from_json_at(Path::new("<model>"), text)
    }

    fn from_json_at(path: &Path, text: &str) -> Result<Model> {
        let bad = |r: String| Error::format(path, r);
        let f: ModelFile =
            serde_json::from_str(text).map_err(|e| bad(format!("not a valid model file: {e}")))?;
        if f.format != "sapm-model" {
            return Err(bad(format!(
                "field `format` is {:?}, expected \"sapm-model\"",
                f.format
            )));
        }
        if f.version != MODEL_VERSION {
            return Err(bad(format!(
                "field `version` is {}; this build reads version {MODEL_VERSION} (re-train or convert the model)",
                f.version
            )));
        }
        if f.widths.len() < 2 || f.widths.contains(&0) {
            return Err(bad(format!("field `widths` {:?} is invalid", f.widths)));
        }
        if f.layers.len() != f.widths.len() - 1 {
            return Err(bad(format!(
                "{} layers for widths {:?}",
                f.layers.len(),
                f.widths
            )));
        }
        let mut mats = Vec::with_capacity(f.layers.len());
        for (l, lf) in f.layers.iter().enumerate() {
            let (rows, cols) = (f.widths[l + 1], f.widths[l]);
            if lf.weight.len() != rows
                || lf.weight.iter().any(|r| r.len() != cols)
                || lf.bias.len() != rows
            {
                return Err(bad(format!(
                    "layers[{l}]: expected a {rows} x {cols} weight and {rows} biases"
                )));
            }
            if lf
                .weight
                .iter()
                .flatten()
                .chain(&lf.bias)
                .any(|v| !v.is_finite())
            {
                return Err(bad(format!("layers[{l}]: non-finite value")));
            }
            mats.push(Mat::from_fn(rows, cols + 1, |i, j| {
                if j < cols {
                    lf.weight[i][j]
                } else {
                    lf.bias[i]
                }
            }));
        }
        let net = Network::from_layers(f.activation, mats).map_err(|e| bad(e.to_string()))?;
        Model::new(net, f.input_names, f.output_names).map_err(|e| bad(e.to_string()))
    }

    /// Write `model.json` atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, self.to_json().as_bytes())
    }

    /// Read and validate a model file.
    pub fn load(path: &Path) -> Result<Model> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Model::from_json_at(path, &text)
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
            (good.replace("\"version\": 1", "\"version\": 99"), "version"),
            (good.replace("sapm-model", "other"), "format"),
            (
                good.replacen("\"widths\": [\n    2,", "\"widths\": [\n    5,", 1),
                "layers[0]",
            ),
            (good.replace("tanh", "cube"), "not a valid model"),
            (good[..good.len() / 2].to_string(), "not a valid model"),
            ("{}".to_string(), "not a valid model"),
        ];
        for (text, want) in mutations {
            assert_ne!(text, good);
            let e = Model::from_json(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        assert!(Model::load(&dir.path().join("missing.json")).is_err());
    }
}
