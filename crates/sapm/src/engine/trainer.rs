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
//!
//! ## Implementation
//! The auxiliaries never change during a weight sweep, so one pass over the
//! samples builds every layer's weight-step data at once (Gram matrices, or
//! R factors of a tall-skinny QR), and the sweep itself is small dense
//! algebra. Auxiliary steps then cost one pass for residuals and the search
//! direction and one pass per backtracking trial, each rebuilding `P_l` and
//! `E_l` block by block in cache (see `penalty_passes.rs`). Steady-state
//! iterations allocate nothing (tested), and memory is `A` and `D` (16 bytes
//! per hidden unit and sample) plus `O(threads x block)` scratch. The flop
//! count of an iteration is [`crate::perf::penalty_iteration_flops`];
//! [`crate::engine::reference::ReferencePenaltyTrainer`] is the straightforward
//! version it is tested against.

use super::passes::{Accumulate, Passes, WAVE};
use crate::checkpoint::{StateReader, StateWriter};
use crate::engine::loss::{AuxVars, Weighting};
use crate::error::{Error, Result};
use crate::linalg::{
    LayerSolveWs, LocalReducer, Reducer, Regularization, SolveMethod, mat_bytes, solve_gram_into,
    solve_qr_factor_into,
};
use crate::net::Network;
use crate::optim::{StepOutcome, Trainer, TrainerStats};
use crate::perf::{self, PenaltyFlops};
use faer::{Mat, MatRef};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

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
            block: crate::linalg::DEFAULT_BLOCK,
        }
    }
}

const ARMIJO_C: f64 = 1e-4;
const MAX_HALVINGS: usize = 50;

/// Memory held by a started [`PenaltyTrainer`], in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PenaltyMemory {
    /// Samples.
    pub samples: usize,
    /// The auxiliaries `A` (`H x N`, `H` = sum of hidden widths).
    pub aux: usize,
    /// The search direction `D` (same shape as `A`).
    pub direction: usize,
    /// Everything else: per-thread block scratch, wave slots, per-layer
    /// weight-step data and solver workspaces (independent of `N` beyond one
    /// block).
    pub workspace: usize,
}

impl PenaltyMemory {
    /// All bytes.
    pub fn total(&self) -> usize {
        self.aux + self.direction + self.workspace
    }
    /// Bytes per sample held by per-sample buffers (`A` and `D`).
    pub fn per_sample(&self) -> f64 {
        (self.aux + self.direction) as f64 / self.samples.max(1) as f64
    }
}

/// PM (constant penalty) or SAPM (self-adaptive weights) on regression data.
pub struct PenaltyTrainer<'a> {
    cfg: PenaltyConfig,
    weighting: Weighting,
    x: MatRef<'a, f64>,
    y: MatRef<'a, f64>,
    seed: u64,
    reducer: Box<dyn Reducer + 'a>,
    st: Option<State>,
    objective: f64,
    stats: TrainerStats,
}

/// Everything a started trainer keeps; sized once in `start`.
struct State {
    passes: Passes,
    /// Auxiliaries, `N H` values stored block by block (see `penalty_passes.rs`).
    a: Vec<f64>,
    /// Search direction, same layout.
    d: Vec<f64>,
    /// `|E_l|_F^2` at the current weights and auxiliaries.
    r: Vec<f64>,
    r_trial: Vec<f64>,
    gsq: Vec<f64>,
    norms: Vec<f64>,
    omega: Vec<f64>,
    inv: Vec<f64>,
    tau: Vec<f64>,
    moved: Vec<bool>,
    order: Vec<usize>,
    /// Residual sums predate the last weight change.
    stale: bool,
    solve_ws: Vec<LayerSolveWs>,
    w_new: Vec<Mat<f64>>,
    /// Packed Gram sums for the reducer.
    pack: Vec<f64>,
    /// Work done so far, from the model in [`crate::perf`].
    flops: PenaltyFlops,
}

