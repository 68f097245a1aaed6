//! `pm` and `sapm`: alternating minimisation over weights and auxiliaries.
//!
//! One outer iteration:
//! 1. **Weight sweep** over the layers (backward by default). Each layer's
//!    `[W_l, b_l]` solves a linear least-squares problem with targets `A_l`
//!    (or `Y`). With `omega_mode = "coupled"` (default) SAPM solves the *exact*
//!    block minimisation of `J_SAPM`: the weights `omega_k`, `k < l`, contain
//!    `|W_l|_F^2`, which turns the block problem into ridge regression with
//!    `lambda_l = sum_{k<l} omega_k R_k / omega_{l-1}` (design note 4b), so a
//!    weight step never increases `J_SAPM`. `"frozen"` ignores that coupling.
//!    Optional extras: relative ridge, proximal term, per-layer norm caps.
//! 2. **Auxiliary steps**: gradient steps on all `A_l`, each layer's gradient
//!    scaled by its Lipschitz bound `(2/N)(omega_l + omega_{l+1} K^2 |W_{l+1}|_F^2)`
//!    (omega spans many decades, so one global step cannot work), with an
//!    Armijo backtracking on the global step `tau`.
//!
//! Guarantee: with `omega_mode = "coupled"`, no caps or caps that the current
//! weights satisfy, and `backtrack = true`, every outer iteration is a descent
//! step on `J_SAPM` (up to round-off), so by the consistency bound
//! `J_LS <= L J_SAPM` (tanh) the true loss is controlled too.

use super::{StepOutcome, Trainer, TrainerStats};
use crate::error::{Error, Result};
use crate::linalg::{LayerSystem, LocalReducer, Reducer, Regularization, SolveMethod, solve_layer};
use crate::net::Network;
use crate::penalty::{AuxVars, PenaltyWorkspace, Weighting};
use faer::{Mat, MatRef};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How SAPM's weight step treats `omega`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OmegaMode {
    /// Exact block minimisation: adaptive ridge from the layers below (descent).
    #[default]
    Coupled,
    /// `omega` held fixed during the weight step (plain least squares per layer).
    Frozen,
}

/// Order of the weight sweep over layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SweepOrder {
    /// Output layer first.
    #[default]
    Backward,
    /// Input layer first.
    Forward,
}

/// How auxiliary steps visit the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuxOrder {
    /// All layers at once with one backtracked step.
    #[default]
    Jacobi,
    /// One layer at a time (in sweep order), each backtracked.
    GaussSeidel,
}

/// How auxiliaries start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuxInit {
    /// The forward pass of the initial network (`J_SAPM = J_LS` at iteration 0).
    #[default]
    Forward,
    /// Independent `U(-1, 1)` entries (drives SAPM's omega towards 0; for ablations).
    Random,
}

/// Knobs of the PM and SAPM trainers. See the README's table for defaults and ranges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PenaltyConfig {
    /// PM's constant penalty `beta > 0` (unused by SAPM).
    pub beta: f64,
    /// SAPM weight step: `coupled` (exact block minimisation) or `frozen`.
    pub omega_mode: OmegaMode,
    /// Weight-step factorisation: `qr` (stacked system) or `cholesky` (normal equations).
    pub solver: SolveMethod,
    /// Extra ridge on `W_l`, relative to `trace(P P^T) / k` (>= 0).
    pub ridge: f64,
    /// Proximal weight `rho` on `|W~ - W~_old|^2`, relative to `trace(P P^T) / k` (>= 0).
    pub prox: f64,
    /// Largest auxiliary step, in units of the per-layer Lipschitz bound (> 0).
    pub tau: f64,
    /// Auxiliary gradient steps per outer iteration (>= 1).
    pub aux_steps: usize,
    /// Armijo backtracking on the auxiliary step.
    pub backtrack: bool,
    /// Auxiliary update order.
    pub aux_order: AuxOrder,
    /// Weight sweep order.
    pub sweep: SweepOrder,
    /// Cap on `|W_L|_F^2` of the output layer (0 = none).
    pub cap_output: f64,
    /// Cap on `|W_l|_F^2` of every hidden layer (0 = none).
    pub cap_hidden: f64,
    /// Auxiliary initialisation.
    pub aux_init: AuxInit,
    /// Adam steps before switching to PM/SAPM (0 = cold start).
    pub warm_start: usize,
    /// Samples per block for sample-parallel kernels.
    pub block: usize,
}

