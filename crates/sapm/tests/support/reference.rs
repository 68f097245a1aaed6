//! The straightforward PM/SAPM trainer, kept as the reference the optimised
//! `sapm::engine::PenaltyTrainer` is tested against (to 1e-10 relative on a
//! fixed seed, `tests/optimised_matches_reference.rs`) and benchmarked
//! against. It stores `P_l`, `E_l` and a gradient for every layer and sample,
//! plus a trial copy of the auxiliaries, `P` and `E`, and builds the full
//! stacked system of every weight step: simple, and several times the
//! memory of the optimised path. Not for production runs.

use faer::{Mat, MatRef};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sapm::engine::loss::{AuxVars, PenaltyWorkspace, Weighting};
use sapm::engine::{AuxInit, AuxOrder, PenaltyConfig, PenaltyTrainer, SweepOrder, capped_solve};
use sapm::error::{Error, Result};
use sapm::linalg::{LayerSystem, LocalReducer, Reducer, Regularization, solve_layer};
use sapm::net::Network;
use sapm::optim::{StepOutcome, Trainer};
use sapm::record::TrainerStats;

const ARMIJO_C: f64 = 1e-4;
const MAX_HALVINGS: usize = 50;

/// The straightforward PM/SAPM trainer: full-size `P`, `E`, a trial copy of
/// the auxiliaries and of both, and one stacked least-squares problem per
/// weight step. Same algorithm and results (to round-off) as
/// `sapm::engine::PenaltyTrainer`.
pub struct ReferencePenaltyTrainer<'a> {
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

impl<'a> ReferencePenaltyTrainer<'a> {
    /// A trainer on inputs `x` (`d x N`) and targets `y` (`m x N`).
    pub fn new(
        cfg: PenaltyConfig,
        weighting: Weighting,
        x: MatRef<'a, f64>,
        y: MatRef<'a, f64>,
        seed: u64,
    ) -> Self {
        ReferencePenaltyTrainer {
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

    fn weight_step(&mut self, net: &mut Network, l: usize) -> Result<()> {
        let depth = net.depth();
        let norms = net.weight_norms_sq();
        let omega = self.weighting.omega(&norms);
        let lambda_c = self.weighting.coupled_lambda(
            self.cfg.omega_mode,
            l,
            &norms,
            &self.ws.as_ref().expect("started").r,
            omega[l],
        );
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
            let (wc, fb) = capped_solve(g.as_ref(), r.as_ref(), &reg, cap)?;
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

impl Trainer for ReferencePenaltyTrainer<'_> {
    fn name(&self) -> &str {
        self.weighting.method_name()
    }

    fn start(&mut self, net: &Network) -> Result<()> {
        PenaltyTrainer::check_network(net)?;
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
            ..StepOutcome::default()
        })
    }

    fn aux_loss(&self) -> Option<f64> {
        Some(self.objective)
    }

    fn stats(&self) -> TrainerStats {
        self.stats.clone()
    }
}
