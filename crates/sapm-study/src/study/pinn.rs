//! Helpers shared by the PINN studies (`transport`, `derivatives`): the
//! method settings of the `examples/pde-*.toml` configs scaled to a budget,
//! executing a PINN run, and its extra `results.csv` columns.

use super::PlanInput;
use crate::error::{Error, Result};
use crate::results::{FAIL_REL_L2, ResultRow};
use crate::runner::{RunOutput, RunSpec, regression_row};
use sapm::driver::NoObserver;

/// A PINN run fails when its rel L2 error is at least this (or not a number):
/// at 0.5 the prediction is no closer to `u` than half its size, which on these
/// problems means the wave was not learned (the trivial `u = 0` scores 1).
pub const FAIL_THRESHOLD: f64 = 0.5;

/// Method labels of the PINN studies, as in `examples/pde-*.toml`.
pub const METHODS: [&str; 5] = ["ls-adam", "ls-adam-lbfgs", "pm", "sapm", "sapm-warm"];

/// Extra `results.csv` columns of a PINN run, in order.
pub const EXTRAS: [&str; 7] = [
    "beta",
    "rel_l2",
    "rel_l2_f32",
    "pde_loss",
    "bc_loss",
    "derivative_gap",
    FAIL_REL_L2,
];

/// Config overrides shared by every run on `problem` with speed `beta`:
/// the examples' network (width 20, tanh) and points (1000 interior, 200
/// boundary, 101 x 101 test grid, unit weights).
pub fn problem_sets(problem: &str, beta: f64) -> Vec<String> {
    vec![
        "network.width=20".into(),
        "network.activation=tanh".into(),
        format!("pde.problem={problem}"),
        format!("pde.beta={beta:?}"),
        "pde.n_interior=1000".into(),
        "pde.n_boundary=200".into(),
        "pde.n_test=101".into(),
        "pde.alpha=1.0".into(),
        "pde.beta_bc=1.0".into(),
    ]
}

/// How often a method records its history, as in the examples (a study
/// base setting, so `--set train.record_every=N` overrides it).
pub fn record_every(label: &str) -> usize {
    if label.starts_with("ls-") { 50 } else { 10 }
}

/// The method settings of `label` for an outer-iteration budget `k` (the
/// examples use `k = 1500`): Adam gets `4k` steps, Adam -> L-BFGS `4k/3 + 8k/3`,
/// PM and cold SAPM `k`, warm SAPM `4k/3` Adam steps then `k` SAPM iterations.
/// So every method keeps the examples' proportions.
pub fn method_sets(label: &str, k: usize) -> Result<Vec<String>> {
    let warm = (4 * k).div_ceil(3);
    let sapm = ["sapm.omega_mode=coupled", "sapm.solver=qr"].map(String::from);
    let mut v = match label {
        "ls-adam" => vec![
            "method=ls-adam".into(),
            "adam.lr=1e-3".into(),
            format!("train.max_iterations={}", 4 * k),
        ],
        "ls-adam-lbfgs" => vec![
            "method=ls-adam-lbfgs".into(),
            "adam.lr=1e-3".into(),
            format!("adam_lbfgs.adam_steps={warm}"),
            format!("train.max_iterations={}", 4 * k),
        ],
        "pm" => vec![
            "method=pm".into(),
            "pm.beta=1.0".into(),
            "pm.warm_start=0".into(),
            format!("train.max_iterations={k}"),
        ],
        "sapm" => {
            let mut v = vec!["method=sapm".into(), "sapm.warm_start=0".into()];
            v.extend(sapm.clone());
            v.push(format!("train.max_iterations={k}"));
            v
        }
        "sapm-warm" => {
            let mut v = vec!["method=sapm".into(), format!("sapm.warm_start={warm}")];
            v.extend(sapm.clone());
            v.push(format!("train.max_iterations={}", warm + k));
            v
        }
        other => {
            return Err(Error::option(
                "study.methods",
                format!(
                    "unknown PINN method {other:?}; known: {}",
                    METHODS.join(", ")
                ),
            ));
        }
    };
    v.shrink_to_fit();
    Ok(v)
}

/// A validated config for one PINN run: problem, user `--set`, time limit,
/// method, seed.
pub fn pinn_config(
    p: &PlanInput,
    problem: &str,
    beta: f64,
    depth: usize,
    label: &str,
    seed: u64,
) -> Result<(sapm::config::Checked, Vec<String>)> {
    let mut base = problem_sets(problem, beta);
    base.push(format!("network.depth={depth}"));
    base.push(format!("train.record_every={}", record_every(label)));
    let budget = [format!("train.max_seconds={:?}", p.budget.seconds)];
    p.config(
        &base,
        &budget,
        &method_sets(label, p.budget.iterations)?,
        seed,
    )
}

/// `1` for 1.0, `2.5` for 2.5: speeds in run ids and labels.
pub fn beta_str(b: f64) -> String {
    if b.fract() == 0.0 && b.abs() < 1e15 {
        format!("{}", b as i64)
    } else {
        format!("{b}")
    }
}

