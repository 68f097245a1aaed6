//! `sapm-gn`: Levenberg-Marquardt on the SAPM objective in all variables
//! jointly, the network weights `theta` and the auxiliaries `a_{l,n}`
//! (design note gauss-newton.md, section 5; docs/method.md).
//!
//! One iteration: omega from the current weights (then held fixed), the
//! linearisation of the residuals `r_{l,n} = sqrt(omega_l / N) e_{l,n}`, and
//! damped trial steps until one lowers `J_SAPM` at that omega: the
//! auxiliaries are eliminated per sample ([`schur`]), leaving a `P x P`
//! system in `delta_theta`; acceptance by the gain ratio and Nielsen's
//! damping update are the ones of [`crate::optim::lm`]. Regression only.

pub mod schur;
#[cfg(test)]
mod tests;

use super::lm::step::{
    converged, load_counts, load_damping, nielsen_accept, nielsen_reject, save_counts, save_damping,
};
use super::lm::{Counters, LmConfig};
use super::{StepOutcome, Trainer, TrainerStats};
use crate::checkpoint::{StateReader, StateWriter};
use crate::engine::loss::{AuxVars, PenaltyWorkspace, Weighting};
use crate::error::{Error, Result};
use crate::net::Network;
use faer::{Mat, MatRef};
use schur::{Linear, Shape};
use serde::{Deserialize, Serialize};

/// `[sapm_gn]`: settings of `sapm-gn` beyond `[lm]`'s damping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SapmGnConfig {
    /// Adam steps (`[adam]`) before the joint steps; 0 = cold start from
    /// the initial weights with forward-pass auxiliaries.
    pub warm_start: usize,
    /// Damping matrix `D` of `(J^T J + lambda D)`.
    pub scaling: Scaling,
    /// Omega continuation: the hidden layers' omegas are multiplied by
    /// `mu_k = omega_start^(1 - k / omega_ramp)` in joint iteration `k`
    /// (geometric from `omega_start` to 1, then 1). 1 = none.
    pub omega_start: f64,
    /// Joint iterations over which `mu` rises to 1 (0 = none).
    pub omega_ramp: usize,
}

impl Default for SapmGnConfig {
    fn default() -> Self {
        SapmGnConfig {
            warm_start: 0,
            scaling: Scaling::Identity,
            omega_start: 1.0,
            omega_ramp: 0,
        }
    }
}

impl SapmGnConfig {
    /// `omega_start` in `(0, 1]`.
    pub fn validate(&self) -> Result<()> {
        let s = self.omega_start;
        if !(s.is_finite() && s > 0.0 && s <= 1.0) {
            return Err(Error::config(
                "sapm_gn.omega_start",
                format!("must be in (0, 1], got {s}"),
            ));
        }
        Ok(())
    }

    /// The continuation factor `mu_k` of joint iteration `k` (from 0).
    pub fn omega_factor(&self, k: u64) -> f64 {
        if self.omega_ramp == 0 || k >= self.omega_ramp as u64 {
            1.0
        } else {
            self.omega_start
                .powf(1.0 - k as f64 / self.omega_ramp as f64)
        }
    }
}

/// The damping matrix of `sapm-gn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    /// `D = I` (as `lm`); `lambda` relative to the largest diagonal entry.
    #[default]
    Identity,
    /// `D = diag(J^T J)` (Marquardt): every variable damped relative to its
    /// own curvature, whatever its omega; `lm.lambda_init` is then absolute.
    /// Measured worse on sin(x^2) (the Schur matrix becomes too
    /// ill-conditioned for Cholesky as `lambda` falls).
    Marquardt,
}

/// Buffers of one problem size (not checkpointed).
struct Work {
    ws: PenaltyWorkspace,
    ws_trial: PenaltyWorkspace,
    trial_net: Network,
    trial_aux: AuxVars,
    theta: Vec<f64>,
}

/// Gauss-Newton (Levenberg-Marquardt) on `J_SAPM` for regression data.
pub struct SapmGn<'a> {
    cfg: LmConfig,
    scaled: bool,
    gn: SapmGnConfig,
    x: MatRef<'a, f64>,
    y: MatRef<'a, f64>,
    aux: Option<AuxVars>,
    lambda: f64,
    nu: f64,
    /// `lm`'s counters (`eta` unused).
    pub(crate) c: Counters,
    /// `J_SAPM` before and after the last accepted step, at the omega of
    /// that iteration (checkpointed after `c`'s last step's numbers).
    pub(crate) fixed: [f64; 2],
    /// `J_SAPM` at the current point (omega of the current weights).
    objective: f64,
    work: Option<Work>,
}

