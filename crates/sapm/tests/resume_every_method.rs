//! Every method, resumed from a mid-run checkpoint, ends with the numbers of
//! the uninterrupted run, bit for bit (the process-level kill tests are in
//! `crates/sapm-cli/tests/resume.rs`).

#[path = "support/runs.rs"]
mod runs;

use runs::{checked, numbers};
use sapm::checkpoint::StateReader;
use sapm::driver::NoObserver;
use sapm::fit::{CheckpointFile, Fitted, fit_checkpointed};

/// Runs `base` with `overrides` (checkpointed every 5 iterations), resumes
/// from the checkpoint left at the end (with the data, or with none on
/// `data_on_resume == false`) and checks the resumed run ends with the same
/// numbers. Returns the uninterrupted run and its checkpoint's iteration.
fn run_and_resume(base: &[&str], overrides: &[&str], data_on_resume: bool) -> (Fitted, u64) {
    let mut sets = base.to_vec();
    sets.extend([
        "train.max_iterations=23",
        "train.record_every=3",
        "train.checkpoint_every=5",
        "train.checkpoint_seconds=0",
    ]);
    sets.extend(overrides);
    if overrides.contains(&"method=ls-adam-lbfgs") {
        sets.push("adam_lbfgs.adam_steps=8");
    }
    let cfg = checked("", &sets);
    let data = cfg.data.load(cfg.seed).unwrap(); // ignored by PINN runs
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sapm");
    let mut ck = CheckpointFile::new(&path, &cfg);
    let full = fit_checkpointed(&cfg, Some(&data), &mut NoObserver, Some(&mut ck), None).unwrap();
    let mut r = StateReader::open(&path).unwrap_or_else(|e| panic!("{overrides:?}: {e}"));
    let at = r.int("run.iteration").unwrap();
    let data = data_on_resume.then_some(&data);
    let resumed = fit_checkpointed(&cfg, data, &mut NoObserver, None, Some(&mut r))
        .unwrap_or_else(|e| panic!("{overrides:?}: {e}"));
    assert_eq!(numbers(&full), numbers(&resumed), "{overrides:?}");
    (full, at)
}

fn check(overrides: &[&str]) {
    let base = [
        "seed=4",
        "network.depth=3",
        "network.width=5",
        "data.n_train=40",
        "data.n_test=30",
    ];
    let (full, at) = run_and_resume(&base, overrides, true);
    // Checkpoints at 5, 10, 15, 20 (none at the end): the file holds 20,
    // unless the method stopped earlier (ELM after one iteration).
    assert!(
        at == 20 || full.summary.iterations < 20,
        "{overrides:?}: {at}"
    );
}

#[test]
fn every_method_resumes_bit_for_bit() {
    for m in [
        "ls-gd",
        "ls-adam",
        "ls-lbfgs",
        "ls-adam-lbfgs",
        "pm",
        "sapm",
        "lm",
        "varpro",
        "sapm-gn",
    ] {
        check(&[&format!("method={m}")]);
    }
}

#[test]
fn lm_variants_resume_bit_for_bit() {
    for extra in [
        // The primal form (more residuals than parameters).
        &["method=lm", "data.n_train=200"][..],
        &["method=varpro", "data.n_train=200"],
        &["method=lm", "lm.geodesic=true"],
        &["method=lm", "lm.line_search=true"],
    ] {
        check(extra);
    }
}

#[test]
fn penalty_variants_resume_bit_for_bit() {
    for extra in [
        // Large steps: backtracking, so the step sizes carry over.
        &["method=sapm", "sapm.tau=50"][..],
        &[
            "method=sapm",
            "sapm.aux_order=gauss-seidel",
            "sapm.aux_steps=2",
        ],
        &["method=sapm", "sapm.solver=cholesky", "sapm.cap_output=10"],
        // Warm start: Adam, then SAPM; the checkpoint is in the SAPM phase.
        &["method=sapm", "sapm.warm_start=7"],
        &["method=pm", "pm.aux_init=random", "pm.sweep=forward"],
        &["method=sapm-gn", "sapm_gn.warm_start=7"],
    ] {
        check(extra);
    }
}

/// A single-stage PINN run (transport, few points) stopped at its
/// checkpoint after 20 iterations and resumed.
fn check_pinn(overrides: &[&str]) {
    let base = [
        "seed=3",
        "network.depth=3",
        "network.width=6",
        "pde.problem=transport1d",
        "pde.n_interior=40",
        "pde.n_boundary=10",
        "pde.n_test=11",
    ];
    let (full, at) = run_and_resume(&base, overrides, false);
    assert_eq!(full.summary.iterations, 23, "{overrides:?}");
    assert_eq!(at, 20, "{overrides:?}");
    let a = numbers(&full);
    // The PINN numbers are there to compare.
    assert!(a.0["rel_l2"].as_f64().unwrap().is_finite(), "{overrides:?}");
    if overrides.iter().any(|o| o.contains("pm")) {
        assert!(
            a.0["derivative_gap"].as_f64().unwrap().is_finite(),
            "{overrides:?}"
        );
    }
}

