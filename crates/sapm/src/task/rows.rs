//! What the penalty engine trains on: a task's sets of points, each with
//! its channels and the rows it adds to every layer's weight step.
//!
//! A **set** is a group of points that share a loss term: the samples of a
//! regression, the interior collocation points of a PDE, its boundary
//! points. Every set carries, per hidden layer and point, one auxiliary per
//! **channel**: the value channel `a_l ~ z_l` always, and one
//! first-derivative channel `d_{l,k} ~ dz_l/dv_k` per input direction `v_k`
//! the set's readout needs (none for regression and Dirichlet data; the
//! direction `v = J_e c` of a first-order operator `c . grad u`; later the
//! coordinate directions of second-order operators). Each channel's layer
//! input is linear in the layer's weights, so every weight step stays one
//! stacked least-squares problem:
//!
//! ```text
//! value        P_0 = [x; 1]        P_{l+1} = [s(a_l); 1]                rows a_l   ~ W~_l P_l
//! derivative   Q_0 = [v_k; 0]      Q_{l+1} = [s'(a_l) (.) d_{l,k}; 0]   rows d_l,k ~ W~_l Q_l,k
//! ```
//!
//! The output layer has one row per point: the **readout**, a fixed
//! combination of channels, `sum_c coef_c (W~_L P_{L,c}) -> target`
//! (regression: the value channel -> `y`; a first-order PDE: the derivative
//! channel -> `f`; a Dirichlet boundary: the value channel -> `g`).
//!
//! Loss: `J = sum_s (alpha_s / N_s) sum_l omega_l R_{l,s}`, where `R_{l,s}`
//! sums the squared residuals of set `s`'s rows at layer `l`; value rows of
//! hidden layers of a set with [`RowSet::omega_rows`] carry the per-point
//! weights `Omega^2_{l,n} = floor + deriv sum_{j >= l} sum_k |d_{j,k,n}|^2`
//! (an error in `a_l` reaches a derivative readout only through
//! `s''(a_l) d_l`, so its effect scales with the derivative magnitude).

use crate::error::{Error, Result};
use faer::MatRef;

/// A channel of a set: which quantity of the network an auxiliary tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Pre-activation values `z_l`.
    Value,
    /// Directional derivative `dz_l / dv_k` along the set's `k`-th direction.
    D1(usize),
}

/// Per-point `Omega^2` weights of a set's hidden value rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OmegaRows {
    /// `floor >= 0`.
    pub floor: f64,
    /// `deriv >= 0`, the factor of the derivative sum.
    pub deriv: f64,
}

/// How the output layer's rows of a set are formed: `sum_c coef_c (W~ P_c)`
/// against `target` (`m x N`).
#[derive(Debug, Clone)]
pub struct Readout<'a> {
    /// `(channel, coefficient)` terms (constant coefficients).
    pub terms: Vec<(Channel, f64)>,
    /// Targets, `m x N`.
    pub target: MatRef<'a, f64>,
}

impl<'a> Readout<'a> {
    /// The network's values against `target` (regression, Dirichlet data).
    pub fn value(target: MatRef<'a, f64>) -> Self {
        Readout {
            terms: vec![(Channel::Value, 1.0)],
            target,
        }
    }

    /// The derivative along direction `k` against `target` (first-order PDE rows).
    pub fn derivative(k: usize, target: MatRef<'a, f64>) -> Self {
        Readout {
            terms: vec![(Channel::D1(k), 1.0)],
            target,
        }
    }

    /// The single channel read with coefficient 1, if that is all the readout is.
    pub(crate) fn plain(&self) -> Option<Channel> {
        match self.terms.as_slice() {
            [(c, w)] if *w == 1.0 => Some(*c),
            _ => None,
        }
    }

    /// Coefficient of `c` (0 when absent).
    pub(crate) fn coef(&self, c: Channel) -> f64 {
        self.terms
            .iter()
            .filter(|(t, _)| *t == c)
            .map(|(_, w)| w)
            .sum()
    }
}

/// One set of points.
#[derive(Debug, Clone)]
pub struct RowSet<'a> {
    /// Short name for messages (`samples`, `interior`, `boundary`).
    pub name: &'static str,
    /// Network inputs, `d x N`.
    pub x: MatRef<'a, f64>,
    /// Input directions of the first-derivative channels, each `d x N`.
    pub dirs: Vec<MatRef<'a, f64>>,
    /// The output rows.
    pub readout: Readout<'a>,
    /// `alpha_s > 0`: the set's loss term is `alpha_s mean(...)`.
    pub weight: f64,
    /// `Omega^2` weights on hidden value rows (sets with derivative channels).
    pub omega_rows: Option<OmegaRows>,
}

impl<'a> RowSet<'a> {
    /// A regression set: inputs `x` (`d x N`), targets `y` (`m x N`).
    pub fn regression(x: MatRef<'a, f64>, y: MatRef<'a, f64>) -> Self {
        RowSet {
            name: "samples",
            x,
            dirs: Vec::new(),
            readout: Readout::value(y),
            weight: 1.0,
            omega_rows: None,
        }
    }

    /// Points of the set.
    pub fn n(&self) -> usize {
        self.x.ncols()
    }

    /// Channels: value first, then one per direction.
    pub fn channels(&self) -> usize {
        1 + self.dirs.len()
    }

    /// Check shapes and weights against a network with `d` inputs and `m` outputs.
    pub fn check(&self, d: usize, m: usize) -> Result<()> {
        let n = self.n();
        let shape = |what: &str, want: String, got: String| {
            Err(Error::shape(format!("{} {what}", self.name), want, got))
        };
        if self.x.nrows() != d {
            return shape("inputs", format!("{d} rows"), format!("{}", self.x.nrows()));
        }
        for (k, v) in self.dirs.iter().enumerate() {
            if v.nrows() != d || v.ncols() != n {
                return shape(
                    &format!("direction {k}"),
                    format!("{d} x {n}"),
                    format!("{} x {}", v.nrows(), v.ncols()),
                );
            }
        }
        let t = self.readout.target;
        if t.nrows() != m || t.ncols() != n {
            return shape(
                "targets",
                format!("{m} x {n}"),
                format!("{} x {}", t.nrows(), t.ncols()),
            );
        }
        if self.readout.terms.is_empty() {
            return Err(Error::numerical(
                self.name,
                "a readout needs at least one term",
            ));
        }
        for (c, w) in &self.readout.terms {
            if let Channel::D1(k) = c
                && *k >= self.dirs.len()
            {
                return Err(Error::numerical(
                    self.name,
                    format!("readout reads direction {k} of {}", self.dirs.len()),
                ));
            }
            if !w.is_finite() {
                return Err(Error::numerical(
                    self.name,
                    "readout coefficient not finite",
                ));
            }
        }
        if !(self.weight.is_finite() && self.weight > 0.0) {
            return Err(Error::numerical(
                self.name,
                format!("set weight must be finite and > 0, got {}", self.weight),
            ));
        }
        if let Some(o) = self.omega_rows
            && !(o.floor.is_finite() && o.floor >= 0.0 && o.deriv.is_finite() && o.deriv >= 0.0)
        {
            return Err(Error::numerical(
                self.name,
                "Omega floor and factor must be >= 0",
            ));
        }
        Ok(())
    }
}
