//! Honest reporting (issue 14): FAILED fits, and what `sapm plot` skips.

mod common;

use common::{assert_ok, example, json, plot, sapm, stderr, table, train, write};
use std::path::PathBuf;

/// Raw targets in the hundreds: Adam at its defaults ended far above the
/// mean's MSE and the console said nothing. Now the console, summary.json
/// and the exit status tell: FAILED, with the likely cause; and the default
/// `data.scale = "standard"` fits the same data.
#[test]
fn a_fit_worse_than_the_mean_is_flagged_failed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = table("a,b,y", 120, |i| {
        let (a, b) = ((i % 11) as f64, (i % 7) as f64 * 3.0);
        format!("{a},{b},{}", 150.0 + 20.0 * a + 9.0 * b)
    });
    write(d, "raw.csv", &csv);
    let cfg = write(
        d,
        "c.toml",
        "method = \"ls-adam\"\n[data]\ntrain = \"raw.csv\"\n[train]\nmax_iterations = 300\n",
    );
    let scaled = d.join("scaled");
    let e = assert_ok(&train(&cfg, &scaled, &[]));
    assert!(!e.contains("FAILED"), "{e}");
    assert_eq!(json(&scaled.join("summary.json"))["failed"], false);
    let out = d.join("run");
    let e = assert_ok(&train(&cfg, &out, &["--set", "data.scale=none"]));
    assert!(
        e.contains("FAILED: train MSE") && e.contains("predicting the mean"),
        "{e}"
    );
    assert!(
        e.contains("not scaled") && e.contains("data.scale") && e.contains("adam.lr"),
        "{e}"
    );
    let s = json(&out.join("summary.json"));
    assert_eq!(s["failed"], true);
    assert!(s["failure"].as_str().unwrap().contains("not scaled"));
    // A sound fit is not failed.
    let o = sapm([
        "train",
        "--quiet",
        "--out",
        d.join("ok").to_str().unwrap(),
        "--set",
        "method=ls-lbfgs",
        "--set",
        "train.max_iterations=200",
    ]);
    assert!(!stderr(&o).contains("FAILED"), "{}", stderr(&o));
    assert_eq!(json(&d.join("ok/summary.json"))["failed"], false);
}

/// `sapm plot` failed on a time-marching folder and silently skipped the
/// prediction plot of multi-output and 3-D runs. Now it draws what it can
/// and names what it skips, and why.
#[test]
fn sapm_plot_says_what_it_skips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = [
        "--set",
        "train.max_iterations=3",
        "--set",
        "adam_lbfgs.adam_steps=2",
        "--set",
        "pde.n_interior=40",
        "--set",
        "pde.n_boundary=10",
        "--set",
        "pde.n_test=5",
    ];
    let train_as = |name: &str, config: &str, extra: &[&str]| -> PathBuf {
        let out = d.join(name);
        let o = train(config, &out, extra);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        out
    };
    let march = example("pde-transport1d-march.toml");
    let mut sets = small.to_vec();
    sets.extend(["--set", "pde.time_windows=2"]);
    let out = train_as("march", &march, &sets);
    let o = plot(&out);
    assert_ok(&o);
    assert!(
        stderr(&o).contains(
            "skipped solution: a time-marching run's solution is piecewise over 2 windows"
        ),
        "{}",
        stderr(&o)
    );
    assert!(out.join("loss.png").is_file() && out.join("loss.svg").is_file());

    let custom = example("pde-custom.toml");
    let mut sets = small.to_vec();
    sets.extend([
        "--set",
        "pde.lo=[0.0, 0.0, 0.0]",
        "--set",
        "pde.hi=[1.0, 1.0, 1.0]",
        "--set",
        "pde.c=[2, 1, 1]",
    ]);
    let out = train_as("cube", &custom, &sets);
    let o = plot(&out);
    assert_ok(&o);
    assert!(
        stderr(&o)
            .contains("skipped solution: heat maps are drawn for problems in 1 or 2 coordinates")
            && stderr(&o).contains("has 3"),
        "{}",
        stderr(&o)
    );

    let csv = table("x,u,v", 30, |i| {
        let x = i as f64 / 10.0;
        format!("{x},{},{}", x.sin(), x.cos())
    });
    write(d, "two.csv", &csv);
    let cfg = write(
        d,
        "two.toml",
        "method = \"ls-adam\"\n[data]\ntrain = \"two.csv\"\noutputs = [\"u\", \"v\"]\n[train]\nmax_iterations = 3\n",
    );
    let out = train_as("two", cfg.to_str().unwrap(), &[]);
    let o = plot(&out);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("skipped prediction: drawn for 1 input and 1 output; this model has 1 inputs and 2 outputs"),
        "{}",
        stderr(&o)
    );
}