impl Default for PenaltyConfig {
    fn default() -> Self {
        PenaltyConfig {
            beta: 1.0,
            omega_mode: OmegaMode::Coupled,
            solver: SolveMethod::Qr,
            ridge: 0.0,
            prox: 0.0,
            tau: 1.0,
            aux_steps: 1,
            backtrack: true,
            aux_order: AuxOrder::Jacobi,
            sweep: SweepOrder::Backward,
            cap_output: 0.0,
            cap_hidden: 0.0,
            aux_init: AuxInit::Forward,
            warm_start: 0,
            block: crate::loss::DEFAULT_BLOCK,
        }
    }
}

const ARMIJO_C: f64 = 1e-4;
const MAX_HALVINGS: usize = 50;

/// PM (constant penalty) or SAPM (self-adaptive weights) on regression data.
pub struct PenaltyTrainer<'a> {
    cfg: PenaltyConfig,
    weighting: Weighting,
    x: MatRef<'a, f64>,
    y: MatRef<'a, f64>,
    seed: u64,
    reducer: Box<dyn Reducer + 'a>,
    aux: Option<AuxVars>,
    trial: Option<AuxVars>,
    ws: Option<PenaltyWorkspace>,
    ws_trial: Option<PenaltyWorkspace>,
    grad: Vec<Mat<f64>>,
    tau: Vec<f64>,
    objective: f64,
    stats: TrainerStats,
}

impl<'a> PenaltyTrainer<'a> {
    /// A trainer on inputs `x` (`d x N`) and targets `y` (`m x N`).
    pub fn new(
        cfg: PenaltyConfig,
        weighting: Weighting,
        x: MatRef<'a, f64>,
        y: MatRef<'a, f64>,
        seed: u64,
    ) -> Self {
        PenaltyTrainer {
            cfg,
            weighting,
            x,
            y,
            seed,
            reducer: Box::new(LocalReducer),
            aux: None,
            trial: None,
            ws: None,
            ws_trial: None,
            grad: Vec::new(),
            tau: Vec::new(),
            objective: f64::NAN,
            stats: TrainerStats::default(),
        }
    }

    /// Use a multi-process reducer for Gram sums (forces the Cholesky path).
    pub fn with_reducer(mut self, reducer: Box<dyn Reducer + 'a>) -> Self {
        self.reducer = reducer;
        self
    }

    /// The auxiliaries (after `start`).
    pub fn aux(&self) -> Option<&AuxVars> {
        self.aux.as_ref()
    }

    fn omega(&self, net: &Network) -> Vec<f64> {
        self.weighting.omega(&net.weight_norms_sq())
    }

    /// Coupled ridge `lambda_l = sum_{k<l} R_k prod_{j>k, j!=l} n_j / omega_l`.
    fn coupled_lambda(&self, l: usize, norms: &[f64], r: &[f64], omega_l: f64) -> f64 {
        if self.cfg.omega_mode == OmegaMode::Frozen
            || !matches!(self.weighting, Weighting::SelfAdaptive)
            || l == 0
        {
            return 0.0;
        }
        let depth = norms.len();
        let mut c = 0.0;
        for (k, rk) in r.iter().enumerate().take(l) {
            let mut prod = 1.0;
            for (j, nj) in norms.iter().enumerate().take(depth).skip(k + 1) {
                if j != l {
                    prod *= nj;
                }
            }
            c += rk * prod;
        }
        if c == 0.0 {
            0.0
        } else {
            c / omega_l.max(f64::MIN_POSITIVE)
        }
    }

