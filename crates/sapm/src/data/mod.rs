//! Regression data: built-in targets, CSV and `.npy` files, train/test splits.
//!
//! A [`Dataset`] holds inputs `x` (`d x N`) and targets `y` (`m x N`), one
//! column per sample, plus column names (kept in the model file so `predict`
//! and `eval` can find the right columns again).

mod builtin;
mod csv;
mod npy;
mod shard;
mod stream;

pub use self::csv::parse_csv;
pub use builtin::{BUILTINS, builtin};
pub use csv::{Table, read_csv_table};
pub use npy::{npy_bytes_with_header, npy_padded_header, parse_npy, read_npy_table, write_npy};
pub use shard::ShardSplit;
pub use stream::RowReader;

use crate::error::{Error, Result};
use crate::scale::ScaleKind;
use faer::Mat;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Inputs and targets, one column per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Inputs, `d x N`.
    pub x: Mat<f64>,
    /// Targets, `m x N`.
    pub y: Mat<f64>,
    /// Names of the `d` input columns.
    pub input_names: Vec<String>,
    /// Names of the `m` output columns.
    pub output_names: Vec<String>,
}

impl Dataset {
    /// Build and validate: same sample count, at least one sample, all finite.
    pub fn new(
        x: Mat<f64>,
        y: Mat<f64>,
        input_names: Vec<String>,
        output_names: Vec<String>,
    ) -> Result<Self> {
        if x.ncols() != y.ncols() {
            return Err(Error::shape(
                "dataset",
                format!("{} target columns", x.ncols()),
                format!("{}", y.ncols()),
            ));
        }
        if x.ncols() == 0 {
            return Err(Error::Data("dataset is empty (no samples)".into()));
        }
        if x.nrows() == 0 || y.nrows() == 0 {
            return Err(Error::Data(
                "dataset needs at least one input and one output column".into(),
            ));
        }
        if input_names.len() != x.nrows() || output_names.len() != y.nrows() {
            return Err(Error::shape(
                "dataset column names",
                x.nrows() + y.nrows(),
                input_names.len() + output_names.len(),
            ));
        }
        for (what, m) in [("input", &x), ("target", &y)] {
            for j in 0..m.ncols() {
                for i in 0..m.nrows() {
                    if !m[(i, j)].is_finite() {
                        return Err(Error::Data(format!(
                            "{what} value {} of sample {j} is {}",
                            i,
                            m[(i, j)]
                        )));
                    }
                }
            }
        }
        Ok(Dataset {
            x,
            y,
            input_names,
            output_names,
        })
    }

    /// Number of samples `N`.
    pub fn len(&self) -> usize {
        self.x.ncols()
    }
    /// Always false for a validated dataset.
    pub fn is_empty(&self) -> bool {
        self.x.ncols() == 0
    }
    /// Input dimension `d`.
    pub fn input_dim(&self) -> usize {
        self.x.nrows()
    }
    /// Output dimension `m`.
    pub fn output_dim(&self) -> usize {
        self.y.nrows()
    }

    /// The samples with the given indices, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            x: Mat::from_fn(self.x.nrows(), idx.len(), |i, j| self.x[(i, idx[j])]),
            y: Mat::from_fn(self.y.nrows(), idx.len(), |i, j| self.y[(i, idx[j])]),
            input_names: self.input_names.clone(),
            output_names: self.output_names.clone(),
        }
    }

    /// Mean squared error (over samples and outputs) of always predicting
    /// the training mean (the "best constant predictor"), a natural failure
    /// threshold: the targets' variance, averaged over outputs.
    pub fn constant_predictor_mse(&self) -> f64 {
        self.constant_predictor_mse_in_units(None)
    }

    /// [`Dataset::constant_predictor_mse`] with output `i`'s deviations
    /// multiplied by `out_scale[i]` (targets scaled by `data.scale`: the
    /// value in the data's units).
    pub fn constant_predictor_mse_in_units(&self, out_scale: Option<&[f64]>) -> f64 {
        let n = self.len() as f64;
        let mut total = 0.0;
        for i in 0..self.y.nrows() {
            let mean = (0..self.len()).map(|j| self.y[(i, j)]).sum::<f64>() / n;
            let s = out_scale.map_or(1.0, |s| s[i]);
            total += (0..self.len())
                .map(|j| (s * (self.y[(i, j)] - mean)).powi(2))
                .sum::<f64>()
                / n;
        }
        total / self.y.nrows().max(1) as f64
    }
}

