//! `pm` and `sapm` on any task: alternating minimisation over the weights and
//! the auxiliaries of every row set (`rows.rs`).
//!
//! One outer iteration:
//! 0. Sets with `Omega` rows recompute `Omega^2` from their derivative
//!    auxiliaries (held fixed for the iteration).
//! 1. **Weight sweep** over the layers (backward by default). Each layer's
//!    `[W_l, b_l]` solves one linear least-squares problem stacking the rows
//!    of every set and channel. With `omega_mode = "coupled"` (default) SAPM
//!    solves the *exact* block minimisation of `J_SAPM`: the weights
//!    `omega_k`, `k < l`, contain `|W_l|_F^2`, which turns the block problem
//!    into ridge regression with `lambda_l = sum_{k<l} omega_k R_k /
//!    omega_{l-1}` (design note 4b), so a weight step never increases `J`.
//!    `"frozen"` ignores that coupling. Optional extras: relative ridge,
//!    proximal term, per-layer norm caps.
//! 2. **Auxiliary steps**: gradient steps on all auxiliaries, scaled by
//!    curvature bounds (per layer for value-only sets:
//!    `(2/N)(omega_l + omega_{l+1} K^2 |W_{l+1}|_F^2)`; per point for sets
//!    with derivative channels), with an Armijo backtracking on the step
//!    `tau` (Jacobi: all layers at once; Gauss-Seidel: one layer at a time).
//!
//! Guarantee: with `omega_mode = "coupled"`, no caps or caps that the current
//! weights satisfy, and `backtrack = true`, every outer iteration is a descent
//! step on `J` (up to round-off), so by the consistency bound `J_LS <= L
//! J_SAPM` (tanh) the true loss is controlled too.
//!
//! The auxiliaries never change during a weight sweep, so one pass over the
//! points builds every layer's weight-step data at once (Gram matrices, or R
//! factors of a tall-skinny QR), and the sweep itself is small dense algebra
//! (`weight_step.rs`). Auxiliary steps then cost one pass for residuals and
//! the search direction and one pass per backtracking trial (`passes*.rs`).
//! Steady-state iterations allocate nothing (tested), and memory is `A` and
//! `D` (16 bytes per auxiliary) plus `O(threads x block)` scratch.

use super::config::{AuxInit, AuxOrder, PenaltyConfig, SweepOrder};
use super::loss::Weighting;
use super::passes::{Accumulate, LayerData, SetInfo, SetPasses};
use super::state::{SetState, State};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Error, Result};
use crate::linalg::{LayerSolveWs, SharedReducer, SolveMethod, all_gather, local_reducer};
use crate::net::Network;
use crate::optim::{StepOutcome, Trainer, TrainerStats};
use crate::perf::PenaltyFlops;
use crate::task::rows::{Channel, RowSet};
use faer::{Mat, MatRef};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ARMIJO_C: f64 = 1e-4;
const MAX_HALVINGS: usize = 50;

/// Armijo's sufficient decrease: a trial with objective `j1` after a step of
/// size `tau` along a direction of descent rate `slope > 0` from `j0` is kept
/// when `j1 <= j0 - c tau slope` (c = 1e-4) and `j1` is finite.
pub(super) fn armijo_accepts(j0: f64, j1: f64, tau: f64, slope: f64) -> bool {
    j1.is_finite() && j1 <= j0 - ARMIJO_C * tau * slope
}

/// PM (constant penalty) or SAPM (self-adaptive weights) on row sets.
pub struct PenaltyTrainer<'a> {
    pub(super) cfg: PenaltyConfig,
    pub(super) weighting: Weighting,
    pub(super) sets: Vec<RowSet<'a>>,
    pub(super) seed: u64,
    pub(super) reducer: SharedReducer,
    pub(super) st: Option<State>,
    pub(super) objective: f64,
    pub(super) stats: TrainerStats,
}

impl<'a> PenaltyTrainer<'a> {
    /// A regression trainer on inputs `x` (`d x N`) and targets `y` (`m x N`).
    pub fn new(
        cfg: PenaltyConfig,
        weighting: Weighting,
        x: MatRef<'a, f64>,
        y: MatRef<'a, f64>,
        seed: u64,
    ) -> Self {
        Self::with_sets(cfg, weighting, vec![RowSet::regression(x, y)], seed)
    }

