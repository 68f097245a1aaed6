//! A PDE problem with its sampled points: what the pipeline trains on, the
//! metrics it records and the rows the penalty engine sees.

use super::loss::{PinnObjective, pinn_loss};
use super::{PdeConfig, PinnData, Problem};
use crate::checkpoint::fingerprint_mats;
use crate::driver::Metrics;
use crate::error::Result;
use crate::net::Network;
use crate::task::rows::{OmegaRows, Readout, RowSet};

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
    /// with a value channel read out against `g`, weight `beta_bc`.
    pub fn row_sets(&self) -> Vec<RowSet<'_>> {
        let d = &self.data;
        vec![
            RowSet {
                name: "interior",
                x: d.e_int.as_ref(),
                dirs: vec![d.v_int.as_ref()],
                readout: Readout {
                    terms: self.problem.op.readout_terms(),
                    target: d.f_int.as_ref(),
                },
                weight: self.cfg.alpha,
                omega_rows: Some(OmegaRows {
                    floor: self.cfg.omega_floor,
                    deriv: self.cfg.omega_deriv,
                }),
            },
            RowSet {
                name: "boundary",
                x: d.e_bc.as_ref(),
                dirs: Vec::new(),
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
}

impl Metrics for PinnMetrics<'_> {
    fn names(&self) -> Vec<String> {
        ["pinn_loss", "pde_loss", "bc_loss", "rel_l2"]
            .map(String::from)
            .to_vec()
    }
    fn eval(&self, net: &Network) -> Vec<f64> {
        let l = pinn_loss(net, self.data, self.alpha, self.beta_bc);
        vec![l.total, l.pde, l.bc, rel_l2(net, self.data, false)]
    }
}
