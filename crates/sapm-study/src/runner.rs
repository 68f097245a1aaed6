//! Run many fits, `jobs` at a time, each in its own small rayon pool, and
//! keep every run's files (`runs/<id>/`) and its row of `results.csv`.
//!
//! Each fit is itself sample-parallel; on few cores, running `jobs` fits at
//! once with one thread each wastes less time in synchronisation than one fit
//! on all cores (the per-iteration work of these small networks is too short
//! to split well).

use crate::error::{Error, Result};
use crate::results::ResultRow;
use rayon::prelude::*;
use sapm::config::TrainConfig;
use sapm::fit::{Fitted, fit};
use sapm::model::Model;
use sapm::train::Record;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// One planned run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Unique id, also the run's folder name under `runs/`.
    pub id: String,
    /// Method label within the study (e.g. `sapm-warm`).
    pub label: String,
    /// Study-specific variant (e.g. `bias=zero`).
    pub variant: String,
    /// The resolved, validated config (its `seed` is the run seed).
    pub cfg: TrainConfig,
    /// The `key=value` overrides that produced `cfg` from the defaults, so the
    /// run can be repeated with `sapm train --set ...`.
    pub overrides: Vec<String>,
    /// Write `model.json` into the run folder.
    pub save_model: bool,
    /// Keep the fitted model in memory for the report's plots.
    pub keep_model: bool,
}

/// What executing a [`RunSpec`] produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The `results.csv` row.
    pub row: ResultRow,
    /// Recorded history.
    pub history: Vec<Record>,
    /// Metric names of `history[i].values`.
    pub metric_names: Vec<String>,
    /// `summary.json` text (none if the run could not train).
    pub summary_json: Option<String>,
    /// The fitted model (none if the run could not train).
    pub model: Option<Model>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The plan.
    pub spec: RunSpec,
    /// The `results.csv` row.
    pub row: ResultRow,
    /// Recorded history.
    pub history: Vec<Record>,
    /// Metric names of `history[i].values`.
    pub metric_names: Vec<String>,
    /// The model, if `spec.keep_model`.
    pub model: Option<Model>,
    /// Wall seconds of the whole run (data, training, evaluation, files).
    pub wall_seconds: f64,
}

/// Progress of a study: sent after each finished run.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Runs finished so far.
    pub done: usize,
    /// Runs planned.
    pub total: usize,
    /// The run that just finished.
    pub row: &'a ResultRow,
    /// Its wall seconds.
    pub wall_seconds: f64,
}

/// How runs share the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Runs at once (>= 1).
    pub jobs: usize,
    /// Threads of each run's pool (>= 1).
    pub threads_per_run: usize,
}

impl Parallelism {
    /// `jobs` runs at once (0 = one per core), `threads` per run (0 = cores / jobs, at least 1).
    pub fn new(jobs: usize, threads: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = if jobs == 0 { cores } else { jobs };
        let threads_per_run = if threads == 0 {
            (cores / jobs).max(1)
        } else {
            threads
        };
        Parallelism {
            jobs,
            threads_per_run,
        }
    }
}

/// Largest `train_mse / aux_loss` over the rows of `history` that have both
/// (NaN if none); `train_mse` is the metric named so in `metric_names`.
pub fn max_ls_over_aux(metric_names: &[String], history: &[Record]) -> f64 {
    let Some(k) = metric_names.iter().position(|n| n == "train_mse") else {
        return f64::NAN;
    };
    history
        .iter()
        .filter_map(|r| Some(r.values.get(k)? / r.aux_loss?))
        .fold(f64::NAN, |m, v| if v.is_nan() || v <= m { m } else { v })
}

/// The `results.csv` row of a finished regression fit.
pub fn regression_row(study: &str, spec: &RunSpec, f: &Fitted) -> ResultRow {
    let s = &f.summary;
    let d = &s.diagnostics;
    ResultRow {
        study: study.into(),
        run: spec.id.clone(),
        label: spec.label.clone(),
        method: s.method.clone(),
        depth: spec.cfg.network.spec(1, 1).widths.len() - 1,
        variant: spec.variant.clone(),
        seed: s.seed,
        status: s.status.as_str().into(),
        message: s.message.clone(),
        iterations: s.iterations,
        seconds: s.seconds,
        train_mse: s.train_mse,
        test_mse: s.test_mse,
        test_mse_f32: d.test_mse_f32,
        fragile: d.fragile,
        output_weight_norm_sq: d.output_weight_norm_sq,
        spectral_norm_product: d.spectral_norm_product,
        output_design_cond: d.output_design_cond,
        aux_loss: s.aux_loss.unwrap_or(f64::NAN),
        ls_over_aux: d.ls_over_aux.unwrap_or(f64::NAN),
        max_ls_over_aux: max_ls_over_aux(&f.metric_names, &f.history),
        consistency_bound: d.consistency_bound,
        constant_predictor_mse: d.constant_predictor_mse,
        extra: Vec::new(),
    }
}

