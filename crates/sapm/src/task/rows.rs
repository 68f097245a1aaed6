//! What the penalty engine trains on: a task's sets of points, each with
//! its channels and the rows it adds to every layer's weight step.
//!
//! A **set** is a group of points that share a loss term: the samples of a
//! regression, the interior collocation points of a PDE, its boundary
//! points. Every set carries, per hidden layer and point, one auxiliary per
//! **channel**: the value channel `a_l ~ z_l` always, and one
//! first-derivative channel `d_{l,k} ~ dz_l/dv_k` per input direction `v_k`
//! the set's readout needs (none for regression and Dirichlet data; the
//! direction `v = J_e c` of a first-order operator `c . grad u`; the
//! coordinate directions of second-order operators), and one
//! second-derivative channel `e_{l,km} ~ d^2 z_l / dv_k dv_m` per pair of
//! directions a second-order readout needs. Each channel's layer input is
//! linear in the layer's weights, so every weight step stays one stacked
//! least-squares problem:
//!
//! ```text
//! value        P_0 = [x; 1]        P_{l+1} = [s(a_l); 1]                rows a_l   ~ W~_l P_l
//! derivative   Q_0 = [v_k; 0]      Q_{l+1} = [s'(a_l) (.) d_{l,k}; 0]   rows d_l,k ~ W~_l Q_l,k
//! second       R_0 = [0; 0]        R_{l+1} = [s''(a_l) d_{l,k} d_{l,m}
//!                                             + s'(a_l) e_{l,km}; 0]    rows e_l,km ~ W~_l R_l,km
//! ```
//!
//! (the input's second derivative along straight directions is zero, so
//! the first layer's second-derivative rows are `e_{0,km} ~ 0`).
//!
//! The output layer has one row per point: the **readout**, a fixed
//! combination of channels, `sum_c coef_c (W~_L P_{L,c}) -> target`
//! (regression: the value channel -> `y`; a first-order PDE: the derivative
//! channel -> `f`; a Dirichlet boundary: the value channel -> `g`; a
//! second-order PDE: `sum A_km e + c_k d_k + r u -> f`, whose coefficients
//! may vary from point to point, [`Readout::scales`]).
//!
//! Loss: `J = sum_s (alpha_s / N_s) sum_l omega_l R_{l,s}`, where `R_{l,s}`
//! sums the squared residuals of set `s`'s rows at layer `l`; value rows of
//! hidden layers of a set with [`RowSet::omega_rows`] carry the per-point
//! weights `Omega^2_{l,n} = floor + deriv sum_{j >= l} (sum_k |d_{j,k,n}|^2 +
//! sum_km (|d_{j,k,n}| |d_{j,m,n}| + |e_{j,km,n}|)^2)` (an error in `a_l`
//! reaches a first-derivative readout only through `s''(a_l) d_l`, a
//! second-derivative one through `s'''(a_l) d_k d_m + s''(a_l) e_km`, so its
//! effect scales with the derivative magnitudes; docs/method.md).

use crate::error::{Error, Result};
use faer::MatRef;

/// A channel of a set: which quantity of the network an auxiliary tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Pre-activation values `z_l`.
    Value,
    /// Directional derivative `dz_l / dv_k` along the set's `k`-th direction.
    D1(usize),
    /// Second derivative `d^2 z_l / dv_k dv_m` along directions `k <= m`
    /// (a pair of [`RowSet::pairs`]).
    D2(usize, usize),
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
    /// `(channel, coefficient)` terms.
    pub terms: Vec<(Channel, f64)>,
    /// Per-point factors of the terms (`1 x N` each, one per term, `None`:
    /// 1), or empty when every coefficient is constant: term `t` at point
    /// `n` reads its channel times `terms[t].1 * scales[t][n]`.
    pub scales: Vec<Option<MatRef<'a, f64>>>,
    /// Targets, `m x N`.
    pub target: MatRef<'a, f64>,
}