/// A training set and a test set.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Training samples.
    pub train: Dataset,
    /// Held-out samples.
    pub test: Dataset,
}

impl Split {
    /// Seeded random split of `data`: a fraction `test_fraction` in (0, 1) goes to the test set.
    pub fn random(data: Dataset, test_fraction: f64, seed: u64) -> Result<Split> {
        let (train, test) = split_rows(data.len(), test_fraction, seed)?;
        Ok(Split {
            train: data.subset(&train),
            test: data.subset(&test),
        })
    }
}

/// The rows of [`Split::random`] of `n` samples: training and test rows,
/// each sorted (they depend on `n`, the fraction and the seed only).
pub(crate) fn split_rows(
    n: usize,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::config(
            "data.test_fraction",
            format!("must be in (0, 1), got {test_fraction}"),
        ));
    }
    let n_test = ((n as f64) * test_fraction).round() as usize;
    if n_test == 0 || n_test >= n {
        return Err(Error::Data(format!(
            "cannot split {n} samples with test_fraction {test_fraction}: need at least one train and one test sample"
        )));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_5B11));
    let (test, train) = idx.split_at(n_test);
    let mut train = train.to_vec();
    let mut test = test.to_vec();
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

/// A column chosen by name (CSV header) or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    /// 0-based column index.
    Index(usize),
    /// Header name.
    Name(String),
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Index(i) => write!(f, "#{i}"),
            Column::Name(s) => write!(f, "{}", crate::error::quoted(s)),
        }
    }
}

/// Largest `n_train` / `n_test` of a built-in target.
pub const MAX_BUILTIN_POINTS: usize = 1 << 24;

/// Where the data come from (the `[data]` section of a config).
///
/// | key | default | meaning |
/// |---|---|---|
/// | `builtin` | `"sin_x2"` when `train` is unset | built-in target: `sin_x2`, `sincos_x2` (two outputs), `franke` |
/// | `n_train` | 100 | random training points (built-ins), 1 to 2^24 |
/// | `n_test` | 1000 | equispaced test grid size (built-ins; 2-D: nearest square), 1 to 2^24 |
/// | `noise` | 0 | std. dev. of Gaussian noise added to built-in training targets |
/// | `train` | none | CSV (with header) or `.npy` (2-D) file |
/// | `test` | none | separate test file; else a seeded split |
/// | `test_fraction` | 0.2 | share of `train` held out when `test` is unset |
/// | `inputs` | all but the last column | names or 0-based indices |
/// | `outputs` | the last column | names or 0-based indices |
/// | `seed` | the run's `seed` | seed of training points and splits |
/// | `scale` | `standard` with a `train` file, else `none` | `standard`, `minmax` or `none`: inputs and outputs mapped per column, fitted on the training set ([`crate::scale`]) |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Built-in target name.
    pub builtin: Option<String>,
    /// Training points of a built-in target.
    pub n_train: usize,
    /// Test points of a built-in target.
    pub n_test: usize,
    /// Noise on built-in training targets.
    pub noise: f64,
    /// Training data file.
    pub train: Option<PathBuf>,
    /// Test data file.
    pub test: Option<PathBuf>,
    /// Held-out share when no test file is given.
    pub test_fraction: f64,
    /// Input columns.
    pub inputs: Option<Vec<Column>>,
    /// Output columns.
    pub outputs: Option<Vec<Column>>,
    /// Data seed (defaults to the run seed).
    pub seed: Option<u64>,
    /// Input/output scaling; unset: [`DataConfig::scale_kind`].
    pub scale: Option<ScaleKind>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            builtin: None,
            n_train: 100,
            n_test: 1000,
            noise: 0.0,
            train: None,
            test: None,
            test_fraction: 0.2,
            inputs: None,
            outputs: None,
            seed: None,
            scale: None,
        }
    }
}

