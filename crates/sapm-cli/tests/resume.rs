//! Checkpoints under real process deaths: a run killed with SIGKILL (or
//! stopped by SIGTERM) and resumed with `sapm train --resume` must end with
//! the same numbers, bit for bit, as a run that was never interrupted.
//!
//! Reproduce by hand: `cargo test -p sapm-cli --release --test resume`.

mod common;

use common::{assert_ok, json, resume_args, sapm, spawn, stderr, terminate, train, train_args};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

fn config(dir: &Path, method: &str, iterations: usize) -> PathBuf {
    let p = dir.join(format!("{method}.toml"));
    let text = format!(
        "method = \"{method}\"\nseed = 5\n[network]\ndepth = 3\nwidth = 6\n\
         [data]\nn_train = 200\nn_test = 50\n\
         [train]\nmax_iterations = {iterations}\nrecord_every = 7\ncheckpoint_every = 50\ncheckpoint_seconds = 0\n{}",
        if method == "ls-adam-lbfgs" {
            "[adam_lbfgs]\nadam_steps = 150\n"
        } else {
            ""
        }
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// The checkpoint's iteration, once the file exists.
fn checkpoint_iteration(dir: &Path) -> Option<u64> {
    let r = sapm::checkpoint::StateReader::open(&dir.join("checkpoint.sapm")).ok()?;
    r.int("run.iteration").ok()
}

/// Wait until `dir` holds a checkpoint of at least `min_iteration`, then
/// return it; panics if the run ends first.
fn wait_for_checkpoint(child: &mut Child, dir: &Path, min_iteration: u64) -> u64 {
    let mut at = None;
    wait_until(
        child,
        &format!("a checkpoint of iteration {min_iteration}"),
        || {
            at = checkpoint_iteration(dir).filter(|&i| i >= min_iteration);
            at.is_some()
        },
    );
    at.unwrap()
}

/// Polls `ready` every millisecond until it holds; panics if `child` ends
/// first (naming `what` it waited for) or after two minutes.
fn wait_until(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ready() {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("the run ended ({s}) before {what}");
        }
        assert!(t.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// History rows without the `seconds` column.
fn history(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("history.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.remove(1);
            f.join(",")
        })
        .collect()
}

/// Same summary numbers (all but `seconds` and `phase_seconds`), weights and history rows.
fn assert_same_run(reference: &Path, resumed: &Path) {
    let mut a = json(&reference.join("summary.json"));
    let mut b = json(&resumed.join("summary.json"));
    for s in [&mut a, &mut b] {
        s.as_object_mut().unwrap().remove("seconds");
        s.as_object_mut().unwrap().remove("phase_seconds");
        for w in s
            .get_mut("windows")
            .and_then(|w| w.as_array_mut())
            .into_iter()
            .flatten()
        {
            w.as_object_mut().unwrap().remove("seconds");
        }
    }
    assert_eq!(a["status"], "max_iterations");
    assert_eq!(a, b, "summary.json differs");
    if !reference.join("model.json").exists() {
        // A time-marching run: the models are in the window folders.
        assert!(!resumed.join("model.json").exists());
        assert_eq!(history(reference), history(resumed), "history differs");
        return;
    }
    // Text equality of shortest round-trip floats is bit equality.
    assert_eq!(
        std::fs::read_to_string(reference.join("model.json")).unwrap(),
        std::fs::read_to_string(resumed.join("model.json")).unwrap(),
        "model.json weights differ"
    );
    assert_eq!(history(reference), history(resumed), "history differs");
}

fn run_reference(cfg: &Path, out: &Path) {
    assert_ok(&train(cfg, out, &[]));
}

fn resume(dir: &Path) {
    assert_ok(&sapm(resume_args(dir, &[])));
}

/// [`kill_and_resume_config`] for a regression run of `method`.
fn kill_and_resume(method: &str, iterations: usize, min_iteration: u64) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), method, iterations);
    kill_and_resume_config(&cfg, iterations, min_iteration);
}

