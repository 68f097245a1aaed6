//! Hostile and careless use of the `sapm` command (issue 14): hangs,
//! signals, output folders, memory, inputs and honest reporting.

mod common;

use common::{
    assert_code, assert_ok, command, eval_args, eval_matching_summary, json, resume_args, sapm,
    sapm_within, stderr, table, terminate, train, train_args, wait_within, write,
};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Targets of order 1e160 make the initial objective infinite: L-BFGS used
/// to spin for ever (and ignore SIGTERM); now every method ends at once as
/// diverged (exit code 3) with a message naming the overflow.
#[test]
fn an_infinite_initial_objective_ends_every_gradient_method_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let csv = table("x,y", 50, |i| {
        let x = -3.0 + 6.0 * i as f64 / 49.0;
        format!("{x},{:e}", 1e160 * f64::sin(x))
    });
    write(dir.path(), "big.csv", &csv);
    let cfg = write(
        dir.path(),
        "big.toml",
        "[network]\ndepth = 3\nwidth = 8\n[data]\ntrain = \"big.csv\"\n[train]\nmax_iterations = 50\n",
    );
    for method in ["ls-lbfgs", "ls-adam-lbfgs", "ls-adam"] {
        let out = dir.path().join(method);
        let t0 = Instant::now();
        let m = format!("method={method}");
        let mut extra = vec!["--set", m.as_str()];
        if method == "ls-adam-lbfgs" {
            extra.extend(["--set", "adam_lbfgs.adam_steps=0"]);
        }
        let o = sapm_within(&train_args(&cfg, &out, &extra), Duration::from_secs(20));
        assert_eq!(o.status.code(), Some(3), "{method}: {}", stderr(&o));
        assert!(t0.elapsed() < Duration::from_secs(5), "{method}: slow");
        let e = stderr(&o);
        assert!(e.contains("diverged") && e.contains("inf"), "{method}: {e}");
        if method == "ls-lbfgs" {
            assert!(e.contains("inf at the initial weights"), "{e}");
        }
    }
}

/// A long final evaluation (2^21 test points, ~15 s) ignored SIGTERM, and
/// the summary said 0.00 s. Now a signal in the evaluation ends the run at
/// once (exit 4), writing nothing; and a complete run reports the time of
/// every phase.
#[test]
fn sigterm_during_the_final_evaluation_exits_at_once() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = command([
        "train",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "method=ls-adam",
        "--set",
        "data.n_test=2097152",
        "--set",
        "train.max_iterations=1",
        "--set",
        "train.record_every=1000",
    ])
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        let go = l.contains("evaluating the final model");
        seen.push(l);
        if go {
            break;
        }
    }
    assert!(
        seen.last()
            .is_some_and(|l| l.contains("2097152 test points")),
        "{seen:?}"
    );
    // Well into the evaluation (predict_f32 alone takes seconds here).
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    terminate(&child);
    wait_within(
        &mut child,
        Duration::from_secs(20),
        "still evaluating after SIGTERM",
    );
    let took = t0.elapsed();
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(4), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("during the final evaluation")),
        "{rest:?}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(!out.exists(), "a folder was left behind");
}

#[test]
fn summaries_report_the_time_of_every_phase() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    assert_ok(&sapm([
        "train",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "train.max_iterations=5",
    ]));
    let p = &json(&out.join("summary.json"))["phase_seconds"];
    for k in ["setup", "training", "checkpoints", "evaluation", "writing"] {
        assert!(p[k].as_f64().is_some_and(|v| v >= 0.0), "{k}: {p}");
    }
}

