//! `sapm plot` on a `sapm train` folder and `sapm study` error paths, through the binary.

mod common;

use common::{assert_ok, command, plot, png_size, stderr, svg_size};
use std::path::Path;

#[test]
fn plot_draws_loss_and_prediction_of_a_train_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let st = command(["train", "--quiet", "--out"])
        .arg(&run)
        .args([
            "--set",
            "network.depth=3",
            "--set",
            "network.width=5",
            "--set",
            "train.max_iterations=20",
        ])
        .args([
            "--set",
            "data.n_train=30",
            "--set",
            "data.n_test=60",
            "--set",
            "method=sapm",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    assert_ok(&plot(&run));
    assert_eq!(png_size(&run.join("loss.png")), (1400, 520));
    assert_eq!(png_size(&run.join("prediction.png")), (800, 500));
    for f in ["loss.svg", "prediction.svg"] {
        let t = std::fs::read_to_string(run.join(f)).unwrap();
        assert!(t.contains("<svg") && t.contains("</svg>"), "{f}");
    }
    // Not a run folder: a clear error naming the missing file.
    let out = plot(dir.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("history.csv"));
}

#[test]
fn study_reports_unknown_studies_and_plans_dry_runs() {
    let dir = tempfile::tempdir().unwrap();
    let study = |args: &[&str], out: &str| {
        command(std::iter::once(&"study").chain(args))
            .arg("--out")
            .arg(dir.path().join(out))
            .output()
            .unwrap()
    };
    let out = study(&["nope"], "t");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("unknown study") && err.contains("transport"),
        "{err}"
    );
    assert!(!dir.path().join("t").exists());
    let out = study(&["transport", "--dry-run", "--jobs", "2"], "t");
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("transport: 150 runs, 2 jobs"), "{err}");
    assert!(err.contains("pde.problem=transport1d"), "{err}");
    let out = study(
        &["transport", "--dry-run", "--set", "study.betas=[-1]"],
        "t",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("study.betas"));
    assert!(!dir.path().join("t").exists());
    let out = study(&["depth", "--dry-run", "--seeds", "1", "--jobs", "2"], "d");
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("depth: 48 runs, 2 jobs"), "{err}");
    let out = study(&["depth", "--dry-run", "--set", "study.nope=1"], "d");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("study.nope"));
}

/// A second `sapm study` into the same folder reads complete runs back
/// instead of retraining them; a run whose folder lost its summary.json is
/// retrained.
#[test]
fn rerunning_a_study_skips_complete_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let study = || {
        let o = command([
            "study",
            "consistency",
            "--quiet",
            "--seeds",
            "1",
            "--iterations",
            "5",
            "--set",
            "data.n_train=40",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
        assert_ok(&o)
    };
    let first = study();
    assert!(!first.contains("skipped"), "{first}");
    let summaries: Vec<_> = ["sapm-s0", "pm-s0"]
        .iter()
        .map(|r| out.join("runs").join(r).join("summary.json"))
        .collect();
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before: Vec<_> = summaries.iter().map(|p| mtime(p)).collect();
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));

    let second = study();
    assert!(second.contains("skipped 2 complete runs"), "{second}");
    let after: Vec<_> = summaries.iter().map(|p| mtime(p)).collect();
    assert_eq!(before, after, "complete runs were retrained");
    // The study's own files are rebuilt from the runs read back.
    assert_eq!(
        std::fs::read_to_string(out.join("results.csv")).unwrap(),
        results
    );

    std::fs::remove_file(&summaries[1]).unwrap();
    let third = study();
    assert!(third.contains("skipped 1 complete runs"), "{third}");
    assert!(summaries[1].exists());
    assert_eq!(mtime(&summaries[0]), before[0]);
}

fn train_pinn(dir: &Path, problem: &str) {
    let st = command(["train", "--quiet", "--out"])
        .arg(dir)
        .args(["--set", "method=sapm", "--set", "train.max_iterations=3"])
        .args(["--set", "network.depth=3", "--set", "network.width=5"])
        .args(["--set", &format!("pde.problem={problem}")])
        .args(["--set", "pde.n_interior=40", "--set", "pde.n_boundary=10"])
        .args(["--set", "pde.n_test=11"])
        .output()
        .unwrap();
    assert_ok(&st);
}

#[test]
fn plot_draws_pinn_solution_exact_and_error_heat_maps() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("t1d");
    train_pinn(&run, "transport1d");
    assert_ok(&plot(&run));
    // Prediction, exact and error panels of 560 x 440 under a 40-pixel title band.
    assert_eq!(png_size(&run.join("solution.png")), (1680, 480));
    assert_eq!(svg_size(&run.join("solution.svg")), (1680, 480));
    let svg = std::fs::read_to_string(run.join("solution.svg")).unwrap();
    for t in ["exact solution", "pointwise error", "|error|"] {
        assert!(svg.contains(t), "solution.svg lacks {t:?}");
    }
    assert_eq!(png_size(&run.join("loss.png")), (1400, 520));
    // No regression prediction plot for a PINN.
    assert!(!run.join("prediction.png").exists());

    // A 1-D problem: prediction vs exact as a line plot.
    let run = dir.path().join("steady");
    train_pinn(&run, "steady1d");
    assert_ok(&plot(&run));
    assert_eq!(png_size(&run.join("solution.png")), (800, 540));
    assert_eq!(svg_size(&run.join("solution.svg")), (800, 540));
    assert!(!run.join("prediction.png").exists());
}