/// A tiny single-stage PINN config (transport, few points, L = 3, width 6).
fn pinn_config(dir: &Path, method: &str, iterations: usize, extra: &str) -> PathBuf {
    let p = dir.join(format!("pinn-{method}.toml"));
    let text = format!(
        "method = \"{method}\"\nseed = 5\n[network]\ndepth = 3\nwidth = 6\n\
         [pde]\nproblem = \"transport1d\"\nn_interior = 60\nn_boundary = 12\nn_test = 11\n{extra}\
         [train]\nmax_iterations = {iterations}\nrecord_every = 7\ncheckpoint_every = 10\ncheckpoint_seconds = 0\n"
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `cfg` uninterrupted into `reference` next to it, then starts it
/// into the folder `name` there and waits for a checkpoint of at least
/// `min_iteration`: returns both folders, the running child and the
/// checkpoint's iteration.
fn reference_and_started(
    cfg: &Path,
    name: &str,
    min_iteration: u64,
) -> (PathBuf, PathBuf, Child, u64) {
    let dir = cfg.parent().unwrap();
    let reference = dir.join("reference");
    run_reference(cfg, &reference);

    let out = dir.join(name);
    let mut child = spawn(train_args(cfg, &out, &[]));
    let at = wait_for_checkpoint(&mut child, &out, min_iteration);
    (reference, out, child, at)
}

/// Kill a run of `cfg` with SIGKILL once it has checkpointed `min_iteration`
/// iterations, resume it, and compare with an uninterrupted run.
fn kill_and_resume_config(cfg: &Path, iterations: usize, min_iteration: u64) {
    let (reference, killed, mut child, at) = reference_and_started(cfg, "killed", min_iteration);
    assert!(
        child.try_wait().unwrap().is_none(),
        "finished before the kill"
    );
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    assert!(
        !killed.join("summary.json").exists(),
        "the run finished before it was killed (checkpoint at {at})"
    );
    let left = checkpoint_iteration(&killed).unwrap();
    assert!(left >= at && (left as usize) < iterations, "{left}");

    resume(&killed);
    assert_same_run(&reference, &killed);
}

#[test]
fn sigkill_then_resume_matches_an_uninterrupted_sapm_pinn_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = pinn_config(dir.path(), "sapm", PINN_ITERATIONS, "");
    kill_and_resume_config(&cfg, PINN_ITERATIONS, 20);
    let s = json(&dir.path().join("killed").join("summary.json"));
    assert!(s["rel_l2"].as_f64().is_some() && s["derivative_gap"].as_f64().is_some());
}

/// SIGTERM stops a PINN run with a checkpoint of the iteration it stopped at.
#[test]
fn sigterm_stops_a_pinn_run_with_a_checkpoint_that_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = pinn_config(dir.path(), "pm", PINN_ITERATIONS, "");
    term_and_resume_config(&cfg, PINN_ITERATIONS, 20);
}

/// Stop a run of `cfg` with SIGTERM once it has checkpointed `min_iteration`
/// iterations: it must exit with code 4, status `interrupted` and a
/// checkpoint of the iteration it stopped at, and resume to the same numbers
/// as an uninterrupted run.
fn term_and_resume_config(cfg: &Path, iterations: usize, min_iteration: u64) {
    let (reference, stopped, mut child, _) = reference_and_started(cfg, "stopped", min_iteration);
    terminate(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4), "exit code of an interrupted run");
    let s = json(&stopped.join("summary.json"));
    assert_eq!(s["status"], "interrupted");
    let n = s["iterations"].as_u64().unwrap();
    assert!(n > 0 && n < iterations as u64, "{n}");
    // The interrupt checkpoint is of the iteration the run stopped at.
    assert_eq!(checkpoint_iteration(&stopped), Some(n));

    resume(&stopped);
    assert_same_run(&reference, &stopped);
}

/// Iterations of the killed PINN run: enough that it is still running when
/// its first checkpoints appear.
const PINN_ITERATIONS: usize = 5_000;

/// The (stage, iteration) of the checkpoint in `dir`, once it exists.
fn checkpoint_stage(dir: &Path) -> Option<(u64, u64)> {
    let r = sapm::checkpoint::StateReader::open(&dir.join("checkpoint.sapm")).ok()?;
    Some((r.int("schedule.stage").ok()?, r.int("run.iteration").ok()?))
}

