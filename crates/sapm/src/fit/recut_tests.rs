//! Resuming the checkpoint of a run on K processes on K' != K (threads
//! standing in for processes): the replicated state from process 0's file,
//! the auxiliaries re-cut to each process's rows.

use crate::config::{Checked, TrainConfig};
use crate::data::Split;
use crate::driver::NoObserver;
use crate::error::Result;
use crate::fit::distributed_harness::{self, on_threads, rel};
use crate::fit::{
    CheckpointFile, fit_distributed_checkpointed, open_rank_checkpoints, rank_file_name,
};
use std::path::Path;

/// The weights of every process of a `k`-process run checkpointing into
/// `dir` (every 3 iterations), resuming from the files there when `resume`.
fn run_on(
    k: usize,
    cfg: &Checked,
    data: Option<&Split>,
    dir: &Path,
    resume: bool,
) -> Vec<Result<Vec<f64>>> {
    run_counting(k, cfg, data, dir, resume)
        .into_iter()
        .map(|r| r.map(|(p, _)| p))
        .collect()
}

/// [`run_on`] with the number of checkpoints each process wrote.
fn run_counting(
    k: usize,
    cfg: &Checked,
    data: Option<&Split>,
    dir: &Path,
    resume: bool,
) -> Vec<Result<(Vec<f64>, usize)>> {
    on_threads(k, |rank, r| {
        let mut ck = CheckpointFile::new(&dir.join(rank_file_name(rank, k)), cfg);
        let mut reader = match resume {
            true => Some(open_rank_checkpoints(dir, &r)?),
            false => None,
        };
        let f = fit_distributed_checkpointed(
            cfg,
            data,
            r,
            &mut NoObserver,
            Some(&mut ck),
            reader.as_mut(),
        )?;
        Ok((f.model.net.params(), ck.writes))
    })
}

fn weights(runs: Vec<Result<Vec<f64>>>, what: &str) -> Vec<f64> {
    let p: Vec<Vec<f64>> = runs
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{what}: {e}")))
        .collect();
    for q in &p {
        assert_eq!(q, &p[0], "{what}: processes disagree");
    }
    p[0].clone()
}

/// A run on 2 processes stopped after 7 iterations (last checkpoint at 6)
/// and resumed on 1 and 3 processes to 12 (writing checkpoints at 9 and 12
/// only; regression with another seed, so that only the checkpoint can give
/// the weights; a PINN's seed would change its points) against 12
/// iterations straight on as many processes: within `tol` relative.
fn resumes_on_one_and_three(
    text: &dyn Fn(usize, u64) -> String,
    data: Option<&Split>,
    tol: f64,
    what: &str,
) {
    let seed = if data.is_some() { 4 } else { 3 };
    let cfg = |iters: usize, seed: u64| TrainConfig::from_toml_str(&text(iters, seed), &[], None);
    let cfg = |iters, seed| cfg(iters, seed).unwrap();
    let two = tempfile::tempdir().unwrap();
    weights(run_on(2, &cfg(7, 3), data, two.path(), false), what);
    for k in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        for j in 0..2 {
            let name = rank_file_name(j, 2);
            std::fs::copy(two.path().join(&name), dir.path().join(&name)).unwrap();
        }
        let other = tempfile::tempdir().unwrap();
        let mut straight = Vec::new();
        let mut resumed = Vec::new();
        for (a, b) in run_counting(k, &cfg(12, 3), data, other.path(), false)
            .into_iter()
            .zip(run_counting(k, &cfg(12, seed), data, dir.path(), true))
        {
            let (a, b) = (a.unwrap(), b.unwrap_or_else(|e| panic!("{what}: {e}")));
            // The checkpoints at 3 and 6 are not written again.
            assert_eq!(b.1 + 2, a.1, "{what} on {k}: not resumed at iteration 6");
            straight.push(Ok(a.0));
            resumed.push(Ok(b.0));
        }
        let (straight, resumed) = (weights(straight, what), weights(resumed, what));
        let e = rel(&resumed, &straight);
        eprintln!("{what}: 2 -> {k} processes vs {k} straight: {e:.1e} (tolerance {tol:.1e})");
        assert!(
            e < tol,
            "{what}, 2 -> {k}: relative difference {e:e} > {tol:e}"
        );
        // The checkpoint's files were read, not this run's own.
        assert!(dir.path().join(rank_file_name(0, k)).exists());
    }
}

/// [`distributed_harness::tolerance`] for `method`: one process's PM/SAPM
/// spread with another block size (64 for regression, 16 for PINNs).
fn tolerance(method: &str, cfg: &dyn Fn(&str) -> Checked, data: Option<&Split>) -> f64 {
    let one = |c: &Checked| {
        on_threads(1, |_, r| {
            let f = fit_distributed_checkpointed(c, data, r, &mut NoObserver, None, None);
            f.unwrap().model.net.params()
        })
        .remove(0)
    };
    let block = if data.is_some() { 64 } else { 16 };
    distributed_harness::tolerance(
        method,
        &one(&cfg("")),
        || one(&cfg(&format!("block = {block}\n"))),
        || unreachable!("no ELM case here"),
    )
}

fn regression(method: &str, iters: usize, seed: u64, extra: &str) -> String {
    let section = match method {
        "pm" | "sapm" => format!("[{method}]\nsolver = \"cholesky\"\n{extra}"),
        _ => String::new(),
    };
    format!(
        "method = \"{method}\"\nseed = {seed}\n[network]\ndepth = 3\nwidth = 8\n[data]\nn_train = 301\nn_test = 50\n[train]\nmax_iterations = {iters}\ncheckpoint_every = 3\n{section}"
    )
}