impl DataConfig {
    /// The scaling a run uses: `scale` if set, else `standard` for a data
    /// file and `none` for the built-in targets (which keep their documented
    /// numbers).
    pub fn scale_kind(&self) -> ScaleKind {
        self.scale.unwrap_or(if self.train.is_some() {
            ScaleKind::Standard
        } else {
            ScaleKind::None
        })
    }

    /// Check values without touching files.
    pub fn validate(&self) -> Result<()> {
        if self.builtin.is_some() && self.train.is_some() {
            return Err(Error::config(
                "data",
                "set either `builtin` or `train`, not both",
            ));
        }
        // Checked even where unused, so a typo never passes silently.
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return Err(Error::config(
                "data.noise",
                format!("must be finite and >= 0, got {}", self.noise),
            ));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(Error::config(
                "data.test_fraction",
                format!("must be in (0, 1), got {}", self.test_fraction),
            ));
        }
        for (key, n) in [("data.n_train", self.n_train), ("data.n_test", self.n_test)] {
            if n == 0 || n > MAX_BUILTIN_POINTS {
                return Err(Error::config(
                    key,
                    format!("must be in [1, {MAX_BUILTIN_POINTS}], got {n}"),
                ));
            }
        }
        if self.train.is_none() {
            let name = self.builtin.as_deref().unwrap_or("sin_x2");
            if !BUILTINS.contains(&name) {
                return Err(Error::config(
                    "data.builtin",
                    format!(
                        "unknown target {}; known: {}",
                        crate::error::quoted(name),
                        BUILTINS.join(", ")
                    ),
                ));
            }
        }
        if self.test.is_some() && self.train.is_none() {
            return Err(Error::config(
                "data.test",
                "a test file needs a `train` file",
            ));
        }
        Ok(())
    }

    /// Load (or generate) the train/test split. `seed` is the run seed.
    pub fn load(&self, seed: u64) -> Result<Split> {
        self.validate()?;
        let seed = self.seed.unwrap_or(seed);
        let Some(train_path) = &self.train else {
            let name = self.builtin.as_deref().unwrap_or("sin_x2");
            return builtin(name, self.n_train, self.n_test, self.noise, seed);
        };
        let train = load_file(train_path, self.inputs.as_deref(), self.outputs.as_deref())?;
        match &self.test {
            Some(p) => {
                let test = load_file(p, self.inputs.as_deref(), self.outputs.as_deref())?;
                if test.input_names != train.input_names || test.output_names != train.output_names
                {
                    return Err(Error::format(
                        p,
                        "test file columns differ from the training file's",
                    ));
                }
                Ok(Split { train, test })
            }
            None => Split::random(train, self.test_fraction, seed),
        }
    }
}

/// Read a CSV or `.npy` file and pick input/output columns (see [`DataConfig`]).
pub fn load_file(
    path: &Path,
    inputs: Option<&[Column]>,
    outputs: Option<&[Column]>,
) -> Result<Dataset> {
    let table = read_table(path)?;
    table.to_dataset(path, inputs, outputs)
}

/// Read a numeric table from a CSV (with header) or `.npy` file, by extension.
pub fn read_table(path: &Path) -> Result<Table> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("npy") => read_npy_table(path),
        _ => read_csv_table(path),
    }
}

