//! Runs `jobs` at a time on plain worker threads, each with its own rayon pool.

use super::run_dir::{load_complete, write_run};
use super::{Parallelism, Progress, RunOutcome, RunOutput, RunSpec};
use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

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
    use super::super::{execute_regression, tiny_spec};
    use super::*;
    use crate::results::ResultRow;
    use sapm::config::TrainConfig;

    #[test]
    fn runs_in_parallel_keep_plan_order_and_write_folders() {
        let dir = tempfile::tempdir().unwrap();
        let specs: Vec<RunSpec> = (0..4)
            .map(|s| {
                let method = if s % 2 == 0 {
                    sapm::Method::LsAdam
                } else {
                    sapm::Method::Sapm
                };
                tiny_spec(&format!("r{s}"), method, s, 3).models(s == 0, s == 1)
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
            .map(|s| {
                let cfg = TrainConfig::default().check().unwrap();
                RunSpec::new(format!("r{s}"), "x", "v", (cfg, vec![]))
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
            RunOutput::error(ResultRow::error(
                "t",
                &s.id,
                "x",
                "sapm",
                2,
                "v",
                sum,
                "fake".into(),
            ))
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
        let spec = RunSpec::new("bad", "x", "v", (cfg.check().unwrap(), vec![])).models(true, true);
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