    /// A trainer on any row sets (the first set's mean is the loss unit).
    pub fn with_sets(
        cfg: PenaltyConfig,
        weighting: Weighting,
        sets: Vec<RowSet<'a>>,
        seed: u64,
    ) -> Self {
        PenaltyTrainer {
            cfg,
            weighting,
            sets,
            seed,
            reducer: local_reducer(),
            st: None,
            objective: f64::NAN,
            stats: TrainerStats::default(),
        }
    }

    /// Use a multi-process reducer, each set holding this process's shard of
    /// its points: the Gram sums, the per-layer residual sums, the Armijo
    /// slopes and the point counts go through it (forces the Cholesky path).
    pub fn with_reducer(mut self, reducer: SharedReducer) -> Self {
        self.reducer = reducer;
        self
    }

    /// The row sets.
    pub fn sets(&self) -> &[RowSet<'a>] {
        &self.sets
    }

    /// The weight-step factorisation actually used.
    fn accumulate_mode(&self) -> Accumulate {
        if self.cfg.solver == SolveMethod::Qr && self.reducer.size() == 1 {
            Accumulate::Tsqr
        } else {
            Accumulate::Gram
        }
    }

    /// One backtracked step on the hidden layers `lo..=hi_moved` (all of them
    /// for Jacobi, one for Gauss-Seidel). After a weight sweep every residual
    /// is recomputed first; otherwise only the affected ones.
    fn aux_step(&mut self, net: &Network, lo: usize, hi_moved: usize, slot: usize) {
        let depth = net.depth();
        let st = self.st.as_mut().expect("started");
        let full = std::mem::take(&mut st.stale);
        st.moved.fill(false);
        for m in &mut st.moved[lo..=hi_moved] {
            *m = true;
        }
        let range = (lo, hi_moved + 1);
        let grad_range = if full { (0, depth - 1) } else { range };
        let slope = st.gradient(net, &self.sets, grad_range);
        let j0 = st.objective_of(&st.r);
        if slope <= 0.0 || !slope.is_finite() {
            return;
        }
        let mut tau = (st.tau[slot] * 2.0).min(self.cfg.tau);
        for _ in 0..MAX_HALVINGS {
            st.trial(net, &self.sets, range, tau);
            let j1 = st.objective_of(&st.r_trial);
            if !self.cfg.backtrack || armijo_accepts(j0, j1, tau, slope) {
                st.update(net, tau);
                st.r.copy_from_slice(&st.r_trial);
                st.tau[slot] = tau;
                return;
            }
            tau *= 0.5;
        }
        st.tau[slot] = tau;
        self.stats.aux_rejections += 1;
    }

    /// Draw every auxiliary from `U(-1, 1)`: set, layer, channel, point, unit.
    fn random_aux(&self, st: &mut State) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xA0C5);
        for ss in &mut st.sets {
            let sh = &ss.passes.shape;
            let (h, block) = (sh.hidden_rows, ss.passes.blocks.block_len());
            for l in 0..sh.depth() - 1 {
                let m = sh.m(l);
                for c in 0..sh.chans {
                    for j in 0..sh.n {
                        let (b, jj) = (j / block, j % block);
                        let r = &ss.passes.blocks.ranges()[b];
                        let base = r.start * h + (sh.off[l] + c * m) * r.len() + jj * m;
                        for i in 0..m {
                            ss.a[base + i] = rng.random_range(-1.0..1.0);
                        }
                    }
                }
            }
        }
    }

    fn entry(s: usize) -> String {
        if s == 0 { "a".into() } else { format!("a{s}") }
    }
}

impl PenaltyTrainer<'_> {
    /// Every set's largest `|value coefficient|` over the points of all
    /// processes (a curvature bound of the auxiliary steps, which must be
    /// the same on every process): a max through the sum reducer, each
    /// process filling its own slots.
    fn value_coefs(&self) -> Result<Vec<f64>> {
        let local: Vec<f64> = self
            .sets
            .iter()
            .map(|s| s.readout.coef_max(Channel::Value))
            .collect();
        if self.reducer.size() == 1 {
            return Ok(local);
        }
        let all = all_gather(&*self.reducer, &local)?;
        Ok((0..local.len())
            .map(|s| all.iter().map(|r| r[s]).fold(0.0, f64::max))
            .collect())
    }
}

