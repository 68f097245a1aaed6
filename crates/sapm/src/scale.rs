//! Input and output scaling (`data.scale`): per column, `t = (v - shift) / scale`,
//! fitted on the training set, stored in `model.json` and undone by
//! [`crate::Model::predict`].
//!
//! | kind | shift | scale | training columns become |
//! |---|---|---|---|
//! | `standard` | mean | population standard deviation | mean 0, std 1 |
//! | `minmax` | (min + max) / 2 | (max - min) / 2 | [-1, 1] (the range of tanh) |
//! | `none` | 0 | 1 | unchanged |
//!
//! A constant column (zero std or range) gets scale 1, so it is only shifted
//! (to 0) and never divided by zero.

use crate::error::{Error, Result};
use crate::linalg::{LocalReducer, Reducer, all_gather};
use faer::{Mat, MatMut, MatRef};
use serde::{Deserialize, Serialize};

/// How `data.scale` maps inputs and outputs (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleKind {
    /// Mean 0, standard deviation 1 per column.
    Standard,
    /// Range [-1, 1] per column.
    Minmax,
    /// No scaling.
    None,
}

impl ScaleKind {
    /// The name used in configs and model files.
    pub fn name(self) -> &'static str {
        match self {
            ScaleKind::Standard => "standard",
            ScaleKind::Minmax => "minmax",
            ScaleKind::None => "none",
        }
    }
}

/// One affine map per row of a `columns x samples` matrix: `t = (v - shift) / scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct Affine {
    /// Subtracted first.
    pub shift: Vec<f64>,
    /// Divided by next (> 0, finite).
    pub scale: Vec<f64>,
}

impl Affine {
    /// The map `kind` fits to the rows of `v` (one row per column of the data).
    pub fn fit(kind: ScaleKind, v: MatRef<'_, f64>) -> Affine {
        Affine::fit_on(kind, v, &LocalReducer).expect("the local reducer does not fail")
    }

    /// [`Affine::fit`] to the columns of all processes of `reducer`, `v`
    /// holding this process's: sums added in the reducer's fixed order (one
    /// process: the same bits as [`Affine::fit`]), minima and maxima exact.
    pub fn fit_on(kind: ScaleKind, v: MatRef<'_, f64>, reducer: &dyn Reducer) -> Result<Affine> {
        let d = v.nrows();
        let row = |i: usize| (0..v.ncols()).map(move |j| v[(i, j)]);
        let (shift, scale) = match kind {
            ScaleKind::None => (vec![0.0; d], vec![1.0; d]),
            ScaleKind::Standard => {
                // Two passes: the mean, then squares of deviations (no cancellation).
                let mut sums: Vec<f64> = (0..d).map(|i| row(i).sum::<f64>()).collect();
                sums.push(v.ncols() as f64);
                reducer.all_reduce_sum(&mut sums)?;
                let n = sums[d].max(1.0);
                let mean: Vec<f64> = sums[..d].iter().map(|s| s / n).collect();
                let mut dev: Vec<f64> = (0..d)
                    .map(|i| row(i).map(|x| (x - mean[i]) * (x - mean[i])).sum::<f64>())
                    .collect();
                reducer.all_reduce_sum(&mut dev)?;
                let scale = dev.iter().map(|s| usable((s / n).sqrt())).collect();
                (mean, scale)
            }
            ScaleKind::Minmax => {
                let mut local: Vec<f64> = (0..d)
                    .map(|i| row(i).fold(f64::INFINITY, f64::min))
                    .collect();
                local.extend((0..d).map(|i| row(i).fold(f64::NEG_INFINITY, f64::max)));
                let all = all_gather(reducer, &local)?;
                let fold = |at: usize, f: fn(f64, f64) -> f64, init: f64| {
                    all.iter().map(|p| p[at]).fold(init, f)
                };
                (0..d)
                    .map(|i| {
                        let lo = fold(i, f64::min, f64::INFINITY);
                        let hi = fold(d + i, f64::max, f64::NEG_INFINITY);
                        // Halves first, so (hi - lo) cannot overflow near f64::MAX.
                        (lo / 2.0 + hi / 2.0, usable(hi / 2.0 - lo / 2.0))
                    })
                    .unzip()
            }
        };
        Ok(Affine { shift, scale })
    }

    /// Number of columns mapped.
    pub fn len(&self) -> usize {
        self.shift.len()
    }

    /// True when no column is mapped.
    pub fn is_empty(&self) -> bool {
        self.shift.is_empty()
    }

    /// `(v - shift) / scale`, row by row.
    pub fn apply(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        Mat::from_fn(v.nrows(), v.ncols(), |i, j| {
            (v[(i, j)] - self.shift[i]) / self.scale[i]
        })
    }

    /// `t * scale + shift` in place: the inverse of [`Affine::apply`].
    pub fn invert_in_place(&self, mut t: MatMut<'_, f64>) {
        for j in 0..t.ncols() {
            for i in 0..t.nrows() {
                t[(i, j)] = t[(i, j)] * self.scale[i] + self.shift[i];
            }
        }
    }

