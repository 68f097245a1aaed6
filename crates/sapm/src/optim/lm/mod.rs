//! `lm` and `varpro`: Levenberg-Marquardt on the residual vector of a
//! least-squares task (design note gauss-newton.md, sections 1, 3 and 4).
//!
//! One iteration: residuals `r` and the Jacobian `J` at the current point,
//! the damped normal equations in the cheaper space ([`normal`]), then trial
//! steps until one decreases the loss: the gain ratio
//! `rho = (f - f_new) / (f - |r + J delta|^2)` accepts (`rho > 0`) and
//! updates `lambda` by Nielsen's rule, or rejects and raises `lambda`
//! (`lambda *= nu`, `nu *= 2`), reusing `J` and its Gram matrix. So every
//! iteration either lowers the loss or reports convergence (no decrease is
//! possible at machine precision). With `lm.line_search` the step is the
//! Gauss-Newton direction with tiny damping and the best length on the grid
//! `1, 1/2, ..., 2^-k` (the energy natural gradient recipe for PINNs).

pub mod dense;
pub mod factored;
pub mod model;
pub mod normal;
pub(crate) mod step;
pub mod varpro;

pub use model::{LmModel, Plain, Residuals};
pub use normal::LmSolve;
pub use varpro::VarPro;

use super::{StepOutcome, Trainer, TrainerStats};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Error, Result};
use crate::linalg::{SharedReducer, reduce_or_nan};
use crate::net::Network;
use crate::objective::LeastSquares;
use crate::task::khatri_rao::KhatriRao;
use normal::Normal;
use serde::{Deserialize, Serialize};

/// `[lm]`: Levenberg-Marquardt, VarPro and the line-search (ENGD) variant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmConfig {
    /// `auto` (dual when residuals < parameters), `dual` or `primal`.
    pub solve: LmSolve,
    /// Initial `lambda` relative to the largest diagonal entry of `J^T J` (> 0).
    pub lambda_init: f64,
    /// Floor of `lambda` relative to the largest diagonal entry of the
    /// damped Gram matrix (>= 0); never below `10 n eps`, which keeps the
    /// Cholesky factorisation stable.
    pub lambda_min: f64,
    /// Trial steps per iteration before reporting convergence (>= 1).
    pub max_trials: usize,
    /// Geodesic acceleration (Transtrum & Sethna): a second-order correction
    /// from a finite-difference directional second derivative.
    pub geodesic: bool,
    /// Accept the correction `a` only when `2 |a| / |delta| <= geodesic_alpha` (> 0).
    pub geodesic_alpha: f64,
    /// Finite-difference step of the directional second derivative, relative to `delta` (> 0).
    pub geodesic_h: f64,
    /// Converged when `|grad f|_inf = 2 |J^T r|_inf` is at most this (>= 0; 0 = off).
    pub tol_grad: f64,
    /// Converged when `|delta| <= tol_step (|theta| + tol_step)` (>= 0; 0 = off).
    pub tol_step: f64,
    /// Converged when an accepted step lowers the loss by at most this fraction (>= 0; 0 = off).
    pub tol_rel: f64,
    /// ENGD: Gauss-Newton direction with damping `ls_damping` and a grid
    /// line search over `eta in {1, 1/2, ..., 2^-ls_steps}` instead of LM damping.
    pub line_search: bool,
    /// Grid points of the line search after `eta = 1` (1..=60).
    pub ls_steps: usize,
    /// Damping of the line-search variant, relative like `lambda_init` (> 0).
    pub ls_damping: f64,
    /// VarPro: ridge `mu` of the output-layer solve; the objective is then
    /// `|r|^2 + mu |W_L, b_L|^2` (>= 0). The default 1e-18 is far below any
    /// loss we reach but keeps the output weights from exploding (0 gave
    /// `|W_L|^2` 1e16-1e19 and fragile fits on sin(x^2)).
    pub varpro_ridge: f64,
    /// Refuse problems whose normal equations need more than this (GiB, > 0).
    pub max_memory_gib: f64,
}

impl Default for LmConfig {
    fn default() -> Self {
        LmConfig {
            solve: LmSolve::Auto,
            lambda_init: 1e-3,
            lambda_min: 0.0,
            max_trials: 30,
            geodesic: false,
            geodesic_alpha: 0.75,
            geodesic_h: 0.1,
            tol_grad: 0.0,
            tol_step: 0.0,
            tol_rel: 0.0,
            line_search: false,
            ls_steps: 20,
            ls_damping: 1e-10,
            varpro_ridge: 1e-18,
            max_memory_gib: 8.0,
        }
    }
}

