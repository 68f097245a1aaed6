//! `optimizers`: every method at equal CPU time on the regression and PINN
//! problems of issue 16, against the accuracy frontier of the Gauss-Newton
//! family (`lm`, `varpro`, `sapm-gn`).
//!
//! Problems ([`CASES`]): sin(x^2) at L = 6 and 10, Franke's 2-D surface, the
//! two-output sin/cos(x^2), and the PINNs steady1d, transport_inflow,
//! transport1d beta = 1 and 10, and beta = 30 with time marching (K = 10
//! windows). Every run trains for the same CPU seconds (`train.clock =
//! "cpu"`, one thread per run): `--seconds S` on regression problems,
//! `study.pinn_seconds` on PINNs (a marching run splits it over its windows).
//! Methods run with the settings of the examples; a method that does not
//! apply to a problem kind (`elm`, `varpro`, `sapm-gn` on PINNs) is left out.
//!
//! Files: this one (problems, methods, plan, execution), `table` (the
//! per-problem tables, error-against-time plots and sentences).

pub(super) mod table;

use super::pinn::{FAIL_THRESHOLD, execute_pinn, method_sets, problem_sets};
use super::regression::method_grid;
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::Result;
use crate::results::FAIL_REL_L2;
use crate::runner::{RunOutput, RunSpec, execute_regression_in};
use sapm::record::Record;
use std::path::Path;

/// The optimizers study (see the module docs).
pub struct Optimizers;

/// What a problem is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A built-in regression target: name, depth L, training and test points.
    Regression(&'static str, usize, usize, usize),
    /// A built-in PINN: problem, speed beta, time windows K (1: no marching).
    Pinn(&'static str, f64, usize),
}

/// One problem of the study: its key (`study.problems`, run ids) and kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Case {
    /// Key, e.g. `sin_x2-L6`.
    pub key: &'static str,
    /// What it is.
    pub kind: Kind,
}

/// The problems, in report order.
pub const CASES: [Case; 9] = [
    Case {
        key: "sin_x2-L6",
        kind: Kind::Regression("sin_x2", 6, 100, 1000),
    },
    Case {
        key: "sin_x2-L10",
        kind: Kind::Regression("sin_x2", 10, 100, 1000),
    },
    Case {
        key: "franke-L6",
        kind: Kind::Regression("franke", 6, 400, 2500),
    },
    Case {
        key: "sincos_x2-L6",
        kind: Kind::Regression("sincos_x2", 6, 100, 1000),
    },
    Case {
        key: "steady1d",
        kind: Kind::Pinn("steady1d", 1.0, 1),
    },
    Case {
        key: "inflow",
        kind: Kind::Pinn("transport_inflow", 1.0, 1),
    },
    Case {
        key: "t1d-b1",
        kind: Kind::Pinn("transport1d", 1.0, 1),
    },
    Case {
        key: "t1d-b10",
        kind: Kind::Pinn("transport1d", 10.0, 1),
    },
    Case {
        key: "t1d-b30-march",
        kind: Kind::Pinn("transport1d", 30.0, 10),
    },
];

/// Every method label, in report order.
pub const METHODS: [&str; 10] = [
    "ls-adam",
    "ls-lbfgs",
    "ls-adam-lbfgs",
    "elm",
    "pm",
    "sapm",
    "sapm-warm",
    "lm",
    "varpro",
    "sapm-gn",
];

/// The baseline every ratio is taken against.
pub const BASELINE: &str = "ls-adam-lbfgs";

/// Methods that run on a PINN problem.
const PINN_METHODS: [&str; 7] = [
    "ls-adam",
    "ls-lbfgs",
    "ls-adam-lbfgs",
    "pm",
    "sapm",
    "sapm-warm",
    "lm",
];

/// Error thresholds of the time-to-reach columns.
pub const THRESHOLDS: [f64; 3] = [1e-3, 1e-6, 1e-9];