impl State {
    /// Residuals of layers `lo..=hi` and the directions of the layers in `moved`.
    fn gradient(
        &mut self,
        net: &Network,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        (lo, hi): (usize, usize),
    ) {
        let t0 = Instant::now();
        self.passes.gradient(
            net,
            x,
            y,
            &self.a,
            &mut self.d,
            (lo, hi),
            &self.moved,
            &self.omega,
            &self.inv,
            &mut self.r,
            &mut self.gsq,
        );
        let (w, n) = (&self.passes.shape.widths, self.passes.shape.n);
        self.flops.gradient += perf::residual_flops(w, n, lo, hi)
            + (lo..hi)
                .filter(|&l| self.moved[l])
                .map(|l| perf::direction_flops(w, n, l))
                .sum::<f64>();
        self.flops.activations += perf::activation_count(w, n, lo, hi);
        self.flops.gradient_passes += 1;
        self.flops.seconds[2] += t0.elapsed().as_secs_f64();
    }

    /// Residual sums of layers `lo..=hi` at `A - t D` into `r_trial`.
    fn trial(
        &mut self,
        net: &Network,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        (lo, hi): (usize, usize),
        t: f64,
    ) {
        let t0 = Instant::now();
        self.r_trial.copy_from_slice(&self.r);
        self.passes.trial(
            net,
            x,
            y,
            &self.a,
            &self.d,
            (lo, hi),
            &self.moved,
            t,
            &mut self.r_trial,
        );
        let (w, n) = (&self.passes.shape.widths, self.passes.shape.n);
        self.flops.trial += perf::residual_flops(w, n, lo, hi) + self.moved_axpy(w, n);
        self.flops.activations += perf::activation_count(w, n, lo, hi);
        self.flops.trial_passes += 1;
        self.flops.seconds[3] += t0.elapsed().as_secs_f64();
    }

    /// `A -= t D` on the moved layers.
    fn update(&mut self, t: f64) {
        let t0 = Instant::now();
        self.passes.update(&mut self.a, &self.d, &self.moved, t);
        let (w, n) = (&self.passes.shape.widths, self.passes.shape.n);
        self.flops.update += self.moved_axpy(w, n);
        self.flops.seconds[4] += t0.elapsed().as_secs_f64();
    }