impl LmConfig {
    /// Check every value; errors name the key.
    pub fn validate(&self) -> Result<()> {
        let pos = |k: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::config(k, format!("must be finite and > 0, got {v}")))
            }
        };
        let nonneg = |k: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    k,
                    format!("must be finite and >= 0, got {v}"),
                ))
            }
        };
        pos("lm.lambda_init", self.lambda_init)?;
        nonneg("lm.lambda_min", self.lambda_min)?;
        pos("lm.geodesic_alpha", self.geodesic_alpha)?;
        pos("lm.geodesic_h", self.geodesic_h)?;
        nonneg("lm.tol_grad", self.tol_grad)?;
        nonneg("lm.tol_step", self.tol_step)?;
        nonneg("lm.tol_rel", self.tol_rel)?;
        pos("lm.ls_damping", self.ls_damping)?;
        nonneg("lm.varpro_ridge", self.varpro_ridge)?;
        pos("lm.max_memory_gib", self.max_memory_gib)?;
        if !(1..=1000).contains(&self.max_trials) {
            return Err(Error::config(
                "lm.max_trials",
                format!("must be in [1, 1000], got {}", self.max_trials),
            ));
        }
        if !(1..=60).contains(&self.ls_steps) {
            return Err(Error::config(
                "lm.ls_steps",
                format!("must be in [1, 60], got {}", self.ls_steps),
            ));
        }
        Ok(())
    }
}

/// Counters and the last step's numbers (checkpointed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Counters {
    pub(crate) iterations: u64,
    pub(crate) rejections: u64,
    pub(crate) solves: u64,
    pub(crate) fallbacks: u64,
    pub(crate) evaluations: u64,
    pub(crate) step_norm: f64,
    pub(crate) rho: f64,
    pub(crate) eta: f64,
}

impl Counters {
    /// The five checkpointed counters, in file order.
    pub(crate) fn counts(&self) -> [u64; 5] {
        [
            self.iterations,
            self.rejections,
            self.solves,
            self.fallbacks,
            self.evaluations,
        ]
    }

    /// The summary's counters.
    pub(crate) fn stats(&self) -> TrainerStats {
        TrainerStats {
            solve_fallbacks: self.fallbacks as usize,
            solves: self.solves as usize,
            aux_rejections: 0,
            evaluations: self.evaluations as usize,
        }
    }

    /// Counters from [`Counters::counts`] and the last step norm and gain ratio.
    pub(crate) fn from_counts(c: [u64; 5], step_norm: f64, rho: f64) -> Self {
        let [iterations, rejections, solves, fallbacks, evaluations] = c;
        Counters {
            iterations,
            rejections,
            solves,
            fallbacks,
            evaluations,
            step_norm,
            rho,
            ..Counters::default()
        }
    }
}

/// Buffers of one problem size (not checkpointed: every step rewrites them).
pub(crate) struct Work {
    pub(crate) normal: Normal,
    pub(crate) theta: Vec<f64>,
    pub(crate) trial_theta: Vec<f64>,
    pub(crate) delta: Vec<f64>,
    pub(crate) r: Vec<f64>,
    pub(crate) r_trial: Vec<f64>,
    pub(crate) trial: Network,
    /// Multi-process runs: the reducer and this process's weight `M_local / M`.
    pub(crate) shard: Option<(SharedReducer, f64)>,
}

impl Work {
    /// The loss over every process from this process's `|r|^2`.
    pub(crate) fn total(&self, f: f64) -> f64 {
        let Some((reducer, weight)) = &self.shard else {
            return f;
        };
        let mut v = [weight * f];
        reduce_or_nan(reducer.as_ref(), &mut v);
        v[0]
    }
}

/// Levenberg-Marquardt on an [`LmModel`].
pub struct Lm<'a> {
    name: &'static str,
    pub(crate) cfg: LmConfig,
    pub(crate) model: Box<dyn LmModel + 'a>,
    /// Damping; NaN until the first linearisation sets it.
    pub(crate) lambda: f64,
    pub(crate) nu: f64,
    prepared: bool,
    pub(crate) c: Counters,
    pub(crate) work: Option<Work>,
    /// Seconds in residual evaluations of trial points.
    pub(crate) seconds_trials: f64,
    /// Multi-process runs: every sum over residuals goes through it.
    reducer: Option<SharedReducer>,
    /// Multi-process runs whose residuals are already scaled by the counts
    /// of every process (PINN shards): their sums need no weight.
    globally_scaled: bool,
}