/// Extra `results.csv` columns, in order (the same on every row).
pub const COLUMNS: [&str; 10] = [
    "rel_l2",
    "rel_l2_f32",
    "max_err_test",
    "max_err_between",
    "spike_ratio",
    FAIL_REL_L2,
    "t_1e-3",
    "t_1e-6",
    "t_1e-9",
    "windows",
];

/// A guard against a run without a time limit: time decides.
pub(super) const NO_ITERATION_LIMIT: usize = 1_000_000_000;

static INFO: StudyInfo = StudyInfo {
    name: "optimizers",
    about: "every method at equal CPU time on regression and PINN problems: the Gauss-Newton frontier against Adam, L-BFGS and SAPM",
    budget: Budget {
        seeds: 5,
        iterations: NO_ITERATION_LIMIT,
        seconds: 6.0,
    },
    options: &[
        OptionDoc::new(
            "study.problems",
            "all nine",
            "subset of sin_x2-L6, sin_x2-L10, franke-L6, sincos_x2-L6, steady1d, inflow, t1d-b1, t1d-b10, t1d-b30-march",
        ),
        OptionDoc::new(
            "study.methods",
            "all ten",
            "subset of ls-adam, ls-lbfgs, ls-adam-lbfgs, elm, pm, sapm, sapm-warm, lm, varpro, sapm-gn (elm, varpro and sapm-gn run on regression problems only)",
        ),
        OptionDoc::new(
            "study.pinn_seconds",
            "30",
            "CPU seconds of every PINN run (--seconds is the regression runs' budget); a marching run gives each of its K windows 1/K of it",
        ),
    ],
};

/// `key=value` overrides of method `label` on a regression problem: the
/// depth study's settings (warm SAPM: 2000 Adam steps, caps 100 and 30) and
/// examples/varpro.toml's ridge, which keeps the output weights moderate.
fn regression_sets(label: &str) -> Vec<String> {
    match label {
        "varpro" => vec!["method=varpro".into(), "lm.varpro_ridge=1e-18".into()],
        _ => method_grid(label, 2000, 100, 30),
    }
}

/// `key=value` overrides of method `label` on a PINN with `windows` windows
/// (the second-order study's too).
pub(super) fn pinn_sets(label: &str, windows: usize) -> Result<Vec<String>> {
    let mut v = match label {
        "ls-lbfgs" | "lm" | "varpro" | "elm" | "sapm-gn" => vec![format!("method={label}")],
        // examples/pde-*.toml (their budget is replaced by the time limit).
        _ => method_sets(label, 1500)?,
    };
    if windows > 1 {
        // examples/pde-transport1d-march.toml: 300 Adam steps per window.
        for s in v.iter_mut() {
            if s.starts_with("adam_lbfgs.adam_steps=") {
                *s = "adam_lbfgs.adam_steps=300".into();
            } else if s.starts_with("sapm.warm_start=") && label == "sapm-warm" {
                *s = "sapm.warm_start=300".into();
            }
        }
    }
    Ok(v)
}

/// How often a method records its history: often enough for the
/// time-to-reach columns, rarely enough not to slow the fast methods.
pub(super) fn record_every(label: &str) -> usize {
    match label {
        "lm" | "varpro" | "sapm-gn" => 5,
        "pm" | "sapm" | "sapm-warm" => 10,
        "elm" => 1,
        _ => 50,
    }
}

/// The problems and methods of a plan.
fn selection(p: &PlanInput) -> Result<(Vec<Case>, Vec<String>)> {
    let cases = p.params.chosen("problems", &CASES, |c| c.key)?;
    let methods = p.params.name_list("methods", &METHODS, &METHODS)?;
    Ok((cases, methods))
}

