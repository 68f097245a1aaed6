//! PM-PINN and SAPM-PINN: value and directional-derivative auxiliaries, one
//! stacked least-squares problem per weight step.
//!
//! Layers `k = 0..L-1` (0-based), hidden auxiliaries for `k < L-1`:
//! values `a_k ~ z_k` at interior points, `ab_k ~ z_k` at boundary points, and
//! directional derivatives `d_k ~ dz_k` (along `v = J_e c`) at interior points.
//! Layer inputs: `P_0 = [x; 1]`, `Q_0 = [v; 0]`, `Pb_0 = [x_b; 1]`,
//! `P_{k+1} = [s(a_k); 1]`, `Q_{k+1} = [s'(a_k) (.) d_k; 0]`, `Pb_{k+1} = [s(ab_k); 1]`.
//!
//! ```text
//! J = sum_k omega_k R_k,
//! R_k = (alpha/N_i) sum_n [ Omega_{k,n}^2 |a_k - W~_k P_k|^2 + |d_k - W~_k Q_k|^2 ]
//!     + (beta_bc/N_b) sum_m |ab_k - W~_k Pb_k|^2                    (hidden k)
//! R_{L-1} = (alpha/N_i) sum_n |W~ Q_{L-1} - f|^2 + (beta_bc/N_b) sum_m |W~ Pb_{L-1} - g|^2
//! ```
//!
//! with `omega_k = beta` (PM) or `prod_{j>k} |W_j|_F^2` (SAPM), `omega_{L-1} = 1`,
//! and `Omega_{k,n}^2 = omega_floor + omega_deriv sum_{j=k}^{L-2} |d_{j,n}|^2`
//! recomputed from the auxiliaries at the start of each outer iteration and
//! held fixed within it. At exact auxiliaries (the forward pass and its
//! derivatives) every hidden residual vanishes and `J` is the PINN loss.
//!
//! The interior value rows carry `Omega^2` because an error in `a_k` reaches
//! the PDE residual only through `s''(a_k) d_k`, so its effect scales with the
//! derivative magnitude; the floor keeps the values tied where `d ~ 0`.

use crate::checkpoint::{StateReader, StateWriter};
use crate::engine::loss::Weighting;
use crate::engine::{OmegaMode, PenaltyConfig};
use crate::error::{Error, Result};
use crate::linalg::{LayerSystem, LocalReducer, Regularization, RowGroup, solve_layer};
use crate::net::derivs::{DirCache, derivs, dir_forward_into};
use crate::net::{Network, ones_row_mat};
use crate::optim::{StepOutcome, Trainer};
use crate::record::TrainerStats;
use crate::task::pde::PinnData;
use faer::{Accum, Mat, MatRef, Par};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const ARMIJO_C: f64 = 1e-4;
const MAX_HALVINGS: usize = 50;

/// Auxiliaries of the hidden layers.
#[derive(Debug, Clone, PartialEq)]
pub struct PinnAux {
    /// Interior values `a_k`, `m_k x N_i`.
    pub a: Vec<Mat<f64>>,
    /// Interior directional derivatives `d_k`, `m_k x N_i`.
    pub d: Vec<Mat<f64>>,
    /// Boundary values `ab_k`, `m_k x N_b`.
    pub ab: Vec<Mat<f64>>,
}

impl PinnAux {
    /// The exact auxiliaries of `net`: forward pass and directional derivatives.
    pub fn forward(net: &Network, data: &PinnData) -> PinnAux {
        let h = net.depth() - 1;
        let mut c = DirCache::new(net.widths(), data.n_interior());
        dir_forward_into(net, data.e_int.as_ref(), data.v_int.as_ref(), &mut c);
        let mut cb = crate::net::ForwardCache::new(net.widths(), data.n_boundary());
        net.forward_into(data.e_bc.as_ref(), &mut cb);
        PinnAux {
            a: c.z.into_iter().take(h).collect(),
            d: c.dz.into_iter().take(h).collect(),
            ab: cb.z.into_iter().take(h).collect(),
        }
    }

    fn axpy(&mut self, src: &PinnAux, dir: &PinnAux, tau: f64) {
        for (dst, (s, g)) in [
            (&mut self.a, (&src.a, &dir.a)),
            (&mut self.d, (&src.d, &dir.d)),
            (&mut self.ab, (&src.ab, &dir.ab)),
        ] {
            for (x, (y, z)) in dst.iter_mut().zip(s.iter().zip(g)) {
                x.copy_from(y);
                *x -= z * faer::Scale(tau);
            }
        }
    }
}

/// Layer inputs, residuals and weighted residual sums.
#[derive(Debug, Clone)]
pub struct PinnWorkspace {
    p: Vec<Mat<f64>>,
    q: Vec<Mat<f64>>,
    pb: Vec<Mat<f64>>,
    e: Vec<Mat<f64>>,
    f: Vec<Mat<f64>>,
    eb: Vec<Mat<f64>>,
    /// `R_k` of every layer.
    pub r: Vec<f64>,
    ca: f64,
    cb: f64,
}

