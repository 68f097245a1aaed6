//! A PDE problem with its sampled points: what the pipeline trains on, the
//! metrics it records and the rows the penalty engine sees.

use super::loss::{PinnLoss, PinnObjective, pinn_loss};
use super::second_sampling::PointOp;
use super::{PdeConfig, PinnData, Problem};
use crate::checkpoint::fingerprint_mats;
use crate::driver::Metrics;
use crate::error::Result;
use crate::linalg::{SharedReducer, reduce_or_nan};
use crate::net::Network;
use crate::task::rows::{Channel, OmegaRows, Readout, RowSet};
use faer::{Mat, MatRef};

/// A PDE problem, its settings and its points.
#[derive(Debug, Clone)]
pub struct PdeTask {
    /// The problem (possibly a curriculum stage or a time window).
    pub problem: Problem,
    /// Point counts, weights, `Omega` settings.
    pub cfg: PdeConfig,
    /// The sampled points.
    pub data: PinnData,
}

impl PdeTask {
    /// Sample `problem`'s points as `cfg` says, from `seed`.
    pub fn new(problem: Problem, cfg: PdeConfig, seed: u64) -> Result<Self> {
        let data = PinnData::sample(&problem, &cfg, seed)?;
        Ok(PdeTask { problem, cfg, data })
    }

    /// The standard PINN loss `alpha mean |L u - f|^2 + beta_bc mean |u - g|^2`.
    pub fn objective(&self, net: &Network) -> PinnObjective<'_> {
        PinnObjective::new(net, &self.data, self.cfg.alpha, self.cfg.beta_bc)
    }

    /// The row sets of the penalty engine: interior points with a value
    /// channel and the operator's derivative channels, read out as the
    /// operator against `f`, weight `alpha`, `Omega^2` rows; boundary points
    /// with a value channel read out against `g`, weight `beta_bc`. A
    /// second-order problem's sets carry its [`PointOp`]s: the coordinate
    /// directions and pairs the operator reads, read out with the
    /// operator's (possibly per-point) coefficients.
    pub fn row_sets(&self) -> Vec<RowSet<'_>> {
        let d = &self.data;
        let omega = OmegaRows {
            floor: self.cfg.omega_floor,
            deriv: self.cfg.omega_deriv,
        };
        if let Some(rows) = &d.second {
            return vec![
                second_set(
                    "interior",
                    &d.e_int,
                    &rows.interior,
                    &d.f_int,
                    self.cfg.alpha,
                    omega,
                ),
                second_set(
                    "boundary",
                    &d.e_bc,
                    &rows.boundary,
                    &d.g_bc,
                    self.cfg.beta_bc,
                    omega,
                ),
            ];
        }
        vec![
            RowSet {
                name: "interior",
                x: d.e_int.as_ref(),
                dirs: vec![d.v_int.as_ref()],
                pairs: Vec::new(),
                readout: Readout {
                    terms: self.problem.op.readout_terms(),
                    scales: Vec::new(),
                    target: d.f_int.as_ref(),
                },
                weight: self.cfg.alpha,
                omega_rows: Some(omega),
            },
            RowSet {
                name: "boundary",
                x: d.e_bc.as_ref(),
                dirs: Vec::new(),
                pairs: Vec::new(),
                readout: Readout::value(d.g_bc.as_ref()),
                weight: self.cfg.beta_bc,
                omega_rows: None,
            },
        ]
    }

    /// Fingerprint of the points (interior, boundary and test grid, with
    /// their targets), so a checkpoint is not resumed on other points.
    pub fn fingerprint(&self) -> u64 {
        let d = &self.data;
        let mut mats = vec![
            d.e_int.as_ref(),
            d.v_int.as_ref(),
            d.f_int.as_ref(),
            d.e_bc.as_ref(),
            d.g_bc.as_ref(),
            d.e_test.as_ref(),
        ];
        if let Some(u) = &d.u_test {
            mats.push(u.as_ref());
        }
        fingerprint_mats(mats)
    }
}