impl<'a> SapmGn<'a> {
    /// On training inputs `x` (`d x N`) and targets `y` (`m x N`), damping from `[lm]`.
    pub fn new(x: MatRef<'a, f64>, y: MatRef<'a, f64>, cfg: LmConfig, gn: SapmGnConfig) -> Self {
        SapmGn {
            cfg,
            scaled: gn.scaling == Scaling::Marquardt,
            gn,
            x,
            y,
            aux: None,
            lambda: f64::NAN,
            nu: 2.0,
            c: Counters::default(),
            fixed: [0.0; 2],
            objective: f64::NAN,
            work: None,
        }
    }

    /// The auxiliaries (after start).
    pub fn aux(&self) -> Option<&AuxVars> {
        self.aux.as_ref()
    }

    /// The current damping (NaN before the first iteration).
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// One damped iteration from `(net, aux)`.
    fn iterate(&mut self, net: &mut Network) -> Result<StepOutcome> {
        let name = "sapm-gn";
        let (Some(aux), Some(w)) = (self.aux.as_mut(), self.work.as_mut()) else {
            return Err(Error::numerical(name, "step before start"));
        };
        let Work {
            ws,
            ws_trial,
            trial_net,
            trial_aux,
            theta,
        } = w;
        let (cfg, c, y) = (&self.cfg, &mut self.c, self.y);
        // Held for this iteration: the omegas of the current weights, the
        // hidden layers' scaled by the continuation factor.
        let mut omega = Weighting::SelfAdaptive.omega(&net.weight_norms_sq());
        let mu = self.gn.omega_factor(c.iterations);
        let hidden = omega.len() - 1;
        omega[..hidden].iter_mut().for_each(|o| *o *= mu);
        ws.refresh(net, aux, y);
        net.params_into(theta);
        let lin = Linear::new(net, aux, ws, &omega, self.scaled);
        let f = lin.f;
        if !f.is_finite() {
            return Err(Error::numerical(name, format!("J_SAPM became {f}")));
        }
        c.iterations += 1;
        if cfg.tol_grad > 0.0 && 2.0 * lin.grad_max_abs() <= cfg.tol_grad {
            return Ok(StepOutcome::new(f, true));
        }
        let scale = if self.scaled {
            1.0
        } else {
            lin.diag_max.max(f64::MIN_POSITIVE)
        };
        if !self.lambda.is_finite() {
            self.lambda = cfg.lambda_init * scale;
        }
        let floor = cfg.lambda_min.max(10.0 * theta.len() as f64 * f64::EPSILON) * scale;
        let x_norm = (theta.iter().map(|v| v * v).sum::<f64>()
            + aux.a.iter().map(|a| a.squared_norm_l2()).sum::<f64>())
        .sqrt();
        let mut accepted = None;
        for _ in 0..cfg.max_trials {
            self.lambda = self.lambda.max(floor);
            c.solves += 1;
            let st = lin.step(self.lambda)?;
            c.fallbacks += st.fallback as u64;
            let pred = -2.0 * lin.dot_grad(&st) - lin.j_norm_sq(&st);
            let dn = st.norm_sq().sqrt();
            if dn.is_nan() || dn <= f64::EPSILON * (x_norm + f64::EPSILON) {
                break;
            }
            let trial: Vec<f64> = theta.iter().zip(&st.theta).map(|(t, d)| t + d).collect();
            trial_net.set_params(&trial);
            for ((t, a), d) in trial_aux.a.iter_mut().zip(&aux.a).zip(&st.aux) {
                *t = a + d;
            }
            ws_trial.refresh(trial_net, trial_aux, y);
            c.evaluations += 1;
            let f_new = ws_trial.objective(&omega);
            let rho = (f - f_new) / pred;
            if f_new.is_finite() && pred > 0.0 && f_new < f && rho > 0.0 {
                nielsen_accept(&mut self.lambda, &mut self.nu, rho);
                accepted = Some((f_new, dn, rho));
                break;
            }
            c.rejections += 1;
            nielsen_reject(&mut self.lambda, &mut self.nu);
        }
        let Some((f_new, dn, rho)) = accepted else {
            c.step_norm = 0.0;
            return Ok(StepOutcome::new(f, true));
        };
        net.clone_from(trial_net);
        std::mem::swap(aux, trial_aux);
        (c.step_norm, c.rho, self.fixed) = (dn, rho, [f, f_new]);
        // The true J_SAPM at the new point: the residuals are those of the
        // trial, the omegas those of its weights.
        let omega_new = Weighting::SelfAdaptive.omega(&net.weight_norms_sq());
        self.objective = ws_trial.objective(&omega_new);
        Ok(StepOutcome::new(
            self.objective,
            converged(cfg, dn, x_norm, f, f_new),
        ))
    }
}