/// Train one regression run with `sapm::fit` on the data its config names.
/// Training errors become a row with `status = "error"`, not an `Err`.
pub fn execute_regression(study: &str, spec: &RunSpec) -> RunOutput {
    let depth = spec.cfg.network.spec(1, 1).widths.len() - 1;
    let fitted = spec
        .cfg
        .data
        .load(spec.cfg.seed)
        .and_then(|data| fit(&spec.cfg, &data));
    match fitted {
        Ok(f) => {
            let summary_json = serde_json::to_string_pretty(&f.summary).ok();
            RunOutput {
                row: regression_row(study, spec, &f),
                summary_json,
                history: f.history,
                metric_names: f.metric_names,
                model: Some(f.model),
            }
        }
        Err(e) => RunOutput {
            row: ResultRow::error(
                study,
                &spec.id,
                &spec.label,
                spec.cfg.method.name(),
                depth,
                &spec.variant,
                spec.cfg.seed,
                e.to_string(),
            ),
            history: Vec::new(),
            metric_names: Vec::new(),
            summary_json: None,
            model: None,
        },
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    sapm::io::write_atomic(path, text.as_bytes()).map_err(Error::from)
}

/// Write a run's folder: `config.toml`, `history.csv`, `summary.json` and
/// (if asked) `model.json`, or `error.txt` for a run that could not train.
fn write_run(dir: &Path, spec: &RunSpec, out: &RunOutput) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write(&dir.join("config.toml"), &spec.cfg.to_toml())?;
    match &out.summary_json {
        Some(json) => {
            write(
                &dir.join("history.csv"),
                &sapm::io::history_csv(&out.metric_names, &out.history),
            )?;
            write(&dir.join("summary.json"), json)?;
            if spec.save_model
                && let Some(m) = &out.model
            {
                m.save(&dir.join("model.json"))?;
            }
        }
        None => write(&dir.join("error.txt"), &out.row.message)?,
    }
    Ok(())
}