impl PenaltyTrainer<'_> {
    /// PM/SAPM have auxiliaries only where there is a hidden layer.
    pub fn check_network(net: &Network) -> Result<()> {
        if net.depth() < 2 {
            return Err(Error::config(
                "network",
                "PM/SAPM need at least one hidden layer",
            ));
        }
        Ok(())
    }
}

impl Trainer for PenaltyTrainer<'_> {
    fn name(&self) -> &str {
        self.weighting.method_name()
    }

    fn start(&mut self, net: &Network) -> Result<()> {
        Self::check_network(net)?;
        let Some(first) = self.sets.first() else {
            return Err(Error::Data("no row sets to train on".into()));
        };
        for set in &self.sets {
            set.check(net.input_dim(), net.output_dim())?;
            if set.n() == 0 {
                return Err(Error::Data(format!("no training {}", set.name)));
            }
        }
        let depth = net.depth();
        let w = net.widths();
        let mode = self.accumulate_mode();
        // Points of every set over all processes: the means' divisors.
        let mut totals: Vec<f64> = self.sets.iter().map(|s| s.n() as f64).collect();
        self.reducer.all_reduce_sum(&mut totals)?;
        let value_coefs = self.value_coefs()?;
        let sets = self
            .sets
            .iter()
            .zip(&totals)
            .zip(value_coefs)
            .map(|((set, &total), value_coef)| {
                let mut info = SetInfo::new(set, first, total, totals[0]);
                info.value_coef = value_coef;
                let mut passes = SetPasses::new(net, set, info, self.cfg.block, mode);
                let h = passes.shape.hidden_rows;
                let n = set.n();
                let mut a = vec![0.0; h * n];
                passes.forward_init(net, set, &mut a);
                let o = if set.omega_rows.is_some() {
                    vec![0.0; (depth - 1) * n]
                } else {
                    Vec::new()
                };
                SetState {
                    passes,
                    total: total as usize,
                    d: vec![0.0; h * n],
                    a,
                    o,
                    r: vec![0.0; depth],
                    gsq: vec![0.0; depth],
                    slope: vec![0.0; depth],
                    inv: vec![0.0; depth],
                    rt: vec![0.0; depth],
                }
            })
            .collect();
        let order = match self.cfg.sweep {
            SweepOrder::Backward => (0..depth).rev().collect(),
            SweepOrder::Forward => (0..depth).collect(),
        };
        let mut st = State {
            sets,
            mode,
            data: (0..depth)
                .map(|l| LayerData::new(w[l] + 1, w[l + 1], mode))
                .collect(),
            r: vec![0.0; depth],
            r_trial: vec![0.0; depth],
            norms: vec![0.0; depth],
            omega: vec![1.0; depth],
            tau: vec![self.cfg.tau; depth],
            moved: vec![false; depth],
            order,
            stale: false,
            solve_ws: (0..depth)
                .map(|l| LayerSolveWs::new(w[l] + 1, w[l + 1]))
                .collect(),
            w_new: (0..depth).map(|l| Mat::zeros(w[l + 1], w[l] + 1)).collect(),
            // Grows to the packed Gram data at the first reduction.
            pack: Vec::new(),
            nref: totals[0] / first.weight,
            reducer: self.reducer.clone(),
            k2: net.activation().lipschitz().powi(2),
            flops: PenaltyFlops::default(),
        };
        if self.cfg.aux_init == AuxInit::Random {
            self.random_aux(&mut st);
        }
        st.update_omega_rows();
        self.st = Some(st);
        self.update_scalings(net);
        let st = self.st.as_mut().expect("started");
        st.refresh(net, &self.sets);
        self.objective = st.objective_of(&st.r);
        Ok(())
    }

    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        if self.st.is_none() {
            return Err(Error::numerical(
                self.name().to_string(),
                "step before start",
            ));
        }
        let depth = net.depth();
        let st = self.st.as_mut().expect("started");
        if st.update_omega_rows() {
            // Omega^2 moved with the derivative auxiliaries: R_l with the new rows.
            st.refresh(net, &self.sets);
        }
        st.accumulate(&self.sets, self.cfg.block);
        self.reduce_gram()?;
        for i in 0..depth {
            let l = self.st.as_ref().expect("started").order[i];
            self.weight_step(net, l)?;
            if self.cfg.sweep == SweepOrder::Forward && i + 1 < depth {
                // Later layers' coupled ridge needs this layer's new residual.
                let st = self.st.as_mut().expect("started");
                st.moved.fill(false);
                st.gradient(net, &self.sets, (l, l));
            }
        }
        // Weights changed: every residual is recomputed by the first direction pass.
        self.update_scalings(net);
        for _ in 0..self.cfg.aux_steps {
            match self.cfg.aux_order {
                AuxOrder::Jacobi => self.aux_step(net, 0, depth - 2, 0),
                AuxOrder::GaussSeidel => {
                    for i in 0..depth {
                        let l = self.st.as_ref().expect("started").order[i];
                        if l + 1 < depth {
                            self.aux_step(net, l, l, l);
                        }
                    }
                }
            }
        }
        let st = self.st.as_mut().expect("started");
        if st.stale {
            // aux_steps = 0 is not allowed by the config, but keep r exact anyway.
            st.refresh(net, &self.sets);
        }
        self.objective = st.objective_of(&st.r);
        Ok(StepOutcome {
            objective: self.objective,
            converged: false,
            lagged: false,
            new_phase: false,
        })
    }

    fn aux_loss(&self) -> Option<f64> {
        Some(self.objective)
    }

    fn stats(&self) -> TrainerStats {
        self.stats.clone()
    }

    fn non_finite_state(&self) -> Option<String> {
        self.locate_non_finite()
    }

    /// `derivative_gap`, and with second-derivative channels its first- and
    /// second-derivative parts (`derivative_gap_first`, `_second`).
    fn probe_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.sets.iter().any(|s| s.channels() > 1) {
            v.push("derivative_gap".into());
        }
        if self.sets.iter().any(|s| !s.pairs.is_empty()) {
            v.extend([
                "derivative_gap_first".into(),
                "derivative_gap_second".into(),
            ]);
        }
        v
    }

    fn probes(&mut self, net: &Network) -> Vec<f64> {
        let n = self.probe_names().len();
        match self.derivative_gaps(net) {
            Some(g) => [g.all, g.first, g.second.unwrap_or(f64::NAN)][..n].to_vec(),
            None => vec![f64::NAN; n],
        }
    }

    /// The auxiliaries (`a`, then `a1`, `a2`, ... for further sets), the
    /// residual sums they were last evaluated at, the backtracking step
    /// sizes, the objective and the counters; everything else (`Omega`
    /// included) is recomputed from the weights and auxiliaries.
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        let Some(st) = self.st.as_ref() else {
            return Err(Error::numerical(
                self.name().to_string(),
                "checkpoint before start",
            ));
        };
        w.text("method", self.name());
        for (s, ss) in st.sets.iter().enumerate() {
            w.f64s(&Self::entry(s), &ss.a);
        }
        w.f64s("r", &st.r);
        w.f64s("tau", &st.tau);
        w.f64("objective", self.objective);
        w.stats(&self.stats);
        Ok(())
    }

    fn load_state(&mut self, r: &mut StateReader, net: &Network) -> Result<()> {
        r.expect_method(self.name())?;
        // Sizes every buffer and sets the scalings for `net`; the
        // forward-initialised auxiliaries are then overwritten.
        self.start(net)?;
        let st = self.st.as_mut().expect("started");
        // Each set's rows of the auxiliaries (from the files of the
        // processes that wrote them when resuming on another number).
        let block = self.cfg.block;
        for (s, ss) in st.sets.iter_mut().enumerate() {
            let sh = &ss.passes.shape;
            let copy = |src: &[f64], from, dst: &mut [f64], to, count| {
                sh.copy_points(block, src, from, dst, to, count);
            };
            r.rows_into(&Self::entry(s), ss.total, sh.hidden_rows, &mut ss.a, &copy)?;
        }
        st.update_omega_rows();
        r.finite_f64s_into("r", &mut st.r)?;
        r.finite_f64s_into("tau", &mut st.tau)?;
        self.objective = r.f64("objective")?;
        self.stats = r.stats()?;
        Ok(())
    }
}