#[test]
fn single_stage_pinn_runs_resume_bit_for_bit() {
    for extra in [
        &["method=sapm"][..],
        // Warm start: Adam, then SAPM-PINN; the checkpoint is in the SAPM phase.
        &["method=sapm", "sapm.warm_start=7"],
        // Large steps: backtracking, so the step size carries over.
        &["method=pm", "pm.tau=50"],
        &["method=pm", "pm.tau=1e4"],
        &["method=sapm", "sapm.tau=1e3"],
        &["method=sapm", "sapm.tau=1e6"],
        &["method=ls-adam-lbfgs"],
        &["method=lm"],
        &["method=lm", "lm.line_search=true"],
        &["method=varpro"],
        // Mini-batches of the points, subset and resampled.
        &["method=ls-adam", "train.batch_size=8"],
        &[
            "method=ls-adam",
            "train.batch_size=8",
            "pde.batch={mode=\"resample\"}",
        ],
    ] {
        check_pinn(extra);
    }
}

/// PM and SAPM on second-order rows (second-derivative auxiliaries, mixed
/// boundary with per-point coefficients) resume bit for bit.
#[test]
fn second_order_penalty_runs_resume_bit_for_bit() {
    let base = [
        "seed=3",
        "network.depth=3",
        "network.width=6",
        "pde.problem=poisson2d_mixed",
        "pde.n_interior=40",
        "pde.n_boundary=12",
        "pde.n_test=5",
    ];
    for extra in [
        &["method=sapm"][..],
        &["method=sapm", "sapm.warm_start=7"],
        &["method=pm", "pm.tau=50"],
    ] {
        let (full, at) = run_and_resume(&base, extra, false);
        assert_eq!((full.summary.iterations, at), (23, 20), "{extra:?}");
        let a = numbers(&full);
        assert!(
            a.0["derivative_gap"].as_f64().unwrap().is_finite(),
            "{extra:?}"
        );
    }
}

/// Stops the run after `at` iterations in all (a Ctrl-C at that moment).
struct StopAt {
    at: usize,
    seen: usize,
}

impl sapm::driver::Observer for StopAt {
    fn on_iteration(&mut self, _it: usize, _objective: f64) {
        self.seen += 1;
    }
    fn should_stop(&mut self) -> bool {
        self.seen >= self.at
    }
}

/// Curriculum and time-marching runs are checkpointed in every stage: a run
/// interrupted in its first or a later stage (or window) and resumed ends
/// with the numbers of the uninterrupted run, bit for bit, windows included.
#[test]
fn curriculum_and_time_marching_pinn_runs_resume_bit_for_bit() {
    let sets = |extra: &[&str]| -> sapm::config::Checked {
        let mut s = vec![
            "network.depth=3",
            "network.width=5",
            "pde.problem=transport1d",
            "pde.beta=2.0",
            "pde.n_interior=30",
            "pde.n_boundary=8",
            "pde.n_test=7",
            "train.max_iterations=6",
            "train.record_every=2",
            "train.checkpoint_every=0",
        ];
        s.extend(extra);
        checked("", &s)
    };
    let windows = |f: &Fitted| -> Vec<_> { f.windows.iter().map(numbers).collect() };
    for (extra, stops) in [
        (
            &["method=sapm", "pde.curriculum=[1.0, 1.5]"][..],
            &[3, 8, 15][..],
        ),
        (&["method=ls-adam", "pde.curriculum=[1.0]"], &[4, 9]),
        (&["method=sapm", "pde.time_windows=3"], &[2, 7, 13]),
        (&["method=ls-adam", "pde.time_windows=2"], &[5, 6, 10]),
        (
            &["method=ls-adam", "pde.time_windows=2", "train.batch_size=7"],
            &[5, 6, 10],
        ),
    ] {
        let cfg = sets(extra);
        let full = fit_checkpointed(&cfg, None, &mut NoObserver, None, None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for &at in stops {
            let path = dir.path().join(format!("{at}.sapm"));
            let mut ck = CheckpointFile::new(&path, &cfg);
            let mut stop = StopAt { at, seen: 0 };
            let cut = fit_checkpointed(&cfg, None, &mut stop, Some(&mut ck), None).unwrap();
            assert_eq!(
                cut.summary.status.as_str(),
                "interrupted",
                "{extra:?} at {at}"
            );
            let mut r = StateReader::open(&path).unwrap();
            let resumed = fit_checkpointed(&cfg, None, &mut NoObserver, None, Some(&mut r))
                .unwrap_or_else(|e| panic!("{extra:?} at {at}: {e}"));
            assert_eq!(numbers(&full), numbers(&resumed), "{extra:?} at {at}");
            assert_eq!(windows(&full), windows(&resumed), "{extra:?} at {at}");
        }
    }
}

/// A checkpoint is refused for other PINN points (another sampling seed of
/// the points is another run).
#[test]
fn pinn_resume_refuses_other_points() {
    let base = [
        "method=sapm",
        "network.depth=3",
        "network.width=4",
        "pde.problem=transport1d",
        "pde.n_interior=20",
        "pde.n_boundary=6",
        "pde.n_test=5",
        "train.max_iterations=6",
        "train.checkpoint_every=5",
        "train.checkpoint_seconds=0",
    ];
    let cfg = |extra: &str| {
        let mut s = base.to_vec();
        s.push(extra);
        checked("", &s)
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sapm");
    let a = cfg("pde.n_interior=20");
    let mut ck = CheckpointFile::new(&path, &a);
    fit_checkpointed(&a, None, &mut NoObserver, Some(&mut ck), None).unwrap();
    let b = cfg("pde.n_interior=21");
    let mut r = StateReader::open(&path).unwrap();
    let e = fit_checkpointed(&b, None, &mut NoObserver, None, Some(&mut r))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data_fingerprint") && e.contains("PINN points"),
        "{e}"
    );
}