impl<'a> Lm<'a> {
    /// LM (`name` = `lm`) or VarPro (`varpro`) on `model`.
    pub fn new(name: &'static str, model: Box<dyn LmModel + 'a>, cfg: LmConfig) -> Self {
        Lm {
            name,
            cfg,
            model,
            lambda: f64::NAN,
            nu: 2.0,
            prepared: false,
            c: Counters::default(),
            work: None,
            seconds_trials: 0.0,
            reducer: None,
            globally_scaled: false,
        }
    }

    /// Data-parallel LM: the model holds this process's residuals, and the
    /// primal system, the loss and the geodesic correction are summed over
    /// the processes of `reducer`, so every process takes the same steps.
    /// The dual system needs every residual in one place: `lm.solve =
    /// "dual"` is refused, `auto` takes the primal form.
    pub fn distributed(mut self, reducer: SharedReducer) -> Self {
        if reducer.size() > 1 {
            self.reducer = Some(reducer);
        }
        self
    }

    /// [`Lm::distributed`] for residuals that are already scaled by the
    /// counts of every process (a PINN shard divides by the whole interior
    /// and boundary counts), so the processes' sums are added unweighted.
    pub fn distributed_scaled(mut self, reducer: SharedReducer) -> Self {
        self = self.distributed(reducer);
        self.globally_scaled = true;
        self
    }

    /// Plain LM on a residual objective with Khatri-Rao factors.
    pub fn plain(ls: Box<dyn KhatriRao + 'a>, cfg: LmConfig) -> Self {
        Lm::new("lm", Box::new(Plain::new(Residuals::Factored(ls))), cfg)
    }

    /// Plain LM on any residual objective (Jacobian rows only).
    pub fn plain_rows(ls: Box<dyn LeastSquares + 'a>, cfg: LmConfig) -> Self {
        Lm::new("lm", Box::new(Plain::new(Residuals::Rows(ls))), cfg)
    }

    /// VarPro on a residual objective that is affine in the output layer,
    /// for networks shaped like `net`.
    pub fn varpro(ls: Box<dyn KhatriRao + 'a>, net: &Network, cfg: LmConfig) -> Self {
        let model = VarPro::new(Residuals::Factored(ls), net, cfg.varpro_ridge);
        Lm::new("varpro", Box::new(model), cfg)
    }

    /// VarPro on any residual objective affine in the output layer
    /// (Jacobian rows only: second-order PINNs).
    pub fn varpro_rows(ls: Box<dyn LeastSquares + 'a>, net: &Network, cfg: LmConfig) -> Self {
        let model = VarPro::new(Residuals::Rows(ls), net, cfg.varpro_ridge);
        Lm::new("varpro", Box::new(model), cfg)
    }

    /// Whether the dual (`M x M`) system is solved; `None` before start.
    pub fn is_dual(&self) -> Option<bool> {
        self.work.as_ref().map(|w| w.normal.is_dual())
    }

    /// Seconds so far in (linearisation: Jacobian and Gram matrix,
    /// factorisations and solves, trial evaluations).
    pub fn phase_seconds(&self) -> (f64, f64, f64) {
        self.work.as_ref().map_or((0.0, 0.0, 0.0), |w| {
            (
                w.normal.seconds_linearize,
                w.normal.seconds_solve,
                self.seconds_trials,
            )
        })
    }

    /// The current damping (NaN before the first iteration).
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// This process's share `M_local / M` of the residuals (one collective;
    /// 1 for globally scaled residuals); refuses the dual form and forces
    /// the primal one.
    fn shard_weight(&mut self, m: usize) -> Result<f64> {
        let Some(r) = &self.reducer else {
            return Ok(1.0);
        };
        if self.name != "lm" {
            return Err(Error::config(
                "method",
                format!("{} does not run on several processes", self.name),
            ));
        }
        match self.cfg.solve {
            LmSolve::Dual => {
                return Err(Error::config(
                    "lm.solve",
                    "\"dual\" needs every residual in one process; several processes solve the primal system (\"auto\" or \"primal\")",
                ));
            }
            LmSolve::Auto | LmSolve::Primal => self.cfg.solve = LmSolve::Primal,
        }
        if self.globally_scaled {
            return Ok(1.0);
        }
        let mut total = [m as f64];
        reduce_or_nan(r.as_ref(), &mut total);
        Ok(m as f64 / total[0])
    }
}

