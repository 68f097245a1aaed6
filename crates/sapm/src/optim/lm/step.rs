//! One LM iteration (damped trials with Nielsen's update, optional geodesic
//! acceleration) and one line-search (ENGD) iteration.

use super::{Counters, Lm, LmConfig, LmModel, Work};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Error, Result};
use crate::net::Network;
use crate::optim::StepOutcome;

/// Checkpoint the damping `(lambda, nu)` of Nielsen's rule (shared by `lm`,
/// `varpro` and `sapm-gn`, like the rule itself).
pub(crate) fn save_damping(w: &mut StateWriter<'_>, lambda: f64, nu: f64) {
    w.f64("lambda", lambda);
    w.f64("nu", nu);
}

/// Read back [`save_damping`]'s entries, refusing values Nielsen's rule
/// never produces.
pub(crate) fn load_damping(r: &mut StateReader) -> Result<(f64, f64)> {
    let lambda = r.f64("lambda")?;
    let nu = r.f64("nu")?;
    if !(lambda.is_nan() || lambda.is_finite() && lambda > 0.0) || !(nu.is_finite() && nu >= 2.0) {
        return Err(r.err(format!(
            "entry `{}`/`nu`: lambda {lambda} must be NaN or finite and > 0, nu {nu} finite and >= 2",
            r.full("lambda")
        )));
    }
    Ok((lambda, nu))
}

/// Checkpoint the five counters (iterations, rejections, solves, fallbacks,
/// evaluations) and the last step's numbers.
pub(crate) fn save_counts(w: &mut StateWriter<'_>, counts: [u64; 5], last: Vec<f64>) {
    w.u64s("counters", counts.to_vec());
    w.f64s_owned("last", last);
}

/// Read back [`save_counts`]'s entries; `n_last` last values are expected.
pub(crate) fn load_counts(r: &mut StateReader, n_last: usize) -> Result<([u64; 5], Vec<f64>)> {
    let counters = r.u64s("counters")?;
    let last = r.f64s("last")?;
    let Ok(counts) = <[u64; 5]>::try_from(counters.as_slice()) else {
        return Err(r.err(format!(
            "entry `{}`: 5 counters and {n_last} last values expected",
            r.full("counters")
        )));
    };
    if last.len() != n_last {
        return Err(r.err(format!(
            "entry `{}`: 5 counters and {n_last} last values expected",
            r.full("counters")
        )));
    }
    Ok((counts, last))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `theta + eta delta` into `out`.
fn axpy_into(theta: &[f64], eta: f64, delta: &[f64], out: &mut [f64]) {
    for ((o, t), d) in out.iter_mut().zip(theta).zip(delta) {
        *o = t + eta * d;
    }
}

/// Loss at `theta + eta delta` (into `w.trial`; `w.r_trial` holds its
/// residuals), or `None` when the point cannot be evaluated (VarPro's solve
/// failed) or its loss is not finite.
fn evaluate(
    model: &mut dyn LmModel,
    net: &Network,
    w: &mut Work,
    eta: f64,
    c: &mut Counters,
) -> Option<f64> {
    axpy_into(&w.theta, eta, &w.delta, &mut w.trial_theta);
    w.trial.clone_from(net);
    model.set_params(&mut w.trial, &w.trial_theta).ok()?;
    c.evaluations += 1;
    let f = model.residuals_into(&w.trial, &mut w.r_trial);
    let f = w.total(f);
    f.is_finite().then_some(f)
}

/// Count an accepted step of length `dn` from `f` to `f_new`, and its outcome.
fn accepted(
    cfg: &LmConfig,
    c: &mut Counters,
    dn: f64,
    theta_norm: f64,
    (f, f_new): (f64, f64),
) -> StepOutcome {
    c.step_norm = dn;
    StepOutcome::new(f_new, converged(cfg, dn, theta_norm, f, f_new))
}

/// The convergence tests on an accepted step of length `dn` from `f` to `f_new`.
pub(crate) fn converged(cfg: &LmConfig, dn: f64, theta_norm: f64, f: f64, f_new: f64) -> bool {
    (cfg.tol_step > 0.0 && dn <= cfg.tol_step * (theta_norm + cfg.tol_step))
        || (cfg.tol_rel > 0.0 && f - f_new <= cfg.tol_rel * f)
}

impl Lm<'_> {
    /// One iteration from `net` (the model is prepared).
    pub(super) fn iterate(&mut self, net: &mut Network) -> Result<StepOutcome> {
        let name = self.name;
        let Lm {
            cfg,
            model,
            lambda,
            nu,
            c,
            work,
            seconds_trials,
            ..
        } = self;
        let w = work
            .as_mut()
            .ok_or_else(|| Error::numerical(name, "step before start"))?;
        let model = model.as_mut();
        model.params_into(net, &mut w.theta);
        let f = model.residuals_into(net, &mut w.r);
        let f = w.total(f);
        c.evaluations += 1;
        if !f.is_finite() {
            return Err(Error::numerical(name, format!("the loss became {f}")));
        }
        w.normal.linearize(model, net, &w.r);
        let g = w.normal.grad().to_vec();
        c.iterations += 1;
        let gmax = 2.0 * g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if cfg.tol_grad > 0.0 && gmax <= cfg.tol_grad {
            return Ok(StepOutcome::new(f, true));
        }
        let theta_norm = norm(&w.theta);
        let scale = w.normal.jtj_diag_max().max(f64::MIN_POSITIVE);
        let (t0, s0) = (std::time::Instant::now(), w.normal.seconds_solve);
        let out = if cfg.line_search {
            line_search(cfg, model, net, w, c, f, scale, theta_norm)
        } else {
            if !lambda.is_finite() {
                *lambda = cfg.lambda_init * scale;
            }
            damped(cfg, model, net, w, c, lambda, nu, f, &g, theta_norm)
        };
        *seconds_trials += t0.elapsed().as_secs_f64() - (w.normal.seconds_solve - s0);
        out
    }
}