/// A second-order row set: points `x`, the operator `op` against `target`
/// with weight `weight`, `Omega^2` rows when it has derivative channels.
fn second_set<'a>(
    name: &'static str,
    x: &'a Mat<f64>,
    op: &'a PointOp,
    target: &'a Mat<f64>,
    weight: f64,
    omega: OmegaRows,
) -> RowSet<'a> {
    RowSet {
        name,
        x: x.as_ref(),
        dirs: op.dirs.iter().map(|v| v.as_ref()).collect(),
        pairs: op.pairs.clone(),
        readout: point_readout(op, target.as_ref()),
        weight,
        omega_rows: (!op.dirs.is_empty()).then_some(omega),
    }
}

/// The readout of a second-order row set: `cu u + sum_k cd_k d_k + sum_km
/// ch_km e_km` against `target`; a coefficient equal at every point is a
/// constant (no per-point factor), so constant-coefficient operators read
/// out as cheaply as first-order ones.
fn point_readout<'a>(op: &'a PointOp, target: MatRef<'a, f64>) -> Readout<'a> {
    let mut terms = Vec::new();
    let mut scales = Vec::new();
    let mut add = |c: Channel, m: &'a Mat<f64>| {
        let first = if m.ncols() > 0 { m[(0, 0)] } else { 0.0 };
        if (0..m.ncols()).all(|j| m[(0, j)] == first) {
            if first != 0.0 {
                terms.push((c, first));
                scales.push(None);
            }
        } else {
            terms.push((c, 1.0));
            scales.push(Some(m.as_ref()));
        }
    };
    if let Some(cu) = &op.cu {
        add(Channel::Value, cu);
    }
    for (k, cd) in op.cd.iter().enumerate() {
        add(Channel::D1(k), cd);
    }
    for (&(k, m), ch) in op.pairs.iter().zip(&op.ch) {
        add(Channel::D2(k, m), ch);
    }
    if terms.is_empty() {
        // Every coefficient zero: the rows read `0 u`.
        terms.push((Channel::Value, 0.0));
        scales.push(None);
    }
    if scales.iter().all(Option::is_none) {
        scales.clear();
    }
    Readout {
        terms,
        scales,
        target,
    }
}

/// `|u - u_exact| / |u_exact|` on the test grid (NaN without an exact solution);
/// `f32 = true` evaluates the network in single precision.
pub fn rel_l2(net: &Network, data: &PinnData, f32: bool) -> f64 {
    let Some(u) = &data.u_test else {
        return f64::NAN;
    };
    let pred = if f32 {
        net.predict_f32(data.e_test.as_ref())
    } else {
        match net.predict(data.e_test.as_ref()) {
            Ok(p) => p,
            Err(_) => return f64::NAN,
        }
    };
    ((pred - u).squared_norm_l2() / u.squared_norm_l2()).sqrt()
}

/// History columns of a PINN run: `pinn_loss`, `pde_loss`, `bc_loss`,
/// `rel_l2` (PM/SAPM add `derivative_gap` as a trainer probe).
pub struct PinnMetrics<'a> {
    /// The points.
    pub data: &'a PinnData,
    /// PDE weight.
    pub alpha: f64,
    /// Boundary weight.
    pub beta_bc: f64,
    /// Multi-process runs: `data` is this process's shard.
    pub shard: Option<SharedReducer>,
}

impl Metrics for PinnMetrics<'_> {
    fn names(&self) -> Vec<String> {
        ["pinn_loss", "pde_loss", "bc_loss", "rel_l2"]
            .map(String::from)
            .to_vec()
    }
    fn eval(&self, net: &Network) -> Vec<f64> {
        let mut l = pinn_loss(net, self.data, self.alpha, self.beta_bc);
        if let Some(r) = &self.shard {
            let mut parts = [l.pde, l.bc];
            reduce_or_nan(r.as_ref(), &mut parts);
            l = PinnLoss::of(parts[0], parts[1], self.alpha, self.beta_bc);
        }
        vec![l.total, l.pde, l.bc, rel_l2(net, self.data, false)]
    }
}