    fn weight_step(&mut self, net: &mut Network, l: usize) -> Result<()> {
        let depth = net.depth();
        let norms = net.weight_norms_sq();
        let omega = self.weighting.omega(&norms);
        let lambda_c =
            self.coupled_lambda(l, &norms, &self.ws.as_ref().expect("started").r, omega[l]);
        let ws = self.ws.as_mut().expect("started");
        let aux = self.aux.as_ref().expect("started");
        let target = if l + 1 < depth {
            aux.a[l].as_ref()
        } else {
            self.y
        };
        let sys = LayerSystem::single(ws.p[l].as_ref(), target);
        let k = sys.k();
        let scale = sys.gram_trace() / k as f64;
        let old = net.layer(l).to_owned();
        let reg = Regularization {
            lambda: lambda_c + self.cfg.ridge * scale,
            rho: self.cfg.prox * scale,
            center: Some(old.as_ref()),
        };
        let (mut w, info) = solve_layer(
            &sys,
            &reg,
            self.cfg.solver,
            self.cfg.block,
            self.reducer.as_ref(),
        )?;
        self.stats.solves += 1;
        self.stats.solve_fallbacks += info.fallback as usize;
        let cap = if l + 1 == depth {
            self.cfg.cap_output
        } else {
            self.cfg.cap_hidden
        };
        if cap > 0.0 && w.as_ref().subcols(0, k - 1).squared_norm_l2() > cap {
            let (g, r) = sys.normal_equations(self.cfg.block, self.reducer.as_ref())?;
            let (wc, fb) = capped_solve(g.as_ref(), r.as_ref(), &reg, cap, scale)?;
            self.stats.solve_fallbacks += fb as usize;
            w = wc;
        }
        net.layer_mut(l).copy_from(&w);
        ws.residual(net, aux, self.y, l);
        Ok(())
    }

    /// Per-layer scaled gradient direction `D_l = g_l / Lip_l`; returns `sum <g, D>`.
    fn direction(&mut self, net: &Network, omega: &[f64], layers: &[usize]) -> f64 {
        let ws = self.ws.as_ref().expect("started");
        let aux = self.aux.as_ref().expect("started");
        ws.aux_gradient(net, aux, omega, &mut self.grad);
        let n = aux.n().max(1) as f64;
        let k2 = net.activation().lipschitz().powi(2);
        let norms = net.weight_norms_sq();
        let mut slope = 0.0;
        for &l in layers {
            let lip = 2.0 / n * (omega[l] + omega[l + 1] * k2 * norms[l + 1]);
            let inv = if lip > 0.0 { 1.0 / lip } else { 0.0 };
            let g = &mut self.grad[l];
            let s = g.squared_norm_l2();
            slope += s * inv;
            *g *= faer::Scale(inv);
        }
        slope
    }

    /// One backtracked step on the hidden layers in `layers`.
    fn aux_step(&mut self, net: &Network, omega: &[f64], layers: &[usize], slot: usize) {
        let slope = self.direction(net, omega, layers);
        let j0 = self.ws.as_ref().expect("started").objective(omega);
        if slope <= 0.0 || !slope.is_finite() {
            return;
        }
        let mut tau = (self.tau[slot] * 2.0).min(self.cfg.tau);
        for _ in 0..MAX_HALVINGS {
            {
                let aux = self.aux.as_ref().expect("started");
                let trial = self.trial.as_mut().expect("started");
                for &l in layers {
                    trial.a[l].copy_from(&aux.a[l]);
                    trial.a[l] -= &self.grad[l] * faer::Scale(tau);
                }
                let wt = self.ws_trial.as_mut().expect("started");
                wt.refresh(net, trial, self.y);
                let j1 = wt.objective(omega);
                if !self.cfg.backtrack || (j1.is_finite() && j1 <= j0 - ARMIJO_C * tau * slope) {
                    std::mem::swap(&mut self.aux, &mut self.trial);
                    std::mem::swap(&mut self.ws, &mut self.ws_trial);
                    // Keep the untouched layers of the spare copy in sync.
                    let (aux, trial) = (
                        self.aux.as_ref().expect("started"),
                        self.trial.as_mut().expect("started"),
                    );
                    for &l in layers {
                        trial.a[l].copy_from(&aux.a[l]);
                    }
                    self.tau[slot] = tau;
                    return;
                }
            }
            tau *= 0.5;
        }
        self.tau[slot] = tau;
        self.stats.aux_rejections += 1;
    }
}