/// Width 2^20 aborted with a faer AllocError panic (exit 101). Now the
/// run's memory is estimated first and refused with the estimate and the
/// limit (exit 1), with nothing written.
#[test]
fn a_run_too_big_for_the_memory_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (sets, limit) in [
        (vec!["network.width=1048576", "network.depth=2"], None),
        (vec!["data.n_train=16777216"], Some("2G")),
    ] {
        let mut args = vec!["train", "--quiet", "--out", out.to_str().unwrap()];
        for s in &sets {
            args.extend(["--set", s]);
        }
        if let Some(l) = limit {
            args.extend(["--max-memory", l]);
        }
        let o = sapm_within(&args, Duration::from_secs(60));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{sets:?}: {e}");
        assert!(
            e.contains("needs about") && e.contains("more than the limit"),
            "{e}"
        );
        assert!(!out.exists());
    }
    assert_code(&sapm(["train", "--out", "x", "--max-memory", "lots"]), 2);
}

/// Resuming a finished run with a smaller max_iterations silently
/// retrained from its last checkpoint; now it says there is nothing to do
/// and changes nothing. A larger budget continues it.
#[test]
fn resuming_a_finished_run_says_what_happens() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let base = [
        "train",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "method=ls-adam",
        "--set",
        "train.max_iterations=30",
        "--set",
        "train.checkpoint_every=10",
        "--set",
        "train.checkpoint_seconds=0",
    ];
    assert!(sapm(base).status.success());
    let before = std::fs::read(out.join("summary.json")).unwrap();
    for k in ["25", "30"] {
        let e = assert_ok(&sapm(resume_args(
            &out,
            &["--set", &format!("train.max_iterations={k}")],
        )));
        assert!(e.contains("nothing to do"), "{e}");
        assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), before);
    }
    assert_ok(&sapm(resume_args(
        &out,
        &["--set", "train.max_iterations=40"],
    )));
    assert_eq!(json(&out.join("summary.json"))["iterations"], 40);
}

/// Multi-output "mse" was the sum over outputs. Summaries, histories and
/// `eval` now report the mean over samples and outputs (scikit-learn's and
/// PyTorch's), and `eval` gives each output's MSE too.
#[test]
fn multi_output_mse_is_the_mean_over_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let two = |n: usize, shift: f64| {
        table("x,y1,y2", n, |i| {
            let x = -2.0 + 4.0 * i as f64 / (n - 1) as f64 + shift;
            format!("{x},{},{}", x.sin(), 3.0 * x.cos())
        })
    };
    write(d, "train.csv", &two(60, 0.0));
    write(d, "test.csv", &two(25, 0.01));
    let cfg = write(
        d,
        "c.toml",
        "method = \"ls-lbfgs\"\n[network]\ndepth = 2\nwidth = 8\n[data]\ntrain = \"train.csv\"\ntest = \"test.csv\"\noutputs = [\"y1\", \"y2\"]\nscale = \"none\"\n[train]\nmax_iterations = 30\nrecord_every = 30\n",
    );
    // `scale = "none"`: the objective is then in the data's units, as the MSEs.
    let out = d.join("run");
    assert_ok(&train(&cfg, &out, &[]));
    let s = json(&out.join("summary.json"));
    // The objective J_LS sums over the two outputs; train_mse is its half.
    let hist = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let last: Vec<f64> = hist
        .lines()
        .last()
        .unwrap()
        .split(',')
        .filter_map(|f| f.parse().ok())
        .collect();
    let (objective, train_mse) = (last[2], last[3]);
    assert!(
        (train_mse - objective / 2.0).abs() <= 1e-12 * objective,
        "{hist}"
    );
    assert_eq!(s["train_mse"].as_f64().unwrap(), train_mse);
    let m = eval_matching_summary(
        &sapm(eval_args(out.join("model.json"), d.join("test.csv"), &[])),
        &s,
    );
    let a = m["mse"].as_f64().unwrap();
    let per = &m["mse_per_output"];
    let mean = (per["y1"].as_f64().unwrap() + per["y2"].as_f64().unwrap()) / 2.0;
    assert!((mean - a).abs() <= 1e-12 * a, "{m}");
    assert_eq!(m["outputs"], 2);
}
