//! Run many fits, `jobs` at a time, each in its own small rayon pool, and
//! keep every run's files (`runs/<id>/`) and its row of `results.csv`.
//!
//! Each fit is itself sample-parallel; on few cores, running `jobs` fits at
//! once with one thread each wastes less time in synchronisation than one fit
//! on all cores (the per-iteration work of these small networks is too short
//! to split well).

use crate::error::{Error, Result};
use crate::results::ResultRow;
use sapm::checkpoint::StateReader;
use sapm::config::Checked;
#[cfg(test)]
use sapm::config::TrainConfig;
use sapm::driver::NoObserver;
use sapm::fit::{CheckpointFile, Fitted, fit, fit_checkpointed};
use sapm::model::Model;
use sapm::record::Record;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    pub cfg: Checked,
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
    /// Wall seconds of the whole run (data, training, evaluation).
    pub wall_seconds: f64,
    /// Complete in an earlier invocation: read back from its folder, not retrained.
    pub skipped: bool,
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
        wall_seconds: f64::NAN,
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
    execute_regression_in(study, spec, None)
}

/// [`execute_regression`] with checkpoints in `dir/checkpoint.sapm` (per
/// `train.checkpoint_every` and `train.checkpoint_seconds`), continuing
/// from a checkpoint left there by an interrupted invocation of the same
/// run (same config); any other checkpoint is ignored and overwritten.
pub fn execute_regression_in(study: &str, spec: &RunSpec, dir: Option<&Path>) -> RunOutput {
    let depth = spec.cfg.network.spec(1, 1).widths.len() - 1;
    let fitted = spec
        .cfg
        .data
        .load(spec.cfg.seed)
        .and_then(|data| match dir {
            None => fit(&spec.cfg, &data),
            Some(dir) => {
                let path = dir.join(sapm::checkpoint::FILE_NAME);
                let mut ck = CheckpointFile::new(&path, &spec.cfg);
                let mut resume = StateReader::open(&path)
                    .ok()
                    .filter(|r| r.text("run.config").ok() == Some(spec.cfg.to_toml()));
                std::fs::create_dir_all(dir).map_err(|e| sapm::Error::io(dir, e))?;
                fit_checkpointed(
                    &spec.cfg,
                    Some(&data),
                    &mut NoObserver,
                    Some(&mut ck),
                    resume.as_mut(),
                )
            }
        });
    match fitted {
        Ok(f) => {
            let summary_json = sapm::verdict::summary_json(&f.summary, &f.history, &[]).ok();
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

/// Write via a temporary file and a rename, without `fsync`: a study writes
/// thousands of small files, and syncing each one cost up to a second per run
/// on a busy disk (a crash loses at most the runs in flight, never leaves a torn file).
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let res = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    write_file(path, text)
}

/// Write a run's folder: `config.toml`, `history.csv`, `row.csv` (its
/// `results.csv` row), (if asked) `model.json` and, last, `summary.json`,
/// which marks the run complete; or `error.txt` for a run that could not
/// train.
fn write_run(dir: &Path, spec: &RunSpec, out: &RunOutput) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let _ = std::fs::remove_file(dir.join("summary.json"));
    write(&dir.join("config.toml"), &spec.cfg.to_toml())?;
    match &out.summary_json {
        Some(json) => {
            write(
                &dir.join("history.csv"),
                &sapm::record::history_csv(&out.metric_names, &out.history),
            )?;
            write(
                &dir.join("row.csv"),
                &crate::results::to_csv(std::slice::from_ref(&out.row))?,
            )?;
            if spec.save_model
                && let Some(m) = &out.model
            {
                write(&dir.join("model.json"), &m.to_json())?;
            }
            write(&dir.join("summary.json"), json)?;
            // Complete: the checkpoint (as large as the auxiliaries) is no longer needed.
            let _ = std::fs::remove_file(dir.join(sapm::checkpoint::FILE_NAME));
        }
        None => write(&dir.join("error.txt"), &out.row.message)?,
    }
    Ok(())
}

/// The output of a run completed by an earlier invocation: its folder has
/// `summary.json` (written last), the same `config.toml` as `spec` and
/// everything the study needs from it. `None` means: train it (again).
fn load_complete(dir: &Path, spec: &RunSpec) -> Option<RunOutput> {
    if !dir.join("summary.json").is_file() {
        return None;
    }
    let cfg = std::fs::read_to_string(dir.join("config.toml")).ok()?;
    if cfg != spec.cfg.to_toml() {
        return None;
    }
    let p = dir.join("row.csv");
    let mut rows = crate::results::from_csv(&std::fs::read_to_string(&p).ok()?, &p).ok()?;
    if rows.len() != 1 || rows[0].run != spec.id {
        return None;
    }
    let (metric_names, history) =
        crate::runplot::read_history_csv(&dir.join("history.csv")).ok()?;
    let model = if spec.save_model || spec.keep_model {
        Some(Model::load(&dir.join("model.json")).ok()?)
    } else {
        None
    };
    Some(RunOutput {
        row: rows.pop()?,
        history,
        metric_names,
        summary_json: None,
        model,
    })
}

/// Execute `specs`, `par.jobs` at a time, writing each run's folder under
/// `runs_dir`. Outcomes come back in plan order. Training failures are rows
/// with `status = "error"`; only I/O errors (or a failed thread pool) abort.
pub fn run_all(
    specs: &[RunSpec],
    execute: &(dyn Fn(&RunSpec, &Path) -> RunOutput + Sync),
    runs_dir: &Path,
    par: Parallelism,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Vec<RunOutcome>> {
    let total = specs.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<RunOutcome>>>> =
        Mutex::new((0..total).map(|_| None).collect());
    // Plain threads, each with its own pool: a rayon worker waiting in
    // another pool's `install` steals outer jobs, which would start more
    // than `jobs` fits at once and break the equal-time budgets.
    std::thread::scope(|scope| {
        for _ in 0..par.jobs.max(1).min(total.max(1)) {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new()
                    .num_threads(par.threads_per_run.max(1))
                    .build()
                {
                    Ok(p) => p,
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        if let Ok(mut s) = slots.lock() {
                            s.push(Some(Err(Error::option(
                                "--threads",
                                format!(
                                    "cannot start a thread pool of {} threads: {e}",
                                    par.threads_per_run
                                ),
                            ))));
                        }
                        return;
                    }
                };
                loop {
                    if failed.load(Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(spec) = specs.get(i) else { return };
                    let t = Instant::now();
                    let dir = runs_dir.join(&spec.id);
                    let (mut out, skipped) = match load_complete(&dir, spec) {
                        Some(o) => (o, true),
                        None => (pool.install(|| execute(spec, &dir)), false),
                    };
                    let res = if skipped {
                        Ok(())
                    } else {
                        out.row.wall_seconds = t.elapsed().as_secs_f64();
                        write_run(&dir, spec, &out)
                    };
                    let res = res.map(|_| {
                        // As stored in row.csv (files written after it are not counted).
                        let wall_seconds = out.row.wall_seconds;
                        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                        progress(Progress {
                            done: n,
                            total,
                            row: &out.row,
                            wall_seconds,
                        });
                        RunOutcome {
                            spec: spec.clone(),
                            row: out.row.clone(),
                            history: std::mem::take(&mut out.history),
                            metric_names: std::mem::take(&mut out.metric_names),
                            model: if spec.keep_model {
                                out.model.take()
                            } else {
                                None
                            },
                            wall_seconds,
                            skipped,
                        }
                    });
                    if res.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    if let Ok(mut s) = slots.lock() {
                        s[i] = Some(res);
                    }
                }
            });
        }
    });
    let slots = slots
        .into_inner()
        .map_err(|_| Error::option("--jobs", "a worker thread panicked"))?;
    let mut out = Vec::with_capacity(total);
    let mut missing = None;
    for (i, s) in slots.into_iter().enumerate() {
        match s {
            Some(Err(e)) => return Err(e),
            Some(Ok(o)) => out.push(o),
            None => missing = missing.or(Some(i)),
        }
    }
    if let Some(i) = missing.filter(|&i| i < total) {
        return Err(Error::option(
            "--jobs",
            format!("run {} was not executed", specs[i].id),
        ));
    }
    Ok(out)
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

    /// A run folder holding the checkpoint of an interrupted invocation of
    /// the same run continues from it (the rows before the checkpoint keep
    /// their recorded times) and ends with the same numbers.
    #[test]
    fn an_interrupted_study_run_continues_from_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = TrainConfig {
            method: sapm::Method::Sapm,
            seed: 2,
            ..Default::default()
        };
        cfg.network.depth = 3;
        cfg.network.width = 4;
        cfg.data.n_train = 20;
        cfg.data.n_test = 30;
        cfg.train.max_iterations = 6;
        cfg.train.record_every = 1;
        cfg.train.checkpoint_every = 2;
        cfg.train.checkpoint_seconds = 0.0;
        let spec = RunSpec {
            id: "r".into(),
            label: "sapm".into(),
            variant: "v".into(),
            cfg: cfg.check().unwrap(),
            overrides: vec![],
            save_model: false,
            keep_model: false,
        };
        let first = execute_regression_in("t", &spec, Some(dir.path()));
        let ck = dir.path().join(sapm::checkpoint::FILE_NAME);
        let r = StateReader::open(&ck).unwrap();
        assert_eq!(r.int("run.iteration").unwrap(), 4);
        let again = execute_regression_in("t", &spec, Some(dir.path()));
        let bits = |o: &RunOutput| -> Vec<Vec<u64>> {
            o.history
                .iter()
                .map(|h| h.values.iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        assert_eq!(bits(&first), bits(&again));
        assert_eq!(first.row.train_mse.to_bits(), again.row.train_mse.to_bits());
        for i in 0..=4 {
            assert_eq!(
                first.history[i].seconds.to_bits(),
                again.history[i].seconds.to_bits(),
                "row {i} was not read from the checkpoint"
            );
        }
        // A checkpoint of another config is ignored (and replaced).
        let mut other = spec.clone();
        other.cfg = {
            let mut c = other.cfg.into_inner();
            c.seed = 3;
            c.check().unwrap()
        };
        let o = execute_regression_in("t", &other, Some(dir.path()));
        assert_eq!(o.row.status, "max_iterations");
        assert_ne!(bits(&o), bits(&first));
    }

    #[test]
    fn runs_in_parallel_keep_plan_order_and_write_folders() {
        let dir = tempfile::tempdir().unwrap();
        let specs: Vec<RunSpec> = (0..4)
            .map(|s| {
                let mut cfg = TrainConfig {
                    method: if s % 2 == 0 {
                        sapm::Method::LsAdam
                    } else {
                        sapm::Method::Sapm
                    },
                    seed: s,
                    ..Default::default()
                };
                cfg.network.depth = 3;
                cfg.network.width = 4;
                cfg.data.n_train = 20;
                cfg.data.n_test = 30;
                cfg.train.max_iterations = 3;
                RunSpec {
                    id: format!("r{s}"),
                    label: cfg.method.name().into(),
                    variant: "v".into(),
                    cfg: cfg.check().unwrap(),
                    overrides: vec![],
                    save_model: s == 0,
                    keep_model: s == 1,
                }
            })
            .collect();
        let seen = AtomicUsize::new(0);
        let out = run_all(
            &specs,
            &|s, _| execute_regression("t", s),
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
    fn never_more_than_jobs_runs_at_once() {
        let specs: Vec<RunSpec> = (0..8)
            .map(|s| RunSpec {
                id: format!("r{s}"),
                label: "x".into(),
                variant: "v".into(),
                cfg: TrainConfig::default().check().unwrap(),
                overrides: vec![],
                save_model: false,
                keep_model: false,
            })
            .collect();
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let exec = |s: &RunSpec, _: &Path| {
            let k = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(k, Ordering::SeqCst);
            // Nested parallel work inside the run, as a real fit does.
            let sum: u64 = rayon::iter::ParallelIterator::sum(
                rayon::iter::IntoParallelIterator::into_par_iter(0..1000u64),
            );
            std::thread::sleep(std::time::Duration::from_millis(30));
            now.fetch_sub(1, Ordering::SeqCst);
            RunOutput {
                row: ResultRow::error("t", &s.id, "x", "sapm", 2, "v", sum, "fake".into()),
                history: vec![],
                metric_names: vec![],
                summary_json: None,
                model: None,
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let out = run_all(&specs, &exec, dir.path(), Parallelism::new(3, 1), &|_| {}).unwrap();
        assert_eq!(out.len(), 8);
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert!(out.iter().all(|o| o.row.seed == 499_500));
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
            cfg: cfg.check().unwrap(),
            overrides: vec![],
            save_model: true,
            keep_model: true,
        };
        let dir = tempfile::tempdir().unwrap();
        let out = run_all(
            &[spec],
            &|s, _| execute_regression("t", s),
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