fn pinn(method: &str, iters: usize, seed: u64, extra: &str) -> String {
    let section = match method {
        "pm" | "sapm" => format!("[{method}]\nsolver = \"cholesky\"\n{extra}"),
        _ => String::new(),
    };
    format!(
        "method = \"{method}\"\nseed = {seed}\n[network]\ndepth = 3\nwidth = 8\n[train]\nmax_iterations = {iters}\ncheckpoint_every = 3\n[pde]\nproblem = \"transport1d\"\nn_interior = 67\nn_boundary = 20\nn_test = 11\n{section}"
    )
}

/// Regression: SAPM and PM (auxiliaries re-cut), L-BFGS (its memory) and LM
/// (its damping) resume a 2-process checkpoint on 1 and 3 processes.
#[test]
fn regression_checkpoints_of_two_processes_resume_on_one_and_three() {
    let data = TrainConfig::from_toml_str(&regression("sapm", 12, 3, ""), &[], None)
        .unwrap()
        .data
        .load(3)
        .unwrap();
    for method in ["sapm", "pm", "ls-lbfgs", "lm"] {
        let plain = |extra: &str| {
            TrainConfig::from_toml_str(&regression(method, 12, 3, extra), &[], None).unwrap()
        };
        let tol = tolerance(method, &plain, Some(&data));
        let text = |iters, seed| regression(method, iters, seed, "");
        resumes_on_one_and_three(&text, Some(&data), tol, method);
    }
    // Scaled data (fitted from sums over processes: the scaled rows differ
    // by round-off between numbers of processes, the rows they come from do
    // not).
    let text = |iters, seed| {
        regression("ls-lbfgs", iters, seed, "")
            .replace("[data]\n", "[data]\nscale = \"standard\"\n")
    };
    resumes_on_one_and_three(&text, Some(&data), 1e-10, "ls-lbfgs, scaled data");
}

/// PINN (transport1d, interior and boundary points re-cut): SAPM and
/// ls-adam resume a 2-process checkpoint on 1 and 3 processes.
#[test]
fn pinn_checkpoints_of_two_processes_resume_on_one_and_three() {
    for method in ["sapm", "ls-adam"] {
        let plain = |extra: &str| {
            TrainConfig::from_toml_str(&pinn(method, 12, 3, extra), &[], None).unwrap()
        };
        let tol = tolerance(method, &plain, None);
        let text = |iters, seed| pinn(method, iters, seed, "");
        resumes_on_one_and_three(&text, None, tol, &format!("transport1d {method}"));
    }
}

/// A missing file of the processes that wrote the checkpoint is named, on
/// every process alike.
#[test]
fn a_missing_rank_file_is_named() {
    let text = regression("sapm", 7, 3, "");
    let cfg = TrainConfig::from_toml_str(&text, &[], None).unwrap();
    let data = cfg.data.load(3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    weights(run_on(2, &cfg, Some(&data), dir.path(), false), "sapm");
    std::fs::remove_file(dir.path().join(rank_file_name(1, 2))).unwrap();
    for k in [3, 2] {
        for r in run_on(k, &cfg, Some(&data), dir.path(), true) {
            let e = r.expect_err("resumed without rank 1's file").to_string();
            assert!(
                e.contains("checkpoint.rank1-of-2.sapm")
                    && e.contains("missing")
                    && e.contains("written by 2 processes"),
                "{e}"
            );
        }
    }
}

/// The rows fingerprint of 1, 2 and 3 processes holding their shards is the
/// same on every process; one changed value changes it.
#[test]
fn rows_fingerprint_does_not_depend_on_the_sharding() {
    use crate::data::ShardSplit;
    use crate::task::Task;
    let cfg = TrainConfig::from_toml_str("[data]\nn_train = 41\nn_test = 7\n", &[], None).unwrap();
    let mut data = cfg.data.load(3).unwrap();
    let on = |data: &Split, k: usize| {
        on_threads(k, |rank, r| {
            let s = ShardSplit::of(data, rank, k).unwrap();
            Task::Regression(&s.split, None)
                .rows_fingerprint(r.as_ref())
                .unwrap()
        })
    };
    let one = on(&data, 1)[0];
    for k in [2, 3] {
        assert!(on(&data, k).iter().all(|&f| f == one), "{k} processes");
    }
    data.train.y[(0, 20)] += 1e-12;
    assert_ne!(on(&data, 3)[0], one);
}

/// Resumed on another number of processes with one training value changed,
/// the rows fingerprint (over all processes' rows) refuses it on every
/// process. (On as many, each file's own fingerprint refuses it on the
/// process holding the row: `sapm train` then ends the job through
/// `MPI_Abort`; threads would wait for the others.)
#[test]
fn other_rows_are_refused_on_another_number_of_processes() {
    let cfg = TrainConfig::from_toml_str(&regression("sapm", 7, 3, ""), &[], None).unwrap();
    let mut data = cfg.data.load(3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    weights(run_on(2, &cfg, Some(&data), dir.path(), false), "sapm");
    data.train.y[(0, 200)] += 1e-9;
    for k in [3, 1] {
        for r in run_on(k, &cfg, Some(&data), dir.path(), true) {
            let e = r.expect_err("resumed on other data").to_string();
            assert!(
                e.contains("rows_fingerprint") && e.contains("written for other data"),
                "{k}: {e}"
            );
        }
    }
}