impl PinnWorkspace {
    /// Buffers for `net` on `data` with loss weights `alpha`, `beta_bc`.
    pub fn new(net: &Network, data: &PinnData, alpha: f64, beta_bc: f64) -> Self {
        let w = net.widths();
        let (ni, nb) = (data.n_interior(), data.n_boundary());
        let depth = net.depth();
        let mut p: Vec<Mat<f64>> = (0..depth).map(|l| ones_row_mat(w[l], ni)).collect();
        let mut q: Vec<Mat<f64>> = (0..depth).map(|l| Mat::zeros(w[l] + 1, ni)).collect();
        let mut pb: Vec<Mat<f64>> = (0..depth).map(|l| ones_row_mat(w[l], nb)).collect();
        p[0].as_mut().subrows_mut(0, w[0]).copy_from(&data.e_int);
        q[0].as_mut().subrows_mut(0, w[0]).copy_from(&data.v_int);
        pb[0].as_mut().subrows_mut(0, w[0]).copy_from(&data.e_bc);
        PinnWorkspace {
            p,
            q,
            pb,
            e: (0..depth - 1).map(|l| Mat::zeros(w[l + 1], ni)).collect(),
            f: (0..depth).map(|l| Mat::zeros(w[l + 1], ni)).collect(),
            eb: (0..depth).map(|l| Mat::zeros(w[l + 1], nb)).collect(),
            r: vec![0.0; depth],
            ca: alpha / ni.max(1) as f64,
            cb: beta_bc / nb.max(1) as f64,
        }
    }

    fn set_inputs(&mut self, net: &Network, aux: &PinnAux) {
        let act = net.activation();
        for k in 0..aux.a.len() {
            let (a, d, ab) = (aux.a[k].as_ref(), aux.d[k].as_ref(), aux.ab[k].as_ref());
            let (p, q) = (&mut self.p[k + 1], &mut self.q[k + 1]);
            for j in 0..a.ncols() {
                for i in 0..a.nrows() {
                    let z = a[(i, j)];
                    let s = act.eval(z);
                    p[(i, j)] = s;
                    q[(i, j)] = derivs(act, z, s).0 * d[(i, j)];
                }
            }
            let pb = &mut self.pb[k + 1];
            for j in 0..ab.ncols() {
                for i in 0..ab.nrows() {
                    pb[(i, j)] = act.eval(ab[(i, j)]);
                }
            }
        }
    }

    /// Residuals and `R_k` of layer `k` from the current inputs.
    fn residual(
        &mut self,
        net: &Network,
        aux: &PinnAux,
        data: &PinnData,
        omega2: &[Vec<f64>],
        k: usize,
    ) {
        let w = net.layer(k);
        let hidden = k + 1 < net.depth();
        let sub = |dst: &mut Mat<f64>, t: MatRef<'_, f64>, p: MatRef<'_, f64>| -> f64 {
            dst.as_mut().copy_from(t);
            faer::linalg::matmul::matmul(dst.as_mut(), Accum::Add, w, p, -1.0, Par::Seq);
            dst.squared_norm_l2()
        };
        let mut r = 0.0;
        if hidden {
            sub(&mut self.e[k], aux.a[k].as_ref(), self.p[k].as_ref());
            let e = &self.e[k];
            let o = &omega2[k];
            let mut s = 0.0;
            for j in 0..e.ncols() {
                let mut c = 0.0;
                for i in 0..e.nrows() {
                    c += e[(i, j)] * e[(i, j)];
                }
                s += o[j] * c;
            }
            r += self.ca * s;
            r += self.ca * sub(&mut self.f[k], aux.d[k].as_ref(), self.q[k].as_ref());
            r += self.cb * sub(&mut self.eb[k], aux.ab[k].as_ref(), self.pb[k].as_ref());
        } else {
            r += self.ca * sub(&mut self.f[k], data.f_int.as_ref(), self.q[k].as_ref());
            r += self.cb * sub(&mut self.eb[k], data.g_bc.as_ref(), self.pb[k].as_ref());
        }
        self.r[k] = r;
    }

    /// Recompute inputs, residuals and `R_k` for all layers.
    pub fn refresh(&mut self, net: &Network, aux: &PinnAux, data: &PinnData, omega2: &[Vec<f64>]) {
        self.set_inputs(net, aux);
        for k in 0..net.depth() {
            self.residual(net, aux, data, omega2, k);
        }
    }

    /// `J = sum_k omega_k R_k`.
    pub fn objective(&self, omega: &[f64]) -> f64 {
        self.r.iter().zip(omega).map(|(r, w)| r * w).sum()
    }
}