    /// Check lengths and values of a map read from a file; `what` names it.
    pub fn validate(&self, what: &str, n: usize) -> std::result::Result<(), String> {
        for (key, v) in [("shift", &self.shift), ("scale", &self.scale)] {
            if v.len() != n {
                return Err(format!(
                    "field `{what}_{key}` has {} values, expected {n}",
                    v.len()
                ));
            }
        }
        if let Some(i) = self.shift.iter().position(|v| !v.is_finite()) {
            return Err(format!("field `{what}_shift[{i}]` is not finite"));
        }
        if let Some(i) = self.scale.iter().position(|&v| !(v.is_finite() && v > 0.0)) {
            return Err(format!(
                "field `{what}_scale[{i}]` is {}, expected a finite value > 0",
                self.scale[i]
            ));
        }
        Ok(())
    }
}

/// A fitted scale, or 1 for a constant (or degenerate) column.
fn usable(s: f64) -> f64 {
    if s.is_finite() && s >= f64::MIN_POSITIVE {
        s
    } else {
        1.0
    }
}

/// The maps of a model's inputs and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    /// How they were fitted.
    pub kind: ScaleKind,
    /// Inputs (`d` columns).
    pub inputs: Affine,
    /// Outputs (`m` columns).
    pub outputs: Affine,
}

impl Scaling {
    /// Fit `kind` to training inputs `x` (`d x N`) and targets `y` (`m x N`);
    /// `None` for [`ScaleKind::None`].
    pub fn fit(kind: ScaleKind, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Option<Scaling> {
        (kind != ScaleKind::None).then(|| Scaling {
            kind,
            inputs: Affine::fit(kind, x),
            outputs: Affine::fit(kind, y),
        })
    }

    /// [`Scaling::fit`] to the training samples of all processes of
    /// `reducer`, `x` and `y` holding this process's (see [`Affine::fit_on`]).
    pub fn fit_on(
        kind: ScaleKind,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        reducer: &dyn Reducer,
    ) -> Result<Option<Scaling>> {
        if kind == ScaleKind::None {
            return Ok(None);
        }
        Ok(Some(Scaling {
            kind,
            inputs: Affine::fit_on(kind, x, reducer)?,
            outputs: Affine::fit_on(kind, y, reducer)?,
        }))
    }

    /// Network outputs (`m x N`, scaled units) back in the data's units.
    pub fn unscale_outputs(&self, mut u: Mat<f64>) -> Mat<f64> {
        self.outputs.invert_in_place(u.as_mut());
        u
    }

    /// Check the maps against `d` inputs and `m` outputs.
    pub fn check(&self, d: usize, m: usize) -> Result<()> {
        self.inputs
            .validate("input", d)
            .and_then(|_| self.outputs.validate("output", m))
            .map_err(|e| Error::Data(format!("scaling: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// apply then invert is the identity to 1e-15 relative, for both kinds,
    /// on columns of very different magnitude.
    #[test]
    fn round_trip_is_the_identity() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mags = [1e-6, 1.0, 1e3, 1e9];
        let v = Mat::from_fn(4, 200, |i, _| mags[i] * rng.random_range(0.7..1.7));
        for kind in [ScaleKind::Standard, ScaleKind::Minmax] {
            let a = Affine::fit(kind, v.as_ref());
            let mut t = a.apply(v.as_ref());
            a.invert_in_place(t.as_mut());
            for i in 0..4 {
                let big = (0..200).fold(0.0f64, |m, j| m.max(v[(i, j)].abs()));
                for j in 0..200 {
                    let e = (t[(i, j)] - v[(i, j)]).abs();
                    assert!(e <= 1e-15 * big, "{kind:?} row {i}: {e:e} of {big:e}");
                }
            }
        }
    }

    #[test]
    fn fitted_columns_have_the_promised_moments_and_range() {
        let v = Mat::from_fn(1, 1001, |_, j| j as f64);
        let s = Affine::fit(ScaleKind::Standard, v.as_ref()).apply(v.as_ref());
        let n = 1001.0;
        let mean = (0..1001).map(|j| s[(0, j)]).sum::<f64>() / n;
        let var = (0..1001).map(|j| (s[(0, j)] - mean).powi(2)).sum::<f64>() / n;
        assert!(
            mean.abs() < 1e-14 && (var - 1.0).abs() < 1e-13,
            "{mean} {var}"
        );
        let m = Affine::fit(ScaleKind::Minmax, v.as_ref()).apply(v.as_ref());
        assert_eq!((m[(0, 0)], m[(0, 1000)]), (-1.0, 1.0));
        let none = Affine::fit(ScaleKind::None, v.as_ref());
        assert_eq!(none.apply(v.as_ref()), v);
    }

    /// Constant columns are shifted to 0, not divided by zero.
    #[test]
    fn constant_columns_stay_finite() {
        let v = Mat::from_fn(2, 5, |i, j| if i == 0 { 7.5 } else { j as f64 });
        for kind in [ScaleKind::Standard, ScaleKind::Minmax] {
            let a = Affine::fit(kind, v.as_ref());
            assert_eq!(a.scale[0], 1.0);
            let t = a.apply(v.as_ref());
            assert!((0..5).all(|j| t[(0, j)] == 0.0 && t[(1, j)].is_finite()));
            assert!(a.validate("input", 2).is_ok());
        }
        // One sample: every column is constant.
        let one = Mat::from_fn(1, 1, |_, _| -3.0);
        let a = Affine::fit(ScaleKind::Standard, one.as_ref());
        assert_eq!((a.shift[0], a.scale[0]), (-3.0, 1.0));
        let bad = Affine {
            shift: vec![0.0],
            scale: vec![0.0],
        };
        assert!(
            bad.validate("output", 1)
                .unwrap_err()
                .contains("output_scale[0]")
        );
    }
}