/// LM trials at increasing `lambda` until one lowers the loss.
#[allow(clippy::too_many_arguments)]
fn damped(
    cfg: &LmConfig,
    model: &mut dyn LmModel,
    net: &mut Network,
    w: &mut Work,
    c: &mut Counters,
    lambda: &mut f64,
    nu: &mut f64,
    f: f64,
    g: &[f64],
    theta_norm: f64,
) -> Result<StepOutcome> {
    for _ in 0..cfg.max_trials {
        *lambda = lambda.max(w.normal.lambda_floor(cfg.lambda_min));
        c.solves += 1;
        c.fallbacks += w.normal.step(*lambda, &mut w.delta)? as u64;
        if cfg.geodesic {
            geodesic(cfg, model, net, w, c, *lambda)?;
        }
        let pred = -2.0 * dot(&w.delta, g) - w.normal.j_norm_sq(&w.delta);
        let dn = norm(&w.delta);
        if dn.is_nan() || dn <= f64::EPSILON * (theta_norm + f64::EPSILON) {
            // The step vanishes against the parameters: nothing left to gain.
            break;
        }
        let f_new = evaluate(model, net, w, 1.0, c);
        let rho = f_new.map_or(f64::NAN, |fnew| (f - fnew) / pred);
        if let Some(f_new) = f_new.filter(|&fnew| pred > 0.0 && fnew < f && rho > 0.0) {
            model.accept();
            net.clone_from(&w.trial);
            nielsen_accept(lambda, nu, rho);
            c.rho = rho;
            return Ok(accepted(cfg, c, dn, theta_norm, (f, f_new)));
        }
        c.rejections += 1;
        nielsen_reject(lambda, nu);
    }
    c.step_norm = 0.0;
    Ok(StepOutcome::new(f, true))
}

/// Nielsen's update after an accepted step with gain ratio `rho > 0`:
/// `lambda *= max(1/3, 1 - (2 rho - 1)^3)`, `nu = 2`.
pub(crate) fn nielsen_accept(lambda: &mut f64, nu: &mut f64, rho: f64) {
    let t = 2.0 * rho - 1.0;
    *lambda *= (1.0f64 / 3.0).max(1.0 - t * t * t);
    *nu = 2.0;
}

/// Nielsen's update after a rejected step: `lambda *= nu`, `nu *= 2`.
pub(crate) fn nielsen_reject(lambda: &mut f64, nu: &mut f64) {
    *lambda *= *nu;
    *nu *= 2.0;
}

/// Geodesic acceleration: `delta <- v + a / 2` with
/// `a = -(J^T J + lambda I)^{-1} J^T r_vv`, `r_vv` the central difference of
/// `r` along `v = delta`, when `2 |a| <= alpha |v|`.
fn geodesic(
    cfg: &LmConfig,
    model: &mut dyn LmModel,
    net: &Network,
    w: &mut Work,
    c: &mut Counters,
    lambda: f64,
) -> Result<()> {
    let h = cfg.geodesic_h;
    let Some(_) = evaluate(model, net, w, h, c) else {
        return Ok(());
    };
    let rp = w.r_trial.clone();
    let Some(_) = evaluate(model, net, w, -h, c) else {
        return Ok(());
    };
    let rvv: Vec<f64> = rp
        .iter()
        .zip(&w.r_trial)
        .zip(&w.r)
        .map(|((p, m), r)| (p - 2.0 * r + m) / (h * h))
        .collect();
    let mut a = vec![0.0; w.delta.len()];
    c.fallbacks += w.normal.step_for(model, net, lambda, &rvv, &mut a)? as u64;
    if 2.0 * norm(&a) <= cfg.geodesic_alpha * norm(&w.delta) {
        for (d, ai) in w.delta.iter_mut().zip(&a) {
            *d += 0.5 * ai;
        }
    }
    Ok(())
}

/// ENGD: the Gauss-Newton direction with damping `ls_damping`, and the best
/// of the step lengths `1, 1/2, ..., 2^-ls_steps`; the damping grows 100x
/// when none lowers the loss.
#[allow(clippy::too_many_arguments)]
fn line_search(
    cfg: &LmConfig,
    model: &mut dyn LmModel,
    net: &mut Network,
    w: &mut Work,
    c: &mut Counters,
    f: f64,
    scale: f64,
    theta_norm: f64,
) -> Result<StepOutcome> {
    let mut damping = cfg.ls_damping * scale;
    for _ in 0..cfg.max_trials {
        let lam = damping.max(w.normal.lambda_floor(cfg.lambda_min));
        c.solves += 1;
        c.fallbacks += w.normal.step(lam, &mut w.delta)? as u64;
        let mut best: Option<(f64, f64)> = None;
        let mut eta = 1.0;
        for _ in 0..=cfg.ls_steps {
            if let Some(fe) = evaluate(model, net, w, eta, c)
                && fe < best.map_or(f, |b| b.1)
            {
                best = Some((eta, fe));
            }
            eta *= 0.5;
        }
        if let Some((eta, f_new)) = best {
            axpy_into(&w.theta, eta, &w.delta, &mut w.trial_theta);
            model.set_params(net, &w.trial_theta)?;
            model.accept();
            let dn = eta * norm(&w.delta);
            c.eta = eta;
            return Ok(accepted(cfg, c, dn, theta_norm, (f, f_new)));
        }
        c.rejections += 1;
        damping *= 100.0;
    }
    c.step_norm = 0.0;
    Ok(StepOutcome::new(f, true))
}