/// `Omega_{k,n}^2 = floor + scale sum_{j >= k} |d_{j,n}|^2` for every hidden layer.
pub fn omega_rows(aux: &PinnAux, floor: f64, scale: f64) -> Vec<Vec<f64>> {
    let h = aux.d.len();
    let n = aux.d.first().map_or(0, |d| d.ncols());
    let mut acc = vec![0.0; n];
    let mut out = vec![Vec::new(); h];
    for k in (0..h).rev() {
        let d = &aux.d[k];
        for (j, a) in acc.iter_mut().enumerate() {
            for i in 0..d.nrows() {
                *a += d[(i, j)] * d[(i, j)];
            }
        }
        out[k] = acc.iter().map(|a| floor + scale * a).collect();
    }
    out
}

/// `J_PM-PINN` / `J_SAPM-PINN` for given weights, auxiliaries and `Omega` (allocating).
pub fn objective(
    net: &Network,
    aux: &PinnAux,
    data: &PinnData,
    alpha: f64,
    beta_bc: f64,
    weighting: Weighting,
    omega2: &[Vec<f64>],
) -> f64 {
    let mut ws = PinnWorkspace::new(net, data, alpha, beta_bc);
    ws.refresh(net, aux, data, omega2);
    ws.objective(&weighting.omega(&net.weight_norms_sq()))
}

/// Settings of the PINN penalty trainer besides [`PenaltyConfig`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PinnPenaltySettings {
    /// Weight of the PDE rows.
    pub alpha: f64,
    /// Weight of the boundary rows.
    pub beta_bc: f64,
    /// Floor of `Omega^2`.
    pub omega_floor: f64,
    /// Factor of the derivative sum in `Omega^2` (0 gives `Omega^2 = floor`).
    pub omega_deriv: f64,
}

/// PM-PINN (constant penalty) or SAPM-PINN (self-adaptive weights).
///
/// One outer iteration: recompute `Omega`, a backward sweep of exact weight
/// steps (each one stacked least-squares problem of value, derivative and
/// boundary rows; SAPM's coupled ridge as in regression), then `aux_steps`
/// preconditioned gradient steps on all auxiliaries with Armijo backtracking.
pub struct PinnPenaltyTrainer<'a> {
    data: &'a PinnData,
    cfg: PenaltyConfig,
    set: PinnPenaltySettings,
    weighting: Weighting,
    aux: Option<PinnAux>,
    trial: Option<PinnAux>,
    dir: Option<PinnAux>,
    ws: Option<PinnWorkspace>,
    ws_trial: Option<PinnWorkspace>,
    omega2: Vec<Vec<f64>>,
    tau: f64,
    objective: f64,
    stats: TrainerStats,
    gap: Arc<AtomicU64>,
}

impl<'a> PinnPenaltyTrainer<'a> {
    /// A trainer on `data`.
    pub fn new(
        data: &'a PinnData,
        cfg: PenaltyConfig,
        set: PinnPenaltySettings,
        weighting: Weighting,
    ) -> Self {
        PinnPenaltyTrainer {
            data,
            cfg,
            set,
            weighting,
            aux: None,
            trial: None,
            dir: None,
            ws: None,
            ws_trial: None,
            omega2: Vec::new(),
            tau: cfg.tau,
            objective: f64::NAN,
            stats: TrainerStats::default(),
            gap: Arc::new(AtomicU64::new(f64::NAN.to_bits())),
        }
    }

    /// A handle that holds the relative derivative gap
    /// `|d - dz|_F / |dz|_F` (all hidden layers, interior points) after each step.
    pub fn gap_probe(&self) -> Arc<AtomicU64> {
        self.gap.clone()
    }

    /// The auxiliaries (after `start`).
    pub fn aux(&self) -> Option<&PinnAux> {
        self.aux.as_ref()
    }

    /// The current `Omega^2` rows.
    pub fn omega2(&self) -> &[Vec<f64>] {
        &self.omega2
    }

    fn omega(&self, net: &Network) -> Vec<f64> {
        self.weighting.omega(&net.weight_norms_sq())
    }

    fn coupled_lambda(&self, k: usize, norms: &[f64], r: &[f64], omega_k: f64) -> f64 {
        if self.cfg.omega_mode == OmegaMode::Frozen
            || !matches!(self.weighting, Weighting::SelfAdaptive)
            || k == 0
        {
            return 0.0;
        }
        let mut c = 0.0;
        for (j, rj) in r.iter().enumerate().take(k) {
            let prod: f64 = norms
                .iter()
                .enumerate()
                .skip(j + 1)
                .filter(|&(i, _)| i != k)
                .map(|(_, n)| n)
                .product();
            c += rj * prod;
        }
        if c == 0.0 {
            0.0
        } else {
            c / omega_k.max(f64::MIN_POSITIVE)
        }
    }