impl Table {
    /// Resolve column selections and build a validated [`Dataset`].
    pub fn to_dataset(
        &self,
        path: &Path,
        inputs: Option<&[Column]>,
        outputs: Option<&[Column]>,
    ) -> Result<Dataset> {
        let ncol = self.names.len();
        if ncol < 2 && (inputs.is_none() || outputs.is_none()) {
            return Err(Error::format(
                path,
                format!("need at least 2 columns (inputs and output), found {ncol}"),
            ));
        }
        let resolve = |sel: &[Column], what: &str| -> Result<Vec<usize>> {
            if sel.is_empty() {
                return Err(Error::config(
                    format!("data.{what}"),
                    "must name at least one column",
                ));
            }
            sel.iter()
                .map(|c| match c {
                    Column::Index(i) if *i < ncol => Ok(*i),
                    Column::Index(i) => Err(Error::format(
                        path,
                        format!("{what} column index {i} out of range (file has {ncol} columns)"),
                    )),
                    Column::Name(s) => self.names.iter().position(|n| n == s).ok_or_else(|| {
                        Error::format(
                            path,
                            format!(
                                "no {what} column named {}; columns are {}",
                                crate::error::quoted(s),
                                crate::error::quoted_list(&self.names)
                            ),
                        )
                    }),
                })
                .collect()
        };
        let out_idx = match outputs {
            Some(o) => resolve(o, "outputs")?,
            None => vec![ncol - 1],
        };
        let in_idx = match inputs {
            Some(i) => resolve(i, "inputs")?,
            None => (0..ncol).filter(|c| !out_idx.contains(c)).collect(),
        };
        if in_idx.is_empty() {
            return Err(Error::format(path, "no input columns left"));
        }
        if let Some(c) = in_idx.iter().find(|c| out_idx.contains(c)) {
            return Err(Error::config(
                "data.inputs",
                format!(
                    "column {} is both an input and an output",
                    crate::error::quoted(&self.names[*c])
                ),
            ));
        }
        if self.rows == 0 {
            return Err(Error::format(path, "no data rows"));
        }
        let pick = |idx: &[usize]| {
            Mat::from_fn(idx.len(), self.rows, |i, j| self.values[j * ncol + idx[i]])
        };
        let names = |idx: &[usize]| idx.iter().map(|&i| self.names[i].clone()).collect();
        Dataset::new(
            pick(&in_idx),
            pick(&out_idx),
            names(&in_idx),
            names(&out_idx),
        )
        .map_err(|e| Error::format(path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_seeded_and_disjoint() {
        let x = Mat::from_fn(1, 50, |_, j| j as f64);
        let y = Mat::from_fn(1, 50, |_, j| 2.0 * j as f64);
        let d = Dataset::new(x, y, vec!["x".into()], vec!["y".into()]).unwrap();
        let a = Split::random(d.clone(), 0.2, 1).unwrap();
        let b = Split::random(d.clone(), 0.2, 1).unwrap();
        let c = Split::random(d.clone(), 0.2, 2).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.test.len(), 10);
        assert_eq!(a.train.len(), 40);
        let mut all: Vec<f64> = (0..40)
            .map(|j| a.train.x[(0, j)])
            .chain((0..10).map(|j| a.test.x[(0, j)]))
            .collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all, (0..50).map(|j| j as f64).collect::<Vec<_>>());
        assert!(Split::random(d, 1.5, 0).is_err());
    }

    #[test]
    fn dataset_rejects_non_finite_and_empty() {
        let ok = || (Mat::<f64>::zeros(1, 3), Mat::<f64>::zeros(1, 3));
        let (x, mut y) = ok();
        y[(0, 1)] = f64::NAN;
        assert!(Dataset::new(x, y, vec!["x".into()], vec!["y".into()]).is_err());
        assert!(
            Dataset::new(
                Mat::zeros(1, 0),
                Mat::zeros(1, 0),
                vec!["x".into()],
                vec!["y".into()]
            )
            .is_err()
        );
        let (x, _) = ok();
        assert!(Dataset::new(x, Mat::zeros(1, 2), vec!["x".into()], vec!["y".into()]).is_err());
    }

    #[test]
    fn constant_predictor_mse_is_the_variance() {
        let x = Mat::from_fn(1, 4, |_, j| j as f64);
        let y = Mat::from_fn(1, 4, |_, j| [1.0, 3.0, 1.0, 3.0][j]);
        let d = Dataset::new(x, y, vec!["x".into()], vec!["y".into()]).unwrap();
        assert!((d.constant_predictor_mse() - 1.0).abs() < 1e-15);
        // Two outputs of variances 1 and 4: the mean over outputs, 2.5.
        let x = Mat::from_fn(1, 4, |_, j| j as f64);
        let y = Mat::from_fn(2, 4, |i, j| [1.0, 3.0, 1.0, 3.0][j] * (i + 1) as f64);
        let names = vec!["a".into(), "b".into()];
        let d = Dataset::new(x, y, vec!["x".into()], names).unwrap();
        assert!((d.constant_predictor_mse() - 2.5).abs() < 1e-15);
    }
}