impl Study for Optimizers {
    fn info(&self) -> &'static StudyInfo {
        &INFO
    }

    fn plan(&self, p: &PlanInput) -> Result<Vec<RunSpec>> {
        let (cases, methods) = selection(p)?;
        let pinn_seconds = p.params.f64("pinn_seconds", 30.0, 1e-3, 1e7)?;
        if p.budget.seconds <= 0.0 {
            return Err(crate::Error::option(
                "--seconds",
                "the optimizers study compares methods at equal CPU time: give --seconds > 0",
            ));
        }
        let mut specs = Vec::new();
        for c in &cases {
            for m in &methods {
                let (base, grid) = match c.kind {
                    Kind::Regression(data, depth, n_train, n_test) => {
                        let base = vec![
                            format!("data.builtin={data}"),
                            format!("data.n_train={n_train}"),
                            format!("data.n_test={n_test}"),
                            "network.width=20".into(),
                            "network.activation=tanh".into(),
                            format!("network.depth={depth}"),
                        ];
                        let secs = format!("train.max_seconds={:?}", p.budget.seconds);
                        (base, [regression_sets(m), vec![secs]].concat())
                    }
                    Kind::Pinn(problem, beta, windows) => {
                        if !PINN_METHODS.contains(&m.as_str()) {
                            continue;
                        }
                        let mut base = problem_sets(problem, beta);
                        if problem == "steady1d" {
                            // No transport speed there (the key would be refused).
                            base.retain(|s| !s.starts_with("pde.beta="));
                        }
                        base.push("network.depth=4".into());
                        if windows > 1 {
                            base.extend([
                                format!("pde.time_windows={windows}"),
                                "pde.n_interior=500".into(),
                                "pde.n_boundary=100".into(),
                            ]);
                        }
                        let secs = pinn_seconds / windows as f64;
                        let secs = format!("train.max_seconds={secs:?}");
                        (base, [pinn_sets(m, windows)?, vec![secs]].concat())
                    }
                };
                let mut base = base;
                base.push(format!("train.record_every={}", record_every(m)));
                base.push("train.clock=cpu".into());
                // After the method's settings: time decides, not iterations.
                let mut grid = grid;
                grid.push(format!("train.max_iterations={NO_ITERATION_LIMIT}"));
                for seed in p.seeds() {
                    let cfg = p.config(&base, &[], &grid, seed)?;
                    let id = format!("{}-{m}-s{seed}", c.key);
                    specs.push(RunSpec::new(id, m, c.key, cfg));
                }
            }
        }
        Ok(specs)
    }

    fn execute(&self, spec: &RunSpec, dir: &Path) -> RunOutput {
        let windows = spec.cfg.pde.as_ref().map_or(1, |p| p.time_windows);
        let mut out = if spec.cfg.pde.is_some() {
            execute_pinn(self.name(), spec)
        } else {
            execute_regression_in(self.name(), spec, Some(dir))
        };
        out.row.extra = extras(&out, windows);
        out
    }

    fn report(&self, input: &ReportInput<'_>) -> Result<ReportBody> {
        table::report(input)
    }
}

/// The [`COLUMNS`] of a finished run: rel L2 (PINN), spikes (regression),
/// the failure threshold (PINN; NaN for regression, whose rule is the
/// constant predictor's MSE), and the CPU seconds until the test error
/// (test MSE or rel L2) first fell to each of [`THRESHOLDS`] (inf: never;
/// NaN for marching, whose history holds per-window errors).
pub(super) fn extras(out: &RunOutput, windows: usize) -> Vec<(String, f64)> {
    let json: Option<serde_json::Value> = out
        .summary_json
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let num = |path: &[&str]| {
        let mut v = json.as_ref();
        for k in path {
            v = v.and_then(|v| v.get(k));
        }
        v.and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN)
    };
    let pinn = out.metric_names.iter().any(|n| n == "rel_l2");
    let metric = if pinn { "rel_l2" } else { "test_mse" };
    let reach = |t: f64| {
        if windows > 1 || out.summary_json.is_none() {
            f64::NAN
        } else {
            time_to_reach(&out.metric_names, &out.history, metric, t)
        }
    };
    let vals = [
        num(&["rel_l2"]),
        num(&["rel_l2_f32"]),
        num(&["diagnostics", "spikes", "max_abs_error_test"]),
        num(&["diagnostics", "spikes", "max_abs_error_between"]),
        num(&["diagnostics", "spikes", "ratio"]),
        if pinn { FAIL_THRESHOLD } else { f64::NAN },
        reach(THRESHOLDS[0]),
        reach(THRESHOLDS[1]),
        reach(THRESHOLDS[2]),
        windows as f64,
    ];
    COLUMNS
        .iter()
        .zip(vals)
        .map(|(n, v)| (n.to_string(), v))
        .collect()
}