    /// Exact minimisation of `J` over `W~_k` (auxiliaries fixed).
    pub fn weight_step(&mut self, net: &mut Network, k: usize) -> Result<()> {
        let depth = net.depth();
        let norms = net.weight_norms_sq();
        let omega = self.weighting.omega(&norms);
        let lambda_c =
            self.coupled_lambda(k, &norms, &self.ws.as_ref().expect("started").r, omega[k]);
        let ws = self.ws.as_mut().expect("started");
        let aux = self.aux.as_ref().expect("started");
        let data = self.data;
        let (ca, cb) = (ws.ca, ws.cb);
        let mut sys = LayerSystem::default();
        if k + 1 < depth {
            sys.groups.push(RowGroup {
                p: ws.p[k].as_ref(),
                t: aux.a[k].as_ref(),
                weight: ca,
                sample_weights: Some(&self.omega2[k]),
            });
            sys.groups.push(RowGroup {
                p: ws.q[k].as_ref(),
                t: aux.d[k].as_ref(),
                weight: ca,
                sample_weights: None,
            });
            sys.groups.push(RowGroup {
                p: ws.pb[k].as_ref(),
                t: aux.ab[k].as_ref(),
                weight: cb,
                sample_weights: None,
            });
        } else {
            sys.groups.push(RowGroup {
                p: ws.q[k].as_ref(),
                t: data.f_int.as_ref(),
                weight: ca,
                sample_weights: None,
            });
            sys.groups.push(RowGroup {
                p: ws.pb[k].as_ref(),
                t: data.g_bc.as_ref(),
                weight: cb,
                sample_weights: None,
            });
        }
        let kk = sys.k();
        let scale = sys.gram_trace() / kk as f64;
        let old = net.layer(k).to_owned();
        let reg = Regularization {
            lambda: lambda_c + self.cfg.ridge * scale,
            rho: self.cfg.prox * scale,
            center: Some(old.as_ref()),
        };
        let (mut w, info) =
            solve_layer(&sys, &reg, self.cfg.solver, self.cfg.block, &LocalReducer)?;
        self.stats.solves += 1;
        self.stats.solve_fallbacks += info.fallback as usize;
        let cap = if k + 1 == depth {
            self.cfg.cap_output
        } else {
            self.cfg.cap_hidden
        };
        if cap > 0.0 && w.as_ref().subcols(0, kk - 1).squared_norm_l2() > cap {
            let (g, r) = sys.normal_equations(self.cfg.block, &LocalReducer)?;
            let (wc, fb) = crate::engine::capped_solve(g.as_ref(), r.as_ref(), &reg, cap, scale)?;
            self.stats.solve_fallbacks += fb as usize;
            w = wc;
        }
        drop(sys);
        net.layer_mut(k).copy_from(&w);
        ws.residual(net, aux, data, &self.omega2, k);
        Ok(())
    }

    /// Gradient of `J` with respect to all auxiliaries (`Omega` fixed).
    pub fn aux_gradient(&self, net: &Network, omega: &[f64], g: &mut PinnAux) {
        let ws = self.ws.as_ref().expect("started");
        let aux = self.aux.as_ref().expect("started");
        let act = net.activation();
        let depth = net.depth();
        let (ca2, cb2) = (2.0 * ws.ca, 2.0 * ws.cb);
        for k in 0..depth - 1 {
            let nx = k + 1;
            let wt = net.weight(nx).transpose();
            let (wk, wn) = (omega[k], omega[nx]);
            let mut te = Mat::<f64>::zeros(wt.nrows(), aux.a[k].ncols());
            if nx + 1 < depth {
                let o = &self.omega2[nx];
                let e = Mat::from_fn(ws.e[nx].nrows(), ws.e[nx].ncols(), |i, j| {
                    o[j] * ws.e[nx][(i, j)]
                });
                faer::linalg::matmul::matmul(
                    te.as_mut(),
                    Accum::Replace,
                    wt,
                    e.as_ref(),
                    1.0,
                    Par::Seq,
                );
            }
            let tf = wt * ws.f[nx].as_ref();
            let tb = wt * ws.eb[nx].as_ref();
            let (a, d, o) = (aux.a[k].as_ref(), aux.d[k].as_ref(), &self.omega2[k]);
            let (e, f) = (ws.e[k].as_ref(), ws.f[k].as_ref());
            let (ga, gd) = (&mut g.a[k], &mut g.d[k]);
            for j in 0..a.ncols() {
                for i in 0..a.nrows() {
                    let z = a[(i, j)];
                    let (s1, s2) = derivs(act, z, ws.p[nx][(i, j)]);
                    ga[(i, j)] = ca2
                        * (wk * o[j] * e[(i, j)]
                            - wn * (s1 * te[(i, j)] + s2 * d[(i, j)] * tf[(i, j)]));
                    gd[(i, j)] = ca2 * (wk * f[(i, j)] - wn * s1 * tf[(i, j)]);
                }
            }
            let (ab, eb, gb) = (aux.ab[k].as_ref(), ws.eb[k].as_ref(), &mut g.ab[k]);
            for j in 0..ab.ncols() {
                for i in 0..ab.nrows() {
                    let s1 = derivs(act, ab[(i, j)], ws.pb[nx][(i, j)]).0;
                    gb[(i, j)] = cb2 * (wk * eb[(i, j)] - wn * s1 * tb[(i, j)]);
                }
            }
        }
    }