    fn moved_axpy(&self, w: &[usize], n: usize) -> f64 {
        (0..self.moved.len())
            .filter(|&l| self.moved[l])
            .map(|l| perf::axpy_flops(w, n, l))
            .sum()
    }
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
            st: None,
            objective: f64::NAN,
            stats: TrainerStats::default(),
        }
    }

    /// Use a multi-process reducer for Gram sums (forces the Cholesky path).
    pub fn with_reducer(mut self, reducer: Box<dyn Reducer + 'a>) -> Self {
        self.reducer = reducer;
        self
    }

    /// A copy of the auxiliaries, one matrix per hidden layer (after `start`).
    pub fn aux(&self) -> Option<AuxVars> {
        let st = self.st.as_ref()?;
        let sh = &st.passes.shape;
        let mut a: Vec<Mat<f64>> = (0..sh.depth() - 1)
            .map(|l| Mat::zeros(sh.m(l), sh.n))
            .collect();
        for r in st.passes.blocks.ranges() {
            let slab = sh.slab(&st.a, r);
            for (l, al) in a.iter_mut().enumerate() {
                al.as_mut()
                    .subcols_mut(r.start, r.len())
                    .copy_from(sh.layer(slab, l, r.len()));
            }
        }
        Some(AuxVars { a })
    }

    /// Replace the auxiliaries (shapes as returned by [`PenaltyTrainer::aux`])
    /// and refresh the cached residuals for `net`.
    pub fn set_aux(&mut self, net: &Network, aux: &AuxVars) -> Result<()> {
        let Some(st) = self.st.as_mut() else {
            return Err(Error::numerical("set_aux", "trainer not started"));
        };
        let sh = &st.passes.shape;
        if aux.a.len() + 1 != sh.depth()
            || aux
                .a
                .iter()
                .enumerate()
                .any(|(l, m)| m.nrows() != sh.m(l) || m.ncols() != sh.n)
        {
            return Err(Error::shape(
                "auxiliaries",
                format!("{} hidden layers of {} samples", sh.depth() - 1, sh.n),
                format!("{} matrices", aux.a.len()),
            ));
        }
        let h = sh.hidden_rows;
        for r in st.passes.blocks.ranges() {
            let slab = &mut st.a[r.start * h..r.end * h];
            for (l, m) in aux.a.iter().enumerate() {
                sh.layer_mut(slab, l, r.len())
                    .copy_from(m.as_ref().subcols(r.start, r.len()));
            }
        }
        self.refresh(net);
        Ok(())
    }

    /// Memory held (after `start`).
    pub fn memory(&self) -> Option<PenaltyMemory> {
        let st = self.st.as_ref()?;
        Some(PenaltyMemory {
            samples: self.x.ncols(),
            aux: 8 * st.a.capacity(),
            direction: 8 * st.d.capacity(),
            workspace: st.passes.bytes()
                + st.solve_ws.iter().map(|w| w.bytes()).sum::<usize>()
                + st.w_new.iter().map(mat_bytes).sum::<usize>(),
        })
    }

    /// Work done since `start`, from the flop model in [`crate::perf`].
    pub fn flops(&self) -> Option<PenaltyFlops> {
        self.st.as_ref().map(|s| s.flops)
    }

    /// The weight-step factorisation actually used.
    fn accumulate_mode(&self) -> Accumulate {
        if self.cfg.solver == SolveMethod::Qr && self.reducer.size() == 1 {
            Accumulate::Tsqr
        } else {
            Accumulate::Gram
        }
    }

    /// Residual sums of every layer at the current point.
    fn refresh(&mut self, net: &Network) {
        let st = self.st.as_mut().expect("started");
        st.moved.fill(false);
        st.gradient(net, self.x, self.y, (0, net.depth() - 1));
    }

    /// Build every layer's weight-step data from the current auxiliaries
    /// (Gram sums go through the reducer).
    fn accumulate(&mut self) -> Result<()> {
        let st = self.st.as_mut().expect("started");
        let t0 = Instant::now();
        st.passes.accumulate(self.x, self.y, &st.a);
        let (w, n) = (&st.passes.shape.widths, st.passes.shape.n);
        st.flops.data += perf::data_pass_flops(
            w,
            n,
            self.cfg.block,
            st.passes.mode == Accumulate::Tsqr,
            WAVE,
        );
        st.flops.activations += perf::activation_count(w, n, 0, w.len() - 2);
        st.flops.data_passes += 1;
        st.flops.seconds[0] += t0.elapsed().as_secs_f64();
        if st.passes.mode == Accumulate::Gram {
            st.pack.clear();
            for d in &st.passes.data {
                let k = d.gram.nrows();
                for j in 0..k {
                    for i in j..k {
                        st.pack.push(d.gram[(i, j)]);
                    }
                }
                for j in 0..d.rhs.ncols() {
                    st.pack.extend_from_slice(d.rhs.col_as_slice(j));
                }
            }
            self.reducer.all_reduce_sum(&mut st.pack)?;
            let mut it = st.pack.iter();
            for d in &mut st.passes.data {
                let k = d.gram.nrows();
                for j in 0..k {
                    for i in j..k {
                        d.gram[(i, j)] = *it.next().expect("packed Gram");
                    }
                }
                for j in 0..d.rhs.ncols() {
                    for v in d.rhs.col_as_slice_mut(j) {
                        *v = *it.next().expect("packed Gram");
                    }
                }
            }
        }
        Ok(())
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

    /// Exact (coupled) or frozen-omega minimisation over `[W_l, b_l]`, from
    /// the data of the last [`PenaltyTrainer::accumulate`].
    fn weight_step(&mut self, net: &mut Network, l: usize) -> Result<()> {
        let t0 = Instant::now();
        let depth = net.depth();
        let mode = self.st.as_ref().expect("started").passes.mode;
        {
            let st = self.st.as_mut().expect("started");
            net.weight_norms_sq_into(&mut st.norms);
            self.weighting.omega_into(&st.norms, &mut st.omega);
        }
        let st = self.st.as_ref().expect("started");
        let lambda_c = self.coupled_lambda(l, &st.norms, &st.r, st.omega[l]);
        let st = self.st.as_mut().expect("started");
        let k = net.widths()[l] + 1;
        let data = &st.passes.data[l];
        let scale = data.gram_trace(k, mode) / k as f64;
        {
            let reg = Regularization {
                lambda: lambda_c + self.cfg.ridge * scale,
                rho: self.cfg.prox * scale,
                center: Some(net.layer(l)),
            };
            let out = st.w_new[l].as_mut();
            let ws = &mut st.solve_ws[l];
            let fb = match mode {
                Accumulate::Gram => {
                    solve_gram_into(data.gram.as_ref(), data.rhs.as_ref(), &reg, ws, out)?
                }
                Accumulate::Tsqr => {
                    solve_qr_factor_into(data.rf.as_ref(), self.x.ncols(), &reg, ws, out)?
                }
            };
            self.stats.solves += 1;
            self.stats.solve_fallbacks += fb as usize;
            let solver = match mode {
                Accumulate::Gram => SolveMethod::Cholesky,
                Accumulate::Tsqr => SolveMethod::Qr,
            };
            st.flops.solve +=
                perf::solve_flops(net.widths(), l, solver, reg.lambda > 0.0 || reg.rho > 0.0);
            let cap = if l + 1 == depth {
                self.cfg.cap_output
            } else {
                self.cfg.cap_hidden
            };
            if cap > 0.0 && st.w_new[l].as_ref().subcols(0, k - 1).squared_norm_l2() > cap {
                // Optional path (allocates): the normal equations of the layer.
                let m = net.widths()[l + 1];
                let (g, r) = match mode {
                    Accumulate::Gram => (
                        Mat::from_fn(k, k, |i, j| {
                            if i >= j {
                                data.gram[(i, j)]
                            } else {
                                data.gram[(j, i)]
                            }
                        }),
                        data.rhs.clone(),
                    ),
                    Accumulate::Tsqr => {
                        let ra = data.rf.as_ref().submatrix(0, 0, k, k);
                        let c = data.rf.as_ref().submatrix(0, k, k, m);
                        (ra.transpose() * ra, ra.transpose() * c)
                    }
                };
                let (wc, fb) = capped_solve(g.as_ref(), r.as_ref(), &reg, cap, scale)?;
                self.stats.solve_fallbacks += fb as usize;
                st.w_new[l].copy_from(&wc);
            }
        }
        net.layer_mut(l).copy_from(&st.w_new[l]);
        st.stale = true;
        st.flops.seconds[1] += t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// Norms, omega and the per-layer inverse Lipschitz bounds at the current weights.
    fn update_scalings(&mut self, net: &Network) {
        let st = self.st.as_mut().expect("started");
        net.weight_norms_sq_into(&mut st.norms);
        self.weighting.omega_into(&st.norms, &mut st.omega);
        let n = self.x.ncols().max(1) as f64;
        let k2 = net.activation().lipschitz().powi(2);
        for l in 0..net.depth() - 1 {
            let lip = 2.0 / n * (st.omega[l] + st.omega[l + 1] * k2 * st.norms[l + 1]);
            st.inv[l] = if lip > 0.0 { 1.0 / lip } else { 0.0 };
        }
    }

    fn objective_of(omega: &[f64], r: &[f64], n: usize) -> f64 {
        r.iter().zip(omega).map(|(r, w)| r * w).sum::<f64>() / n.max(1) as f64
    }

    /// One backtracked step on the hidden layers `lo..=hi_moved` (all of them
    /// for Jacobi, one for Gauss-Seidel). After a weight sweep every residual
    /// is recomputed first; otherwise only the affected ones.
    fn aux_step(&mut self, net: &Network, lo: usize, hi_moved: usize, slot: usize) {
        let depth = net.depth();
        let n = self.x.ncols();
        let st = self.st.as_mut().expect("started");
        let full = std::mem::take(&mut st.stale);
        st.moved.fill(false);
        for m in &mut st.moved[lo..=hi_moved] {
            *m = true;
        }
        let range = (lo, hi_moved + 1);
        let grad_range = if full { (0, depth - 1) } else { range };
        st.gradient(net, self.x, self.y, grad_range);
        let slope: f64 = (lo..=hi_moved).map(|l| st.gsq[l] * st.inv[l]).sum();
        let j0 = Self::objective_of(&st.omega, &st.r, n);
        if slope <= 0.0 || !slope.is_finite() {
            return;
        }
        let mut tau = (st.tau[slot] * 2.0).min(self.cfg.tau);
        for _ in 0..MAX_HALVINGS {
            st.trial(net, self.x, self.y, range, tau);
            let j1 = Self::objective_of(&st.omega, &st.r_trial, n);
            if !self.cfg.backtrack || (j1.is_finite() && j1 <= j0 - ARMIJO_C * tau * slope) {
                st.update(tau);
                st.r.copy_from_slice(&st.r_trial);
                st.tau[slot] = tau;
                return;
            }
            tau *= 0.5;
        }
        st.tau[slot] = tau;
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
    let _ = scale;
    let (k, m) = (g.nrows(), r.ncols());
    // Base system A X = B of the weight step (ridge on the weights, proximal on all).
    let mut a = Mat::from_fn(k, k, |i, j| g[(i, j)]);
    let mut b = r.to_owned();
    for i in 0..k {
        if i + 1 < k {
            a[(i, i)] += reg.lambda;
        }
        a[(i, i)] += reg.rho;
    }
    if reg.rho > 0.0 {
        let c = reg.center.ok_or_else(|| {
            Error::numerical("capped weight step", "proximal term without a centre")
        })?;
        for i in 0..k {
            for o in 0..m {
                b[(i, o)] += reg.rho * c[(o, i)];
            }
        }
    }
    // The bias is not penalised: eliminate it (Schur complement), which leaves a
    // plain ridge problem (S + mu I) X_w = H in the weights. With S = U diag(s) U^T
    // and C = U^T H, |X_w(mu)|^2 = sum_i |C_i|^2 / (s_i + mu)^2 costs O(k) per mu,
    // so the cap is met to round-off by bisection at no real cost (a trust-region
    // "secular equation").
    let nb = k - 1;
    let abb = a[(nb, nb)];
    if !(abb > 0.0 && abb.is_finite()) {
        return Err(Error::numerical(
            "capped weight step",
            format!("bias pivot {abb} is not positive"),
        ));
    }
    let sm = Mat::from_fn(nb, nb, |i, j| a[(i, j)] - a[(i, nb)] * a[(nb, j)] / abb);
    let h = Mat::from_fn(nb, m, |i, o| b[(i, o)] - a[(i, nb)] * b[(nb, o)] / abb);
    let eig = sm.self_adjoint_eigen(faer::Side::Lower).map_err(|e| {
        Error::numerical(
            "capped weight step",
            format!("eigendecomposition failed: {e:?}"),
        )
    })?;
    let (u, sv) = (eig.U(), eig.S().column_vector());
    let c = u.transpose() * &h;
    let c2: Vec<f64> = (0..nb)
        .map(|i| (0..m).map(|o| c[(i, o)] * c[(i, o)]).sum())
        .collect();
    let ev: Vec<f64> = (0..nb).map(|i| sv[i]).collect();
    let norm2 = |mu: f64| -> f64 {
        c2.iter()
            .zip(&ev)
            .map(|(c2, s)| {
                let d = s + mu;
                if d > 0.0 {
                    c2 / (d * d)
                } else if *c2 > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                }
            })
            .sum()
    };
    let smin = ev.iter().cloned().fold(f64::INFINITY, f64::min);
    let smax = ev.iter().cloned().fold(0.0f64, f64::max);
    let mut lo = (-smin).max(0.0);
    let mut hi = lo + smax.max(f64::MIN_POSITIVE) * 1e-12;
    let mut tries = 0;
    while norm2(hi) > cap {
        lo = hi;
        hi = 2.0 * hi + smax.max(1e-300) * 1e-12;
        tries += 1;
        if tries > 2000 {
            return Err(Error::numerical(
                "capped weight step",
                "could not reach the norm cap",
            ));
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if norm2(mid) > cap { lo = mid } else { hi = mid }
    }
    let mu = hi;
    // X_w = U (diag(s) + mu)^{-1} C, then the bias from the eliminated row.
    let scaled = Mat::from_fn(nb, m, |i, o| c[(i, o)] / (ev[i] + mu));
    let xw = u * &scaled;
    let mut w = Mat::<f64>::zeros(m, k);
    for o in 0..m {
        let mut bias = b[(nb, o)];
        for i in 0..nb {
            w[(o, i)] = xw[(i, o)];
            bias -= a[(nb, i)] * xw[(i, o)];
        }
        w[(o, nb)] = bias / abb;
    }
    let finite = (0..k).all(|j| (0..m).all(|o| w[(o, j)].is_finite()));
    if !finite {
        return Err(Error::numerical(
            "capped weight step",
            "solution is not finite",
        ));
    }
    Ok((w, false))
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
        let n = self.x.ncols();
        if n == 0 {
            return Err(Error::Data("no training samples".into()));
        }
        let depth = net.depth();
        let w = net.widths();
        let mut passes = Passes::new(net, n, self.cfg.block, self.accumulate_mode());
        let h = passes.shape.hidden_rows;
        let mut a = vec![0.0; h * n];
        passes.forward_init(net, self.x, &mut a);
        if self.cfg.aux_init == AuxInit::Random {
            // Same draw order as the reference: layer, sample, unit.
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xA0C5);
            let sh = &passes.shape;
            let block = passes.blocks.block_len();
            for l in 0..depth - 1 {
                for j in 0..n {
                    let (b, jj) = (j / block, j % block);
                    let r = &passes.blocks.ranges()[b];
                    let base = r.start * h + sh.off[l] * r.len() + jj * w[l + 1];
                    for i in 0..w[l + 1] {
                        a[base + i] = rng.random_range(-1.0..1.0);
                    }
                }
            }
        }
        let order = match self.cfg.sweep {
            SweepOrder::Backward => (0..depth).rev().collect(),
            SweepOrder::Forward => (0..depth).collect(),
        };
        let pack_len: usize = (0..depth)
            .map(|l| {
                let k = w[l] + 1;
                k * (k + 1) / 2 + k * w[l + 1]
            })
            .sum();
        self.st = Some(State {
            passes,
            d: vec![0.0; h * n],
            a,
            r: vec![0.0; depth],
            r_trial: vec![0.0; depth],
            gsq: vec![0.0; depth],
            norms: vec![0.0; depth],
            omega: vec![1.0; depth],
            inv: vec![0.0; depth],
            tau: vec![self.cfg.tau; depth],
            moved: vec![false; depth],
            order,
            stale: false,
            solve_ws: (0..depth)
                .map(|l| LayerSolveWs::new(w[l] + 1, w[l + 1]))
                .collect(),
            w_new: (0..depth).map(|l| Mat::zeros(w[l + 1], w[l] + 1)).collect(),
            pack: Vec::with_capacity(pack_len),
            flops: PenaltyFlops::default(),
        });
        self.update_scalings(net);
        self.refresh(net);
        let st = self.st.as_ref().expect("started");
        self.objective = Self::objective_of(&st.omega, &st.r, n);
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
        self.accumulate()?;
        for i in 0..depth {
            let l = self.st.as_ref().expect("started").order[i];
            self.weight_step(net, l)?;
            if self.cfg.sweep == SweepOrder::Forward && i + 1 < depth {
                // Later layers' coupled ridge needs this layer's new residual.
                let st = self.st.as_mut().expect("started");
                st.moved.fill(false);
                st.gradient(net, self.x, self.y, (l, l));
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
            self.refresh(net);
        }
        let st = self.st.as_ref().expect("started");
        self.objective = Self::objective_of(&st.omega, &st.r, self.x.ncols());
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
        let st = self.st.as_ref()?;
        let idx = st.a.iter().position(|v| !v.is_finite())?;
        let sh = &st.passes.shape;
        let h = sh.hidden_rows;
        let r = st
            .passes
            .blocks
            .ranges()
            .iter()
            .find(|r| idx < r.end * h)?
            .clone();
        let local = idx - r.start * h;
        let l = (0..sh.depth() - 1)
            .rev()
            .find(|&l| sh.off[l] * r.len() <= local)?;
        let sample = r.start + (local - sh.off[l] * r.len()) / sh.m(l);
        Some(format!(
            "auxiliary a_{} (layer {}) became {} (sample {sample})",
            l + 1,
            l + 1,
            st.a[idx]
        ))
    }

    /// The auxiliaries, the residual sums they were last evaluated at, the
    /// backtracking step sizes, the objective and the counters; everything
    /// else is recomputed from the weights by `start` or by the next step.
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        let Some(st) = self.st.as_ref() else {
            return Err(Error::numerical(
                self.name().to_string(),
                "checkpoint before start",
            ));
        };
        w.text("method", self.name());
        w.f64s("a", &st.a);
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
        r.finite_f64s_into("a", &mut st.a)?;
        r.finite_f64s_into("r", &mut st.r)?;
        r.finite_f64s_into("tau", &mut st.tau)?;
        self.objective = r.f64("objective")?;
        self.stats = r.stats()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NaN auxiliary is reported with its layer and sample.
    #[test]
    fn non_finite_auxiliaries_name_layer_and_sample() {
        let net = crate::net::NetworkSpec::new(vec![1, 4, 3, 1])
            .build(0)
            .unwrap();
        let x = Mat::from_fn(1, 9, |_, j| j as f64 / 9.0);
        let y = Mat::from_fn(1, 9, |_, j| (j as f64).sin());
        let cfg = PenaltyConfig {
            block: 4,
            ..Default::default()
        };
        let mut t = PenaltyTrainer::new(cfg, Weighting::SelfAdaptive, x.as_ref(), y.as_ref(), 0);
        t.start(&net).unwrap();
        assert_eq!(t.non_finite_state(), None);
        let mut aux = t.aux().unwrap();
        aux.a[1][(2, 7)] = f64::NAN;
        t.set_aux(&net, &aux).unwrap();
        assert_eq!(
            t.non_finite_state().as_deref(),
            Some("auxiliary a_2 (layer 2) became NaN (sample 7)")
        );
    }

    /// The capped step lands on the cap and minimises the block objective over
    /// the norm ball: no feasible perturbation does better.
    #[test]
    fn capped_solve_meets_the_cap_and_is_optimal_on_the_ball() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (k, m, n) = (6, 3, 40);
        let p = Mat::from_fn(k, n, |i, _| {
            if i + 1 == k {
                1.0
            } else {
                rng.random_range(-1.0..1.0)
            }
        });
        let t = Mat::from_fn(m, n, |_, _| rng.random_range(-3.0..3.0));
        let g = &p * p.transpose();
        let r = &p * t.transpose();
        let obj = |w: &Mat<f64>| (&t - w * &p).squared_norm_l2();
        let reg = Regularization::default();
        let (free, _) = crate::linalg::solve_normal(g.as_ref(), r.as_ref(), &reg).unwrap();
        let free_norm = free.transpose().subcols(0, k - 1).squared_norm_l2();
        for frac in [0.9, 0.3, 1e-3] {
            let cap = frac * free_norm;
            let (w, _) = capped_solve(
                g.as_ref(),
                r.as_ref(),
                &reg,
                cap,
                g.squared_norm_l2().sqrt(),
            )
            .unwrap();
            let nrm = w.as_ref().subcols(0, k - 1).squared_norm_l2();
            assert!(
                nrm <= cap * (1.0 + 1e-12) && nrm >= cap * (1.0 - 1e-9),
                "{nrm} vs cap {cap}"
            );
            let f0 = obj(&w);
            for _ in 0..50 {
                let mut c = &w + Mat::from_fn(m, k, |_, _| 1e-3 * rng.random_range(-1.0..1.0));
                let cn = c.as_ref().subcols(0, k - 1).squared_norm_l2();
                if cn > cap {
                    let s = (cap / cn).sqrt();
                    for j in 0..k - 1 {
                        for i in 0..m {
                            c[(i, j)] *= s;
                        }
                    }
                }
                assert!(
                    obj(&c) >= f0 * (1.0 - 1e-12),
                    "a feasible point beat the capped step"
                );
            }
        }
    }
    use crate::NetworkSpec;
    use crate::engine::loss::objective;
    use rand::RngExt;

    /// Each coupled weight step is the exact minimiser of J_SAPM over
    /// `[W_l, b_l]` with everything else fixed, including the dependence of the
    /// lower layers' omegas on `|W_l|`; "frozen" is not (it ignores that term).
    #[test]
    fn coupled_weight_step_is_a_block_minimiser() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = Mat::from_fn(1, 30, |_, _| rng.random_range(-2.0f64..2.0));
        let y = Mat::from_fn(1, 30, |_, j| (x[(0, j)] * x[(0, j)]).sin());
        for mode in [OmegaMode::Coupled, OmegaMode::Frozen] {
            let mut worst_gain: f64 = 0.0;
            for l in 0..4 {
                let net0 = NetworkSpec::new(vec![1, 6, 5, 4, 1]).build(2).unwrap();
                let cfg = PenaltyConfig {
                    omega_mode: mode,
                    ..PenaltyConfig::default()
                };
                for solver in [SolveMethod::Qr, SolveMethod::Cholesky] {
                    let mut net = net0.clone();
                    let cfg = PenaltyConfig { solver, ..cfg };
                    let mut t = PenaltyTrainer::new(
                        cfg,
                        Weighting::SelfAdaptive,
                        x.as_ref(),
                        y.as_ref(),
                        0,
                    );
                    t.start(&net).unwrap();
                    // Make every constraint active: move the auxiliaries off the forward pass.
                    let mut aux = t.aux().unwrap();
                    for a in &mut aux.a {
                        for j in 0..a.ncols() {
                            for i in 0..a.nrows() {
                                a[(i, j)] += rng.random_range(-0.3..0.3);
                            }
                        }
                    }
                    t.set_aux(&net, &aux).unwrap();
                    t.accumulate().unwrap();
                    t.weight_step(&mut net, l).unwrap();
                    let j0 = objective(&net, &aux, x.as_ref(), y.as_ref(), Weighting::SelfAdaptive);
                    for scale in [1e-2, 1e-4] {
                        for _ in 0..20 {
                            let mut p = net.clone();
                            let w = p.layer(l).to_owned();
                            let d = Mat::from_fn(w.nrows(), w.ncols(), |_, _| {
                                scale * rng.random_range(-1.0..1.0)
                            });
                            p.layer_mut(l).copy_from(&(&w + &d));
                            let j = objective(
                                &p,
                                &aux,
                                x.as_ref(),
                                y.as_ref(),
                                Weighting::SelfAdaptive,
                            );
                            worst_gain = worst_gain.max((j0 - j) / j0);
                            if mode == OmegaMode::Coupled {
                                assert!(
                                    j >= j0 * (1.0 - 1e-11),
                                    "{solver:?} layer {l}: perturbation lowered J from {j0} to {j}"
                                );
                            }
                        }
                    }
                }
            }
            if mode == OmegaMode::Frozen {
                assert!(
                    worst_gain > 1e-6,
                    "frozen mode unexpectedly optimal (gain {worst_gain})"
                );
            }
        }
    }
}