/// Bytes a `sapm-gn` run of a network with `widths` on `n` samples needs
/// beyond the network: the Schur matrix and its factor (`P x P` each), one
/// chunk of the per-sample `C_n`, and per sample the auxiliaries (current,
/// trial, step), the layer inputs and residuals (twice), `s'(a)`, `J_a^T r`
/// and the `O`-vectors of the right-hand side and the back-substitution.
pub fn bytes_needed(widths: &[usize], n: usize) -> f64 {
    let depth = widths.len() - 1;
    let p: usize = (0..depth).map(|l| (widths[l] + 1) * widths[l + 1]).sum();
    let h: usize = widths[1..depth].iter().sum();
    let o = h + widths[depth];
    let kt: usize = widths[..depth].iter().map(|k| k + 1).sum();
    let per_sample = 5 * h + 4 * o + 2 * kt;
    8.0 * (2.0 * (p * p) as f64 + 4e6 + (n * per_sample) as f64)
}

impl Trainer for SapmGn<'_> {
    fn name(&self) -> &str {
        "sapm-gn"
    }

    fn start(&mut self, net: &Network) -> Result<()> {
        if net.depth() < 2 {
            return Err(Error::config(
                "network.depth",
                "sapm-gn needs at least 2 layers (one hidden)",
            ));
        }
        let _ = Shape::new(net);
        let gib = bytes_needed(net.widths(), self.x.ncols()) / (1u64 << 30) as f64;
        if gib > self.cfg.max_memory_gib {
            return Err(Error::config(
                "lm.max_memory_gib",
                format!(
                    "sapm-gn's joint normal equations need {gib:.1} GiB (limit {})",
                    self.cfg.max_memory_gib
                ),
            ));
        }
        let aux = AuxVars::forward(net, self.x);
        let mut ws = PenaltyWorkspace::new(net, self.x);
        ws.refresh(net, &aux, self.y);
        self.objective = ws.objective(&Weighting::SelfAdaptive.omega(&net.weight_norms_sq()));
        self.work = Some(Work {
            ws_trial: ws.clone(),
            ws,
            trial_net: net.clone(),
            trial_aux: aux.clone(),
            theta: vec![0.0; net.num_params()],
        });
        self.aux = Some(aux);
        self.lambda = f64::NAN;
        self.nu = 2.0;
        self.c = Counters::default();
        self.fixed = [0.0; 2];
        Ok(())
    }

    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        self.iterate(net)
    }

    fn aux_loss(&self) -> Option<f64> {
        self.aux.as_ref().map(|_| self.objective)
    }

    fn progress(&self) -> Vec<(&'static str, f64)> {
        vec![("lambda", self.lambda), ("step", self.c.step_norm)]
    }

    fn stats(&self) -> TrainerStats {
        self.c.stats()
    }

    fn non_finite_state(&self) -> Option<String> {
        let aux = self.aux.as_ref()?;
        aux.a.iter().enumerate().find_map(|(l, a)| {
            (0..a.ncols())
                .flat_map(|j| a.col_as_slice(j).iter())
                .find(|v| !v.is_finite())
                .map(|v| format!("auxiliary a_{} (layer {}) became {v}", l + 1, l + 1))
        })
    }

    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        let Some(aux) = self.aux.as_ref() else {
            return Err(Error::numerical("sapm-gn", "checkpoint before start"));
        };
        w.text("method", "sapm-gn");
        save_damping(w, self.lambda, self.nu);
        w.f64("objective", self.objective);
        let (c, [before, after]) = (&self.c, self.fixed);
        save_counts(w, c.counts(), vec![c.step_norm, c.rho, before, after]);
        w.f64s_owned("aux", flatten(&aux.a));
        Ok(())
    }

    fn load_state(&mut self, r: &mut StateReader, net: &Network) -> Result<()> {
        r.expect_method("sapm-gn")?;
        self.start(net)?;
        let (lambda, nu) = load_damping(r)?;
        let objective = r.f64("objective")?;
        let (counters, last) = load_counts(r, 4)?;
        let aux = self.aux.as_mut().expect("started");
        let mut flat = vec![0.0; aux.a.iter().map(|a| a.nrows() * a.ncols()).sum()];
        r.finite_f64s_into("aux", &mut flat)?;
        let mut k = 0;
        for a in &mut aux.a {
            for j in 0..a.ncols() {
                let col = a.col_as_slice_mut(j);
                col.copy_from_slice(&flat[k..k + col.len()]);
                k += col.len();
            }
        }
        (self.lambda, self.nu, self.objective) = (lambda, nu, objective);
        self.c = Counters::from_counts(counters, last[0], last[1]);
        self.fixed = [last[2], last[3]];
        Ok(())
    }
}

/// Matrices column by column, one after another.
fn flatten(ms: &[Mat<f64>]) -> Vec<f64> {
    let mut v = Vec::with_capacity(ms.iter().map(|a| a.nrows() * a.ncols()).sum());
    for a in ms {
        for j in 0..a.ncols() {
            v.extend_from_slice(a.col_as_slice(j));
        }
    }
    v
}