    /// Scale the gradient in `g` by per-sample curvature bounds; returns `<grad, direction>`.
    fn precondition(&self, net: &Network, omega: &[f64], g: &mut PinnAux) -> f64 {
        let ws = self.ws.as_ref().expect("started");
        let aux = self.aux.as_ref().expect("started");
        let depth = net.depth();
        let norms = net.weight_norms_sq();
        let k2 = net.activation().lipschitz().powi(2);
        let (ca2, cb2) = (2.0 * ws.ca, 2.0 * ws.cb);
        let mut slope = 0.0;
        let inv = |l: f64| {
            if l > 0.0 && l.is_finite() {
                1.0 / l
            } else {
                0.0
            }
        };
        for k in 0..depth - 1 {
            let nx = k + 1;
            let (wk, wn, nw) = (omega[k], omega[nx], norms[nx]);
            let d = aux.d[k].as_ref();
            let o = &self.omega2[k];
            let ga = &mut g.a[k];
            for j in 0..ga.ncols() {
                let dmax = (0..d.nrows())
                    .map(|i| d[(i, j)] * d[(i, j)])
                    .fold(0.0, f64::max);
                let onext = if nx + 1 < depth {
                    self.omega2[nx][j]
                } else {
                    0.0
                };
                let s = inv(ca2 * (wk * o[j] + wn * nw * (k2 * onext + dmax)));
                for i in 0..ga.nrows() {
                    slope += ga[(i, j)] * ga[(i, j)] * s;
                    ga[(i, j)] *= s;
                }
            }
            let sd = inv(ca2 * (wk + wn * nw * k2));
            let sb = inv(cb2 * (wk + wn * nw * k2));
            for (m, s) in [(&mut g.d[k], sd), (&mut g.ab[k], sb)] {
                slope += m.squared_norm_l2() * s;
                *m *= faer::Scale(s);
            }
        }
        slope
    }

    fn aux_step(&mut self, net: &Network, omega: &[f64]) {
        let mut dir = self.dir.take().expect("started");
        self.aux_gradient(net, omega, &mut dir);
        let slope = self.precondition(net, omega, &mut dir);
        let j0 = self.ws.as_ref().expect("started").objective(omega);
        if !(slope > 0.0 && slope.is_finite()) {
            self.dir = Some(dir);
            return;
        }
        let mut tau = (self.tau * 2.0).min(self.cfg.tau);
        let mut accepted = false;
        for _ in 0..MAX_HALVINGS {
            let trial = self.trial.as_mut().expect("started");
            trial.axpy(self.aux.as_ref().expect("started"), &dir, tau);
            let wt = self.ws_trial.as_mut().expect("started");
            wt.refresh(net, trial, self.data, &self.omega2);
            let j1 = wt.objective(omega);
            if !self.cfg.backtrack || (j1.is_finite() && j1 <= j0 - ARMIJO_C * tau * slope) {
                std::mem::swap(&mut self.aux, &mut self.trial);
                std::mem::swap(&mut self.ws, &mut self.ws_trial);
                accepted = true;
                break;
            }
            tau *= 0.5;
        }
        self.tau = tau;
        if !accepted {
            self.stats.aux_rejections += 1;
        }
        self.dir = Some(dir);
    }

    fn update_gap(&self, net: &Network) {
        let aux = self.aux.as_ref().expect("started");
        let mut c = DirCache::new(net.widths(), self.data.n_interior());
        dir_forward_into(
            net,
            self.data.e_int.as_ref(),
            self.data.v_int.as_ref(),
            &mut c,
        );
        let (mut num, mut den) = (0.0, 0.0);
        for (d, dz) in aux.d.iter().zip(&c.dz) {
            num += (d - dz).squared_norm_l2();
            den += dz.squared_norm_l2();
        }
        let gap = if den > 0.0 {
            (num / den).sqrt()
        } else {
            f64::NAN
        };
        self.gap.store(gap.to_bits(), Ordering::Relaxed);
    }
}