impl<'a> Readout<'a> {
    /// The network's values against `target` (regression, Dirichlet data).
    pub fn value(target: MatRef<'a, f64>) -> Self {
        Readout {
            terms: vec![(Channel::Value, 1.0)],
            scales: Vec::new(),
            target,
        }
    }

    /// The derivative along direction `k` against `target` (first-order PDE rows).
    pub fn derivative(k: usize, target: MatRef<'a, f64>) -> Self {
        Readout {
            terms: vec![(Channel::D1(k), 1.0)],
            scales: Vec::new(),
            target,
        }
    }

    /// The single channel read with coefficient 1, if that is all the readout is.
    pub(crate) fn plain(&self) -> Option<Channel> {
        if self.scales.iter().any(Option::is_some) {
            return None;
        }
        match self.terms.as_slice() {
            [(c, w)] if *w == 1.0 => Some(*c),
            _ => None,
        }
    }

    /// The largest `|coefficient|` of `c` over the points (0 when absent).
    pub(crate) fn coef_max(&self, c: Channel) -> f64 {
        let n = self.target.ncols();
        (0..n.max(1))
            .map(|j| {
                self.terms
                    .iter()
                    .enumerate()
                    .filter(|(_, (t, _))| *t == c)
                    .map(|(t, _)| self.coef_at(t, j.min(n.saturating_sub(1))))
                    .sum::<f64>()
                    .abs()
            })
            .fold(0.0, f64::max)
    }

    /// Coefficient of term `t` at point `j`.
    pub fn coef_at(&self, t: usize, j: usize) -> f64 {
        let s = match self.scales.get(t) {
            Some(Some(m)) if m.ncols() > 0 => m[(0, j)],
            _ => 1.0,
        };
        self.terms[t].1 * s
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
    /// Pairs `(k, m)`, `k <= m`, of directions with a second-derivative channel.
    pub pairs: Vec<(usize, usize)>,
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
            pairs: Vec::new(),
            readout: Readout::value(y),
            weight: 1.0,
            omega_rows: None,
        }
    }

    /// Points of the set.
    pub fn n(&self) -> usize {
        self.x.ncols()
    }

    /// Channels: value first, then one per direction, then one per pair.
    pub fn channels(&self) -> usize {
        1 + self.dirs.len() + self.pairs.len()
    }

    /// Index of channel `c` among the set's channels (value 0, `D1(k)` at
    /// `1 + k`, `D2` after the directions in the order of `pairs`).
    pub fn channel_index(&self, c: Channel) -> Option<usize> {
        match c {
            Channel::Value => Some(0),
            Channel::D1(k) => (k < self.dirs.len()).then_some(1 + k),
            Channel::D2(k, m) => self
                .pairs
                .iter()
                .position(|&p| p == (k, m))
                .map(|t| 1 + self.dirs.len() + t),
        }
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
        for &(k, m) in &self.pairs {
            if k > m || m >= self.dirs.len() {
                return Err(Error::numerical(
                    self.name,
                    format!("pair ({k}, {m}) of {} directions", self.dirs.len()),
                ));
            }
        }
        let sc = &self.readout.scales;
        if !sc.is_empty() && sc.len() != self.readout.terms.len() {
            return shape(
                "readout scales",
                format!("{}", self.readout.terms.len()),
                format!("{}", sc.len()),
            );
        }
        for s in sc.iter().flatten() {
            if s.nrows() != 1 || s.ncols() != n {
                return shape(
                    "readout scales",
                    format!("1 x {n}"),
                    format!("{} x {}", s.nrows(), s.ncols()),
                );
            }
            if (0..n).any(|j| !s[(0, j)].is_finite()) {
                return Err(Error::numerical(self.name, "readout scale not finite"));
            }
        }
        for (c, w) in &self.readout.terms {
            if self.channel_index(*c).is_none() {
                return Err(Error::numerical(
                    self.name,
                    format!(
                        "readout reads {c:?}, not a channel of {} directions and pairs {:?}",
                        self.dirs.len(),
                        self.pairs
                    ),
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