/// Choose the space and check the memory the normal equations need
/// (`kr_cols`: Khatri-Rao factor columns per row, 0 without factors).
fn plan(cfg: &LmConfig, m: usize, p: usize, k: usize, kr_cols: usize) -> Result<bool> {
    if m == 0 || p == 0 {
        return Err(Error::config(
            "method",
            format!("Levenberg-Marquardt needs residuals and parameters, got {m} and {p}"),
        ));
    }
    let dual = match cfg.solve {
        LmSolve::Auto => m < p,
        LmSolve::Dual => true,
        LmSolve::Primal => false,
    };
    let gib = normal::bytes_needed(dual, m, p, k, kr_cols) / (1u64 << 30) as f64;
    if gib > cfg.max_memory_gib {
        let other = normal::bytes_needed(!dual, m, p, k, kr_cols) / (1u64 << 30) as f64;
        return Err(Error::config(
            "lm.max_memory_gib",
            format!(
                "the {} normal equations of {m} residuals and {p} parameters need {gib:.1} GiB (limit {}; the {} form would need {other:.1} GiB)",
                if dual { "dual" } else { "primal" },
                cfg.max_memory_gib,
                if dual { "primal" } else { "dual" },
            ),
        ));
    }
    Ok(dual)
}

impl Trainer for Lm<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn start(&mut self, net: &Network) -> Result<()> {
        let m = self.model.residual_count();
        let p = self.model.dim(net);
        let k = if self.name == "varpro" {
            VarPro::output_params(net) * (net.depth() >= 2) as usize
        } else {
            0
        };
        let factored = self.model.factored();
        // Factor columns per row: at most two terms of (m_l + m_{l-1} + 1) per layer.
        let kr_cols = if factored {
            net.widths().windows(2).map(|w| 2 * (w[0] + w[1] + 1)).sum()
        } else {
            0
        };
        let shard = match &self.reducer {
            None => None,
            Some(r) => Some((r.clone(), self.shard_weight(m)?)),
        };
        let dual = plan(&self.cfg, m, p, k, kr_cols)?;
        let mut normal = Normal::new(dual, factored, m, p);
        if let Some((r, weight)) = &shard {
            normal = normal.distributed(r.clone(), *weight);
        }
        self.work = Some(Work {
            normal,
            theta: vec![0.0; p],
            trial_theta: vec![0.0; p],
            delta: vec![0.0; p],
            r: vec![0.0; m],
            r_trial: vec![0.0; m],
            trial: net.clone(),
            shard,
        });
        self.lambda = f64::NAN;
        self.nu = 2.0;
        self.prepared = false;
        self.c = Counters::default();
        Ok(())
    }

    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        if !self.prepared {
            self.model.prepare(net)?;
            self.prepared = true;
        }
        self.iterate(net)
    }

    fn stats(&self) -> TrainerStats {
        self.c.stats()
    }

    fn progress(&self) -> Vec<(&'static str, f64)> {
        if self.cfg.line_search {
            vec![("eta", self.c.eta), ("step", self.c.step_norm)]
        } else {
            vec![("lambda", self.lambda), ("step", self.c.step_norm)]
        }
    }

    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        w.text("method", self.name);
        step::save_damping(w, self.lambda, self.nu);
        w.flag("prepared", self.prepared);
        let c = &self.c;
        step::save_counts(w, c.counts(), vec![c.step_norm, c.rho, c.eta]);
        Ok(())
    }

    fn load_state(&mut self, r: &mut StateReader, net: &Network) -> Result<()> {
        r.expect_method(self.name)?;
        self.start(net)?;
        (self.lambda, self.nu) = step::load_damping(r)?;
        self.prepared = r.flag("prepared")?;
        let (counts, last) = step::load_counts(r, 3)?;
        self.c = Counters::from_counts(counts, last[0], last[1]);
        self.c.eta = last[2];
        if self.prepared {
            self.model.restore(net)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    /// `auto` solves in the dual space only when there are fewer residuals
    /// than parameters; `dual` and `primal` force the space.
    #[test]
    fn auto_picks_the_dual_space_only_for_fewer_residuals_than_parameters() {
        let cfg = |solve| LmConfig {
            solve,
            ..LmConfig::default()
        };
        let auto = cfg(LmSolve::Auto);
        assert!(plan(&auto, 3, 4, 1, 0).unwrap());
        assert!(!plan(&auto, 4, 4, 1, 0).unwrap());
        assert!(!plan(&auto, 5, 4, 1, 0).unwrap());
        assert!(plan(&cfg(LmSolve::Dual), 5, 4, 1, 0).unwrap());
        assert!(!plan(&cfg(LmSolve::Primal), 3, 4, 1, 0).unwrap());
        let e = plan(&auto, 0, 4, 1, 0).unwrap_err().to_string();
        assert!(e.contains("needs residuals and parameters"), "{e}");
    }
}