impl Trainer for PinnPenaltyTrainer<'_> {
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
        let aux = PinnAux::forward(net, self.data);
        self.omega2 = omega_rows(&aux, self.set.omega_floor, self.set.omega_deriv);
        let mut ws = PinnWorkspace::new(net, self.data, self.set.alpha, self.set.beta_bc);
        ws.refresh(net, &aux, self.data, &self.omega2);
        self.objective = ws.objective(&self.omega(net));
        self.ws_trial = Some(ws.clone());
        self.trial = Some(aux.clone());
        self.dir = Some(aux.clone());
        self.ws = Some(ws);
        self.aux = Some(aux);
        self.tau = self.cfg.tau;
        self.update_gap(net);
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
        // Omega from the current derivative auxiliaries, fixed for this iteration.
        self.omega2 = omega_rows(
            self.aux.as_ref().expect("started"),
            self.set.omega_floor,
            self.set.omega_deriv,
        );
        {
            let (ws, aux) = (
                self.ws.as_mut().expect("started"),
                self.aux.as_ref().expect("started"),
            );
            ws.refresh(net, aux, self.data, &self.omega2);
        }
        let order: Vec<usize> = match self.cfg.sweep {
            crate::engine::SweepOrder::Backward => (0..depth).rev().collect(),
            crate::engine::SweepOrder::Forward => (0..depth).collect(),
        };
        for &k in &order {
            self.weight_step(net, k)?;
        }
        let omega = self.omega(net);
        for _ in 0..self.cfg.aux_steps {
            self.aux_step(net, &omega);
        }
        self.objective = self.ws.as_ref().expect("started").objective(&omega);
        self.update_gap(net);
        Ok(StepOutcome {
            objective: self.objective,
            ..Default::default()
        })
    }

    fn aux_loss(&self) -> Option<f64> {
        Some(self.objective)
    }

    fn stats(&self) -> TrainerStats {
        self.stats.clone()
    }

    /// The auxiliaries `a_k`, `d_k`, `ab_k` (column-major), the backtracking
    /// step size, the objective and the counters. `Omega`, the workspaces and
    /// the derivative gap are recomputed from them on load.
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        let Some(aux) = self.aux.as_ref() else {
            return Err(Error::numerical(
                self.name().to_string(),
                "checkpoint before start",
            ));
        };
        w.text("method", self.name());
        w.int("hidden_layers", aux.a.len() as u64);
        for (kind, mats) in [("a", &aux.a), ("d", &aux.d), ("ab", &aux.ab)] {
            for (k, m) in mats.iter().enumerate() {
                w.f64s_owned(&format!("{kind}_{k}"), col_major(m));
            }
        }
        w.f64("tau", self.tau);
        w.f64("objective", self.objective);
        w.stats(&self.stats);
        Ok(())
    }

    fn load_state(&mut self, r: &mut StateReader, net: &Network) -> Result<()> {
        r.expect_method(self.name())?;
        // Sizes every buffer for `net` and these points; the forward
        // auxiliaries are then overwritten.
        self.start(net)?;
        let h = r.int("hidden_layers")?;
        let want = net.depth() as u64 - 1;
        if h != want {
            return Err(r.err(format!(
                "field `meta.hidden_layers` is {h}, this network has {want} hidden layers"
            )));
        }
        let mut aux = self.aux.take().expect("started");
        for (kind, mats) in [("a", &mut aux.a), ("d", &mut aux.d), ("ab", &mut aux.ab)] {
            for (k, m) in mats.iter_mut().enumerate() {
                let mut v = vec![0.0; m.nrows() * m.ncols()];
                r.finite_f64s_into(&format!("{kind}_{k}"), &mut v)?;
                let rows = m.nrows();
                for j in 0..m.ncols() {
                    for i in 0..rows {
                        m[(i, j)] = v[j * rows + i];
                    }
                }
            }
        }
        let tau = r.f64("tau")?;
        if !(tau.is_finite() && tau > 0.0) {
            return Err(r.err(format!(
                "entry `{}`: step size {tau} is not finite and positive",
                r.full("tau")
            )));
        }
        self.tau = tau;
        self.objective = r.f64("objective")?;
        self.stats = r.stats()?;
        // The same derived state `step` leaves behind.
        self.omega2 = omega_rows(&aux, self.set.omega_floor, self.set.omega_deriv);
        let ws = self.ws.as_mut().expect("started");
        ws.refresh(net, &aux, self.data, &self.omega2);
        self.aux = Some(aux);
        self.update_gap(net);
        Ok(())
    }
}