/// Training seconds of the first history row whose `metric` is at most
/// `threshold` (+inf if none is; NaN if the metric is not recorded).
pub fn time_to_reach(names: &[String], history: &[Record], metric: &str, threshold: f64) -> f64 {
    let Some(k) = names.iter().position(|n| n == metric) else {
        return f64::NAN;
    };
    history
        .iter()
        .find(|r| r.values.get(k).is_some_and(|&v| v <= threshold))
        .map_or(f64::INFINITY, |r| r.seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::{StudyOptions, plan};

    fn rec(seconds: f64, v: f64) -> Record {
        Record {
            iteration: 0,
            seconds,
            objective: 0.0,
            aux_loss: None,
            values: vec![1.0, v],
        }
    }

    #[test]
    fn time_to_reach_is_the_first_row_at_or_below_the_threshold() {
        let names = vec!["train_mse".to_string(), "test_mse".to_string()];
        let h = [
            rec(0.0, 1.0),
            rec(0.5, 1e-3),
            rec(0.9, 1e-4),
            rec(2.0, 1e-7),
        ];
        assert_eq!(time_to_reach(&names, &h, "test_mse", 1e-3), 0.5);
        assert_eq!(time_to_reach(&names, &h, "test_mse", 1e-6), 2.0);
        assert_eq!(time_to_reach(&names, &h, "test_mse", 1e-9), f64::INFINITY);
        assert!(time_to_reach(&names, &h, "rel_l2", 1.0).is_nan());
        // A NaN error never counts as reached.
        let nan = [rec(0.1, f64::NAN), rec(0.3, 1e-9)];
        assert_eq!(time_to_reach(&names, &nan, "test_mse", 1e-6), 0.3);
    }

    /// The plan: every problem x applicable method x seed, equal CPU time
    /// per kind (split over the windows when marching), no iteration limit,
    /// one thread and the CPU clock per run, PINN-only methods left out.
    #[test]
    fn plan_gives_equal_cpu_time_and_leaves_out_what_does_not_apply() {
        let opts = StudyOptions {
            seeds: Some(2),
            seconds: Some(2.0),
            sets: vec!["study.pinn_seconds=10".into()],
            ..Default::default()
        };
        let (specs, _) = plan("optimizers", &opts).unwrap();
        let per_seed = 4 * METHODS.len() + 5 * PINN_METHODS.len();
        assert_eq!(CASES.len(), 9);
        assert_eq!(specs.len(), 2 * per_seed);
        for s in &specs {
            let t = &s.cfg.train;
            assert_eq!(t.max_iterations, NO_ITERATION_LIMIT, "{}", s.id);
            assert!(matches!(t.clock, sapm::driver::Clock::Cpu), "{}", s.id);
            match &s.cfg.pde {
                None => assert_eq!(t.max_seconds, 2.0, "{}", s.id),
                Some(p) => {
                    assert!(!["elm", "varpro", "sapm-gn"].contains(&s.label.as_str()));
                    assert_eq!(t.max_seconds * p.time_windows as f64, 10.0, "{}", s.id);
                }
            }
        }
        let warm = specs
            .iter()
            .find(|s| s.id == "t1d-b30-march-ls-adam-lbfgs-s0")
            .unwrap();
        assert_eq!(warm.cfg.adam_lbfgs.adam_steps, 300);
        let cold = specs.iter().find(|s| s.id == "sin_x2-L6-sapm-s0").unwrap();
        assert_eq!(cold.cfg.sapm.warm_start, 0);
        let opts = StudyOptions {
            sets: vec!["study.problems=[\"nope\"]".into()],
            ..Default::default()
        };
        let e = plan("optimizers", &opts).err().unwrap().to_string();
        assert!(e.contains("nope") && e.contains("sin_x2-L6"), "{e}");
    }
}