/// Kill `child` with SIGKILL once `dir` holds a checkpoint of stage
/// `stage` at `min_iteration` or later (panics if the run ends first).
fn kill_in_stage(mut child: Child, dir: &Path, stage: u64, min_iteration: u64) {
    wait_until(
        &mut child,
        &format!("stage {stage}, iteration {min_iteration}"),
        || checkpoint_stage(dir).is_some_and(|(s, i)| (s, i) >= (stage, min_iteration)),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dir.join("summary.json").exists(),
        "the run finished before it was killed"
    );
}

/// Curriculum and time-marching PINN runs killed with SIGKILL at seeded
/// random points in two different stages (windows), resumed after each
/// kill, end with the numbers of an uninterrupted run, bit for bit
/// (windows included).
#[test]
fn sigkill_in_later_stages_of_curriculum_and_time_marching_runs_resumes_bit_for_bit() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    for (name, method, extra, iterations) in [
        (
            "curriculum",
            "ls-adam",
            "beta = 2.0\ncurriculum = [1.0, 1.5]\n",
            1500,
        ),
        ("march", "sapm", "time_windows = 3\n", 400),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = pinn_config(dir.path(), method, iterations, extra);
        let reference = dir.path().join("reference");
        run_reference(&cfg, &reference);
        let killed = dir.path().join("killed");
        let (first, second) = (
            next(10, iterations as u64 / 2),
            next(10, iterations as u64 / 2),
        );
        kill_in_stage(spawn(train_args(&cfg, &killed, &[])), &killed, 1, first);
        let child = spawn(resume_args(&killed, &[]));
        kill_in_stage(child, &killed, 2, second);
        resume(&killed);
        assert_same_run(&reference, &killed);
        if name == "march" {
            for k in 0..3 {
                let w = format!("window-{k}");
                assert_same_run(&reference.join(&w), &killed.join(&w));
            }
        }
    }
}

#[test]
fn sigkill_then_resume_matches_an_uninterrupted_sapm_run() {
    kill_and_resume("sapm", 3_000, 100);
}

#[test]
fn sigkill_then_resume_matches_an_uninterrupted_ls_adam_run() {
    kill_and_resume("ls-adam", 12_000, 100);
}

/// Killed in the L-BFGS phase, after the switch from Adam.
#[test]
fn sigkill_then_resume_matches_an_uninterrupted_ls_adam_lbfgs_run() {
    kill_and_resume("ls-adam-lbfgs", 4_000, 200);
}

#[test]
fn sigterm_stops_cleanly_with_a_checkpoint_that_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "pm", 3_000);
    term_and_resume_config(&cfg, 3_000, 100);
}

#[test]
fn resume_refuses_config_changes_and_damaged_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "sapm", 120);
    let run = dir.path().join("run");
    assert!(train(&cfg, &run, &[]).status.success());
    let ckpt = run.join("checkpoint.sapm");
    assert_eq!(checkpoint_iteration(&run), Some(100));

    let o = sapm(resume_args(&run, &["--set", "sapm.tau=0.5"]));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("sapm.tau") && e.contains("cannot be changed"),
        "{e}"
    );

    // A longer run may continue from it.
    assert_ok(&sapm(resume_args(
        &run,
        &["--set", "train.max_iterations=160"],
    )));
    assert_eq!(json(&run.join("summary.json"))["iterations"], 160);

    // A flipped bit in the weights is caught by the whole-file checksum.
    let mut bytes = std::fs::read(&ckpt).unwrap();
    bytes[8 + 16] ^= 1;
    std::fs::write(&ckpt, &bytes).unwrap();
    let o = sapm(resume_args(&run, &[]));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("checkpoint.sapm") && e.contains("whole-file checksum"),
        "{e}"
    );

    // A cut file is refused before anything is read.
    std::fs::write(&ckpt, &bytes[..bytes.len() / 2]).unwrap();
    let o = sapm(resume_args(&run, &[]));
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("truncated"), "{e}");

    let o = sapm(resume_args(dir.path(), &[]));
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("no checkpoint.sapm"),
        "{e}"
    );
}