/// Smallest extra ridge `mu >= 0` with `|W(lambda + mu)|_F^2 <= cap`, by
/// bracketing and bisection on the normal equations.
pub(crate) fn capped_solve(
    g: MatRef<'_, f64>,
    r: MatRef<'_, f64>,
    reg: &Regularization<'_>,
    cap: f64,
    scale: f64,
) -> Result<(Mat<f64>, bool)> {
    let k = g.nrows();
    let solve = |mu: f64| -> Result<(Mat<f64>, f64, bool)> {
        let rg = Regularization {
            lambda: reg.lambda + mu,
            ..*reg
        };
        let (x, fb) = crate::linalg::solve_normal(g, r, &rg)?;
        let w = x.transpose().to_owned();
        let nrm = w.as_ref().subcols(0, k - 1).squared_norm_l2();
        Ok((w, nrm, fb))
    };
    let mut hi = scale.max(1e-300) * 1e-6;
    let mut best = solve(hi)?;
    let mut tries = 0;
    while best.1 > cap {
        hi *= 10.0;
        best = solve(hi)?;
        tries += 1;
        if tries > 80 {
            return Err(Error::numerical(
                "capped weight step",
                "could not reach the norm cap",
            ));
        }
    }
    let mut lo = 0.0;
    for _ in 0..60 {
        let mid = if lo == 0.0 {
            hi * 1e-3
        } else {
            (lo * hi).sqrt()
        };
        let cand = solve(mid)?;
        if cand.1 > cap {
            lo = mid;
        } else {
            hi = mid;
            best = cand;
        }
        if hi / lo.max(f64::MIN_POSITIVE) < 1.0 + 1e-6 {
            break;
        }
    }
    Ok((best.0, best.2))
}

impl Trainer for PenaltyTrainer<'_> {
    fn name(&self) -> &str {
        match self.weighting {
            Weighting::Constant(_) => "pm",
            Weighting::SelfAdaptive => "sapm",
        }
    }

    fn start(&mut self, net: &Network) -> Result<()> {
        if net.depth() < 2 {
            return Err(Error::config(
                "network",
                "PM/SAPM need at least one hidden layer",
            ));
        }
        if self.x.ncols() == 0 {
            return Err(Error::Data("no training samples".into()));
        }
        let mut aux = AuxVars::forward(net, self.x);
        if self.cfg.aux_init == AuxInit::Random {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xA0C5);
            for a in &mut aux.a {
                for j in 0..a.ncols() {
                    for i in 0..a.nrows() {
                        a[(i, j)] = rng.random_range(-1.0..1.0);
                    }
                }
            }
        }
        let mut ws = PenaltyWorkspace::new(net, self.x);
        ws.refresh(net, &aux, self.y);
        self.objective = ws.objective(&self.omega(net));
        self.grad = aux
            .a
            .iter()
            .map(|a| Mat::zeros(a.nrows(), a.ncols()))
            .collect();
        self.tau = vec![self.cfg.tau; net.depth()];
        self.ws_trial = Some(ws.clone());
        self.trial = Some(aux.clone());
        self.ws = Some(ws);
        self.aux = Some(aux);
        Ok(())
    }

    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        if self.aux.is_none() {
            return Err(Error::numerical(
                self.name().to_string(),
                "step before start",
            ));
        }
        let depth = net.depth();
        let order: Vec<usize> = match self.cfg.sweep {
            SweepOrder::Backward => (0..depth).rev().collect(),
            SweepOrder::Forward => (0..depth).collect(),
        };
        for &l in &order {
            self.weight_step(net, l)?;
        }
        // Weights changed: P inputs are unchanged (they depend on A only), residuals are current.
        let omega = self.omega(net);
        for _ in 0..self.cfg.aux_steps {
            match self.cfg.aux_order {
                AuxOrder::Jacobi => {
                    let all: Vec<usize> = (0..depth - 1).collect();
                    self.aux_step(net, &omega, &all, 0);
                }
                AuxOrder::GaussSeidel => {
                    for &l in order.iter().filter(|&&l| l + 1 < depth) {
                        self.aux_step(net, &omega, &[l], l);
                    }
                }
            }
        }
        self.objective = self.ws.as_ref().expect("started").objective(&omega);
        Ok(StepOutcome {
            objective: self.objective,
            converged: false,
        })
    }

    fn aux_loss(&self) -> Option<f64> {
        Some(self.objective)
    }

    fn stats(&self) -> TrainerStats {
        self.stats.clone()
    }
}