fn extras(beta: f64, s: Option<&sapm::fit::Summary>) -> Vec<(String, f64)> {
    let nan = f64::NAN;
    let v = |o: Option<f64>| o.unwrap_or(nan);
    let vals = match s {
        Some(s) => [
            beta,
            v(s.rel_l2),
            v(s.rel_l2_f32),
            v(s.pde_loss),
            v(s.bc_loss),
            v(s.derivative_gap),
            FAIL_THRESHOLD,
        ],
        None => [beta, nan, nan, nan, nan, nan, FAIL_THRESHOLD],
    };
    EXTRAS
        .iter()
        .zip(vals)
        .map(|(n, x)| (n.to_string(), x))
        .collect()
}

/// Train one PINN run (`cfg.pde` is set by the plan); errors become a row
/// with `status = "error"`. The row carries [`EXTRAS`].
pub fn execute_pinn(study: &str, spec: &RunSpec) -> RunOutput {
    let beta = spec.cfg.pde.as_ref().map_or(f64::NAN, |p| p.beta);
    match sapm::fit::fit_pde(&spec.cfg, &mut NoObserver) {
        Ok(f) => {
            let mut row = regression_row(study, spec, &f);
            row.extra = extras(beta, Some(&f.summary));
            RunOutput {
                row,
                summary_json: sapm::verdict::summary_json(&f.summary, &f.history, &[]).ok(),
                history: f.history,
                metric_names: f.metric_names,
                model: Some(f.model),
            }
        }
        Err(e) => {
            let mut row = ResultRow::error(
                study,
                &spec.id,
                &spec.label,
                spec.cfg.method.name(),
                spec.cfg.network.depth,
                &spec.variant,
                spec.cfg.seed,
                e.to_string(),
            );
            row.extra = extras(beta, None);
            RunOutput {
                row,
                history: Vec::new(),
                metric_names: Vec::new(),
                summary_json: None,
                model: None,
            }
        }
    }
}

/// The *Definitions* of a PINN study's report.
pub fn definitions() -> Vec<String> {
    vec![
        "**rel L2**: `|u - u_exact|_2 / |u_exact|_2` of the final network on the problem's test grid (`n_test` points per coordinate); `f32` evaluates the same network in single precision.".into(),
        format!("**failed**: rel L2 >= {FAIL_THRESHOLD}, or not a number, or the run ended in an error (the prediction is then no closer to u than half its size; u = 0 scores 1). results.csv has `fail_rel_l2` = {FAIL_THRESHOLD} on every row and its `failed` column follows this rule."),
        "**derivative gap**: `|d - dz|_F / |dz|_F` over all hidden layers and interior points, `d` the derivative auxiliaries and `dz` the exact directional derivatives of the network at the end (PM/SAPM only).".into(),
        "**|W_L|²**: squared Frobenius norm of the output layer's weights; huge values signal cancellation between large weights (check the f32 rel L2).".into(),
        "**pde_loss / bc_loss** (results.csv): mean squared PDE residual on the interior points and mean squared boundary residual; `train_mse`/`test_mse` are the MSE against the exact solution on the interior points and the test grid.".into(),
        "Medians over seeds count a missing number (error) as +inf; `[min, max]` are over seeds.".into(),
    ]
}

/// Runs ordered from best to worst `rel_l2` (not a number last).
pub fn by_rel_l2<'a, T>(runs: &[&'a T], rel: impl Fn(&T) -> f64) -> Vec<&'a T> {
    let mut v = runs.to_vec();
    let key = |r: &T| {
        let x = rel(r);
        if x.is_nan() { f64::INFINITY } else { x }
    };
    v.sort_by(|a, b| key(a).total_cmp(&key(b)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_settings_keep_the_examples_proportions() {
        let k = |l: &str| method_sets(l, 1500).unwrap();
        assert!(k("ls-adam").contains(&"train.max_iterations=6000".to_string()));
        let al = k("ls-adam-lbfgs");
        assert!(al.contains(&"adam_lbfgs.adam_steps=2000".to_string()));
        assert!(al.contains(&"train.max_iterations=6000".to_string()));
        let w = k("sapm-warm");
        assert!(w.contains(&"sapm.warm_start=2000".to_string()));
        assert!(w.contains(&"train.max_iterations=3500".to_string()));
        assert!(k("sapm").contains(&"train.max_iterations=1500".to_string()));
        let e = method_sets("adam", 10).unwrap_err().to_string();
        assert!(e.contains("study.methods") && e.contains("adam"), "{e}");
        assert_eq!(beta_str(10.0), "10");
        assert_eq!(beta_str(2.5), "2.5");
    }

    #[test]
    fn pinn_rows_fail_on_rel_l2() {
        let mut r = ResultRow::error("t", "r", "sapm", "sapm", 4, "v", 0, String::new());
        r.status = "max_iterations".into();
        // A train MSE far above the constant predictor's does not matter here.
        r.train_mse = 10.0;
        r.constant_predictor_mse = 0.1;
        r.extra = extras(1.0, None);
        assert!(r.failed(), "NaN rel_l2 fails");
        let set = |r: &mut ResultRow, v: f64| r.extra[1].1 = v;
        set(&mut r, 0.49);
        assert!(!r.failed());
        set(&mut r, 0.5);
        assert!(r.failed());
        r.status = "error".into();
        set(&mut r, 0.1);
        assert!(r.failed());
    }
}