/// Execute `specs`, `par.jobs` at a time, writing each run's folder under
/// `runs_dir`. Outcomes come back in plan order. Training failures are rows
/// with `status = "error"`; only I/O errors (or a failed thread pool) abort.
pub fn run_all(
    specs: &[RunSpec],
    execute: &(dyn Fn(&RunSpec) -> RunOutput + Sync),
    runs_dir: &Path,
    par: Parallelism,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Vec<RunOutcome>> {
    let pool_err = |e: rayon::ThreadPoolBuildError| {
        Error::option(
            "--jobs",
            format!("cannot start {} worker threads: {e}", par.jobs),
        )
    };
    let outer = rayon::ThreadPoolBuilder::new()
        .num_threads(par.jobs.max(1))
        .build()
        .map_err(pool_err)?;
    let done = AtomicUsize::new(0);
    let total = specs.len();
    let results: Vec<Result<RunOutcome>> = outer.install(|| {
        specs
            .par_iter()
            .with_max_len(1)
            .map(|spec| {
                let t = Instant::now();
                let inner = rayon::ThreadPoolBuilder::new()
                    .num_threads(par.threads_per_run.max(1))
                    .build()
                    .map_err(pool_err)?;
                let mut out = inner.install(|| execute(spec));
                write_run(&runs_dir.join(&spec.id), spec, &out)?;
                let wall_seconds = t.elapsed().as_secs_f64();
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                progress(Progress {
                    done: n,
                    total,
                    row: &out.row,
                    wall_seconds,
                });
                Ok(RunOutcome {
                    spec: spec.clone(),
                    row: out.row,
                    history: std::mem::take(&mut out.history),
                    metric_names: out.metric_names,
                    model: if spec.keep_model {
                        out.model.take()
                    } else {
                        None
                    },
                    wall_seconds,
                })
            })
            .collect()
    });
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(it: usize, aux: Option<f64>, train: f64) -> Record {
        Record {
            iteration: it,
            seconds: 0.0,
            objective: 0.0,
            aux_loss: aux,
            values: vec![train, 0.0],
        }
    }

    #[test]
    fn max_ratio_ignores_rows_without_aux() {
        let names = vec!["train_mse".to_string(), "test_mse".to_string()];
        let h = vec![
            rec(0, None, 5.0),
            rec(1, Some(0.5), 1.0),
            rec(2, Some(0.25), 0.75),
            rec(3, Some(0.0), 0.0),
        ];
        assert_eq!(max_ls_over_aux(&names, &h), 3.0);
        assert!(max_ls_over_aux(&names, &h[..1]).is_nan());
        assert!(max_ls_over_aux(&["x".into()], &h).is_nan());
    }

    #[test]
    fn runs_in_parallel_keep_plan_order_and_write_folders() {
        let dir = tempfile::tempdir().unwrap();
        let specs: Vec<RunSpec> = (0..4)
            .map(|s| {
                let mut cfg = TrainConfig::default();
                cfg.method = if s % 2 == 0 {
                    sapm::Method::LsAdam
                } else {
                    sapm::Method::Sapm
                };
                cfg.seed = s;
                cfg.network.depth = 3;
                cfg.network.width = 4;
                cfg.data.n_train = 20;
                cfg.data.n_test = 30;
                cfg.train.max_iterations = 3;
                RunSpec {
                    id: format!("r{s}"),
                    label: cfg.method.name().into(),
                    variant: "v".into(),
                    cfg,
                    overrides: vec![],
                    save_model: s == 0,
                    keep_model: s == 1,
                }
            })
            .collect();
        let seen = AtomicUsize::new(0);
        let out = run_all(
            &specs,
            &|s| execute_regression("t", s),
            dir.path(),
            Parallelism::new(2, 1),
            &|p| {
                assert_eq!(p.total, 4);
                seen.fetch_add(1, Ordering::SeqCst);
            },
        )
        .unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        let ids: Vec<&str> = out.iter().map(|o| o.row.run.as_str()).collect();
        assert_eq!(ids, ["r0", "r1", "r2", "r3"]);
        assert_eq!(out[1].row.method, "sapm");
        assert_eq!(out[1].row.depth, 3);
        assert!(out[1].model.is_some() && out[0].model.is_none());
        assert!(out[1].row.max_ls_over_aux.is_finite());
        assert!(out[0].row.max_ls_over_aux.is_nan());
        for o in &out {
            assert_eq!(o.row.iterations, 3);
            assert_eq!(o.history.len(), 2, "iteration 0 and the last");
            let d = dir.path().join(&o.row.run);
            for f in ["config.toml", "history.csv", "summary.json"] {
                assert!(d.join(f).is_file(), "{f}");
            }
            assert_eq!(d.join("model.json").is_file(), o.row.run == "r0");
        }
        // A run repeated from its folder's config gives the same numbers.
        let cfg = TrainConfig::load(&dir.path().join("r1/config.toml"), &[]).unwrap();
        let again = execute_regression(
            "t",
            &RunSpec {
                cfg,
                ..specs[1].clone()
            },
        );
        assert_eq!(
            again.row.train_mse.to_bits(),
            out[1].row.train_mse.to_bits()
        );
    }

    #[test]
    fn training_errors_become_rows() {
        let mut cfg = TrainConfig::default();
        cfg.data.train = Some("/nonexistent/data.csv".into());
        cfg.data.builtin = None;
        let spec = RunSpec {
            id: "bad".into(),
            label: "x".into(),
            variant: "v".into(),
            cfg,
            overrides: vec![],
            save_model: true,
            keep_model: true,
        };
        let dir = tempfile::tempdir().unwrap();
        let out = run_all(
            &[spec],
            &|s| execute_regression("t", s),
            dir.path(),
            Parallelism::new(1, 1),
            &|_| {},
        )
        .unwrap();
        assert_eq!(out[0].row.status, "error");
        assert!(out[0].row.failed());
        assert!(out[0].row.message.contains("/nonexistent/data.csv"));
        assert!(dir.path().join("bad/error.txt").is_file());
    }
}
