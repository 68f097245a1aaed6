//! Honest reporting (issue 14): FAILED fits, and what `sapm plot` skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sapm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sapm"))
        .args(args)
        .output()
        .expect("runs")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Raw targets in the hundreds: Adam at its defaults ended far above the
/// mean's MSE and the console said nothing. Now the console, summary.json
/// and the exit status tell: FAILED, with the likely cause.
#[test]
fn a_fit_worse_than_the_mean_is_flagged_failed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut csv = String::from("a,b,y\n");
    for i in 0..120 {
        let (a, b) = ((i % 11) as f64, (i % 7) as f64 * 3.0);
        csv.push_str(&format!("{a},{b},{}\n", 150.0 + 20.0 * a + 9.0 * b));
    }
    write(d, "raw.csv", &csv);
    let cfg = write(
        d,
        "c.toml",
        "method = \"ls-adam\"\n[data]\ntrain = \"raw.csv\"\n[train]\nmax_iterations = 300\n",
    );
    let out = d.join("run");
    let o = sapm(&[
        "train",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains("FAILED: train MSE") && e.contains("predicting the mean"),
        "{e}"
    );
    assert!(e.contains("not scaled") && e.contains("adam.lr"), "{e}");
    let s = json(&out.join("summary.json"));
    assert_eq!(s["failed"], true);
    assert!(s["failure"].as_str().unwrap().contains("not scaled"));
    // A sound fit is not failed.
    let o = sapm(&[
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

fn plot(dir: &Path) -> Output {
    sapm(&["plot", dir.to_str().unwrap()])
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
    let train = |name: &str, config: &str, extra: &[&str]| -> PathBuf {
        let out = d.join(name);
        let mut args = vec![
            "train",
            "--quiet",
            "--config",
            config,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = sapm(&args);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        out
    };
    let march = example("pde-transport1d-march.toml");
    let mut sets = small.to_vec();
    sets.extend(["--set", "pde.time_windows=2"]);
    let out = train("march", &march, &sets);
    let o = plot(&out);
    assert!(o.status.success(), "{}", stderr(&o));
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
    let out = train("cube", &custom, &sets);
    let o = plot(&out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("skipped solution: heat maps are drawn for problems in 1 or 2 coordinates")
            && stderr(&o).contains("has 3"),
        "{}",
        stderr(&o)
    );

    let mut csv = String::from("x,u,v\n");
    for i in 0..30 {
        let x = i as f64 / 10.0;
        csv.push_str(&format!("{x},{},{}\n", x.sin(), x.cos()));
    }
    write(d, "two.csv", &csv);
    let cfg = write(
        d,
        "two.toml",
        "method = \"ls-adam\"\n[data]\ntrain = \"two.csv\"\noutputs = [\"u\", \"v\"]\n[train]\nmax_iterations = 3\n",
    );
    let out = train("two", cfg.to_str().unwrap(), &[]);
    let o = plot(&out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("skipped prediction: drawn for 1 input and 1 output; this model has 1 inputs and 2 outputs"),
        "{}",
        stderr(&o)
    );
}