/// `m` as one column-major array.
fn col_major(m: &Mat<f64>) -> Vec<f64> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for j in 0..m.ncols() {
        v.extend(m.col(j).iter().copied());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::pde::loss::pinn_loss;
    use crate::task::pde::{PdeConfig, Problem};
    use crate::{Activation, NetworkSpec};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn setup(seed: u64) -> (Network, PinnData) {
        let cfg = PdeConfig {
            n_interior: 31,
            n_boundary: 11,
            ..PdeConfig::default()
        };
        let data = PinnData::sample(&Problem::transport1d(2.0), &cfg, seed).unwrap();
        let net = NetworkSpec::new(vec![3, 5, 4, 3, 1]).build(seed).unwrap();
        (net, data)
    }

    fn perturb(aux: &mut PinnAux, seed: u64, s: f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for m in aux
            .a
            .iter_mut()
            .chain(aux.d.iter_mut())
            .chain(aux.ab.iter_mut())
        {
            for j in 0..m.ncols() {
                for i in 0..m.nrows() {
                    m[(i, j)] += s * rng.random_range(-1.0..1.0);
                }
            }
        }
    }

    #[test]
    fn objective_equals_the_pinn_loss_at_exact_auxiliaries() {
        for act in [Activation::Tanh, Activation::Sin] {
            let (mut net, data) = setup(3);
            net = Network::from_layers(act, net.layers().to_vec()).unwrap();
            let aux = PinnAux::forward(&net, &data);
            for (alpha, beta) in [(1.0, 1.0), (0.3, 7.0)] {
                let want = pinn_loss(&net, &data, alpha, beta).total;
                for w in [Weighting::SelfAdaptive, Weighting::Constant(5.0)] {
                    for (floor, scale) in [(1.0, 1.0), (0.0, 0.0), (3.0, 0.5)] {
                        let o2 = omega_rows(&aux, floor, scale);
                        let j = objective(&net, &aux, &data, alpha, beta, w, &o2);
                        assert!((j - want).abs() <= 1e-13 * want, "{act}: {j} vs {want}");
                    }
                }
            }
        }
    }

    fn trainer<'a>(data: &'a PinnData, w: Weighting) -> PinnPenaltyTrainer<'a> {
        PinnPenaltyTrainer::new(
            data,
            PenaltyConfig::default(),
            PinnPenaltySettings {
                alpha: 0.8,
                beta_bc: 2.0,
                omega_floor: 0.5,
                omega_deriv: 1.0,
            },
            w,
        )
    }

    fn round_trip(t: &PinnPenaltyTrainer<'_>) -> Result<StateReader> {
        let mut w = StateWriter::new();
        t.save_state(&mut w)?;
        let mut bytes = Vec::new();
        w.write_to(&mut bytes).unwrap();
        StateReader::parse(std::path::Path::new("t.sapm"), &bytes)
    }

    /// Saved and loaded mid-run (after backtracking shrank the step size),
    /// the trainer holds the same state and takes the same next step.
    #[test]
    fn saved_state_loads_bit_for_bit() {
        let (net0, data) = setup(13);
        for w in [Weighting::SelfAdaptive, Weighting::Constant(3.0)] {
            let cfg = PenaltyConfig {
                tau: 1e4,
                ..PenaltyConfig::default()
            };
            let mut net = net0.clone();
            let mut t = trainer(&data, w);
            t.cfg = cfg;
            t.start(&net).unwrap();
            for _ in 0..4 {
                t.step(&mut net).unwrap();
            }
            assert!(t.tau < cfg.tau, "{w:?}: no backtracking, tau {}", t.tau);
            let mut r = round_trip(&t).unwrap();
            let mut u = trainer(&data, w);
            u.cfg = cfg;
            u.load_state(&mut r, &net).unwrap();
            assert_eq!(u.aux, t.aux, "{w:?}");
            assert_eq!(u.tau.to_bits(), t.tau.to_bits(), "{w:?}");
            assert_eq!(u.objective.to_bits(), t.objective.to_bits(), "{w:?}");
            assert_eq!(u.stats, t.stats, "{w:?}");
            assert_eq!(
                u.gap.load(Ordering::Relaxed),
                t.gap.load(Ordering::Relaxed),
                "{w:?}"
            );
            let mut net_u = net.clone();
            let (a, b) = (t.step(&mut net).unwrap(), u.step(&mut net_u).unwrap());
            assert_eq!(a.objective.to_bits(), b.objective.to_bits(), "{w:?}");
            assert_eq!(net.params(), net_u.params(), "{w:?}");
            assert_eq!(u.aux, t.aux, "{w:?}");
        }
    }

    /// A non-finite auxiliary, a different method or network are refused,
    /// naming the entry or field.
    #[test]
    fn bad_saved_state_is_refused_by_name() {
        let (net, data) = setup(2);
        let mut t = trainer(&data, Weighting::SelfAdaptive);
        t.start(&net).unwrap();
        t.aux.as_mut().unwrap().d[1][(2, 3)] = f64::NAN;
        let mut r = round_trip(&t).unwrap();
        let e = trainer(&data, Weighting::SelfAdaptive)
            .load_state(&mut r, &net)
            .unwrap_err()
            .to_string();
        assert!(e.contains("entry `d_1`") && e.contains("not finite"), "{e}");

        let mut t = trainer(&data, Weighting::SelfAdaptive);
        t.start(&net).unwrap();
        let mut r = round_trip(&t).unwrap();
        let e = trainer(&data, Weighting::Constant(1.0))
            .load_state(&mut r, &net)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("meta.trainer.method") || e.contains("method"),
            "{e}"
        );

        let mut r = round_trip(&t).unwrap();
        let small = NetworkSpec::new(vec![3, 5, 1]).build(0).unwrap();
        let e = trainer(&data, Weighting::SelfAdaptive)
            .load_state(&mut r, &small)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hidden_layers"), "{e}");
        // Not started: nothing to save.
        let mut w = StateWriter::new();
        assert!(
            trainer(&data, Weighting::SelfAdaptive)
                .save_state(&mut w)
                .is_err()
        );
    }

    #[test]
    fn aux_gradient_matches_finite_differences() {
        let (net, data) = setup(5);
        for w in [Weighting::SelfAdaptive, Weighting::Constant(3.0)] {
            let mut t = trainer(&data, w);
            t.start(&net).unwrap();
            let mut aux = t.aux.clone().unwrap();
            perturb(&mut aux, 1, 0.3);
            t.aux = Some(aux.clone());
            let o2 = t.omega2.clone();
            t.ws.as_mut().unwrap().refresh(&net, &aux, &data, &o2);
            let omega = t.omega(&net);
            let mut g = aux.clone();
            t.aux_gradient(&net, &omega, &mut g);
            let f = |a: &PinnAux| objective(&net, a, &data, 0.8, 2.0, w, &o2);
            let h = 1e-6;
            for which in 0..3 {
                for k in 0..aux.a.len() {
                    let (rows, cols) = match which {
                        0 => (aux.a[k].nrows(), aux.a[k].ncols()),
                        1 => (aux.d[k].nrows(), aux.d[k].ncols()),
                        _ => (aux.ab[k].nrows(), aux.ab[k].ncols()),
                    };
                    for (i, j) in [(0, 0), (rows - 1, cols / 2), (rows / 2, cols - 1)] {
                        let mut ap = aux.clone();
                        let bump = |a: &mut PinnAux, dv: f64| match which {
                            0 => a.a[k][(i, j)] += dv,
                            1 => a.d[k][(i, j)] += dv,
                            _ => a.ab[k][(i, j)] += dv,
                        };
                        bump(&mut ap, h);
                        let fp = f(&ap);
                        bump(&mut ap, -2.0 * h);
                        let fm = f(&ap);
                        let fd = (fp - fm) / (2.0 * h);
                        let an = match which {
                            0 => g.a[k][(i, j)],
                            1 => g.d[k][(i, j)],
                            _ => g.ab[k][(i, j)],
                        };
                        assert!(
                            (fd - an).abs() <= 1e-6 * (1.0 + an.abs()) * f(&aux).max(1.0),
                            "{w:?} var {which} layer {k} ({i},{j}): fd {fd} vs {an}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn weight_step_solves_its_least_squares_problem() {
        let (mut net, data) = setup(7);
        for w in [Weighting::SelfAdaptive, Weighting::Constant(2.0)] {
            let mut t = trainer(&data, w);
            t.start(&net).unwrap();
            let mut aux = t.aux.clone().unwrap();
            perturb(&mut aux, 2, 0.2);
            t.aux = Some(aux.clone());
            let o2 = t.omega2.clone();
            t.ws.as_mut().unwrap().refresh(&net, &aux, &data, &o2);
            for k in (0..net.depth()).rev() {
                let before = objective(&net, &aux, &data, 0.8, 2.0, w, &o2);
                t.weight_step(&mut net, k).unwrap();
                let after = objective(&net, &aux, &data, 0.8, 2.0, w, &o2);
                assert!(
                    after <= before * (1.0 + 1e-12),
                    "layer {k}: {after} > {before}"
                );
                // Cached residual sums match a fresh evaluation.
                let cached = t.ws.as_ref().unwrap().objective(&t.omega(&net));
                assert!((cached - after).abs() <= 1e-12 * after);
                // Block optimality: the gradient of J in W~_k vanishes.
                let p0 = net.layer(k).to_owned();
                let h = 1e-6;
                for j in 0..p0.ncols() {
                    for i in 0..p0.nrows() {
                        let mut n2 = net.clone();
                        n2.layer_mut(k)[(i, j)] = p0[(i, j)] + h;
                        let fp = objective(&n2, &aux, &data, 0.8, 2.0, w, &o2);
                        n2.layer_mut(k)[(i, j)] = p0[(i, j)] - h;
                        let fm = objective(&n2, &aux, &data, 0.8, 2.0, w, &o2);
                        let g = (fp - fm) / (2.0 * h);
                        assert!(
                            g.abs() <= 1e-6 * after.max(1e-3),
                            "{w:?} layer {k} ({i},{j}): grad {g}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn iterations_decrease_j_and_track_derivatives() {
        let (net0, data) = setup(11);
        for w in [Weighting::SelfAdaptive, Weighting::Constant(1.0)] {
            let mut net = net0.clone();
            let mut t = trainer(&data, w);
            t.start(&net).unwrap();
            let j0 = t.aux_loss().unwrap();
            let mut last = j0;
            for _ in 0..5 {
                // Within an iteration (Omega fixed at its start) J does not increase.
                let aux = t.aux().unwrap().clone();
                let o2 = omega_rows(&aux, 0.5, 1.0);
                let before = objective(&net, &aux, &data, 0.8, 2.0, w, &o2);
                let out = t.step(&mut net).unwrap();
                assert!(
                    out.objective <= before * (1.0 + 1e-10),
                    "{w:?}: {} > {before}",
                    out.objective
                );
                last = out.objective;
            }
            assert!(last < j0, "{w:?}: {last} !< {j0}");
            let gap = f64::from_bits(t.gap_probe().load(Ordering::Relaxed));
            assert!(gap.is_finite() && gap < 1.0, "gap {gap}");
        }
    }
}
