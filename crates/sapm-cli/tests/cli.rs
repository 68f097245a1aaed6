//! End-to-end tests of the `sapm` command.

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

const TINY: &str = "method = \"sapm\"\nseed = 3\n[network]\ndepth = 3\nwidth = 6\n[data]\nn_train = 30\nn_test = 40\n[train]\nmax_iterations = 15\nrecord_every = 5\n";

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn train_predict_eval_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", TINY);
    let out = dir.path().join("run");
    let o = sapm(&[
        "train",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "sapm.tau=0.5",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = json(&out.join("summary.json"));
    for key in [
        "method",
        "status",
        "iterations",
        "seconds",
        "train_mse",
        "test_mse",
        "aux_loss",
        "seed",
        "config",
        "diagnostics",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}");
    }
    assert_eq!(s["method"], "sapm");
    assert_eq!(s["status"], "max_iterations");
    assert_eq!(s["iterations"], 15);
    assert_eq!(s["seed"], 3);
    assert_eq!(s["config"]["sapm"]["tau"], 0.5);
    assert!(s["aux_loss"].as_f64().unwrap() > 0.0);
    let hist = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let lines: Vec<&str> = hist.lines().collect();
    assert_eq!(
        lines[0],
        "iteration,seconds,objective,aux_loss,train_mse,test_mse"
    );
    assert_eq!(lines.len(), 1 + 4, "rows at 0, 5, 10, 15");
    assert!(lines.last().unwrap().starts_with("15,"));

    // predict on a CSV with the model's input column, plus an unrelated column.
    let input = write(dir.path(), "in.csv", "other,x\n7,0.5\n7,-1.25\n");
    let pred = dir.path().join("pred.csv");
    let model = out.join("model.json");
    let o = sapm(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        pred.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = std::fs::read_to_string(&pred).unwrap();
    let rows: Vec<&str> = p.lines().collect();
    assert_eq!(rows[0], "x,y");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[2].split(',').next().unwrap().parse::<f64>().unwrap(),
        -1.25
    );

    // eval: MSE of the training run's test grid equals the summary's test_mse.
    let mut csv = String::from("x,y\n");
    for j in 0..40 {
        let x = -3.0 + 6.0 * j as f64 / 39.0;
        csv.push_str(&format!("{x:e},{:e}\n", (x * x).sin()));
    }
    let data = write(dir.path(), "test.csv", &csv);
    let o = sapm(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (a, b) = (m["mse"].as_f64().unwrap(), s["test_mse"].as_f64().unwrap());
    assert!((a - b).abs() <= 1e-12 * b, "eval mse {a} vs summary {b}");
    assert_eq!(m["n"], 40);
}

#[test]
fn every_method_runs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", TINY);
    for m in [
        "ls-gd",
        "ls-adam",
        "ls-lbfgs",
        "ls-adam-lbfgs",
        "elm",
        "pm",
        "sapm",
    ] {
        let out = dir.path().join(m);
        let method = format!("method={m}");
        let mut args = vec![
            "train",
            "--quiet",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--set",
            &method,
        ];
        // Only keys the method reads (others are refused by name).
        match m {
            "ls-adam-lbfgs" => args.extend(["--set", "adam_lbfgs.adam_steps=5"]),
            "sapm" => args.extend(["--set", "sapm.warm_start=3"]),
            _ => {}
        }
        let o = sapm(&args);
        assert!(
            o.status.success(),
            "{m}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let s = json(&out.join("summary.json"));
        assert_eq!(s["method"], m);
        assert!(s["train_mse"].as_f64().unwrap().is_finite());
        assert_eq!(s["aux_loss"].is_null(), !matches!(m, "pm" | "sapm"), "{m}");
    }
}

/// Each bad input exits non-zero with a message naming the problem, and writes nothing.
#[test]
fn bad_inputs_fail_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = write(d, "good.toml", TINY);
    let csv_cfg = |name: &str, body: &str| -> PathBuf {
        let data = write(d, &format!("{name}.csv"), body);
        write(
            d,
            &format!("{name}.toml"),
            &format!("{TINY}\n[data]\ntrain = {:?}\n", data.to_str().unwrap())
                .replace("[data]\nn_train = 30\nn_test = 40\n", ""),
        )
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--config".into(),
                d.join("missing.toml").to_str().unwrap().into(),
            ],
            "missing.toml",
        ),
        (
            vec![
                "--config".into(),
                good.to_str().unwrap().into(),
                "--set".into(),
                "bogus=1".into(),
            ],
            "bogus",
        ),
        (
            vec![
                "--config".into(),
                good.to_str().unwrap().into(),
                "--set".into(),
                "network.width=0".into(),
            ],
            "network.width",
        ),
        (
            vec![
                "--config".into(),
                good.to_str().unwrap().into(),
                "--set".into(),
                "network.depth=0".into(),
            ],
            "network.depth",
        ),
        (
            vec![
                "--config".into(),
                good.to_str().unwrap().into(),
                "--set".into(),
                "train.max_iterations=0".into(),
            ],
            "max_iterations",
        ),
        (
            vec![
                "--config".into(),
                good.to_str().unwrap().into(),
                "--set".into(),
                "train.max_iterations=-5".into(),
            ],
            "max_iterations",
        ),
        (
            vec![
                "--config".into(),
                good.to_str().unwrap().into(),
                "--set".into(),
                "adam.lr=-0.1".into(),
            ],
            "adam.lr",
        ),
        (
            vec![
                "--config".into(),
                good.to_str().unwrap().into(),
                "--set".into(),
                "sapm.tau=0".into(),
            ],
            "sapm.tau",
        ),
        (
            vec![
                "--config".into(),
                good.to_str().unwrap().into(),
                "--set".into(),
                "data.n_train=0".into(),
            ],
            "n_train",
        ),
        (
            vec![
                "--config".into(),
                csv_cfg("nan", "x,y\n1,2\n3,nan\n4,5\n6,7\n8,9\n")
                    .to_str()
                    .unwrap()
                    .into(),
            ],
            "not finite",
        ),
        (
            vec![
                "--config".into(),
                csv_cfg("inf", "x,y\n1,2\n3,4\n4,-inf\n6,7\n8,9\n")
                    .to_str()
                    .unwrap()
                    .into(),
            ],
            "not finite",
        ),
        (
            vec![
                "--config".into(),
                csv_cfg("ragged", "x,y\n1,2\n3\n4,5\n6,7\n8,9\n")
                    .to_str()
                    .unwrap()
                    .into(),
            ],
            "ragged",
        ),
        (
            vec![
                "--config".into(),
                csv_cfg("text", "x,y\n1,2\n3,abc\n4,5\n6,7\n8,9\n")
                    .to_str()
                    .unwrap()
                    .into(),
            ],
            "not a number",
        ),
        (
            vec![
                "--config".into(),
                csv_cfg("empty", "x,y\n").to_str().unwrap().into(),
            ],
            "no data rows",
        ),
    ];
    for (args, want) in cases {
        let out = d.join("out");
        let mut full = vec![
            "train".to_string(),
            "--quiet".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        full.extend(args.clone());
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let o = sapm(&refs);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: stderr lacks {want:?}: {err}");
        assert!(!out.exists(), "{args:?} left output behind");
    }

    // Dimension mismatch at predict/eval time, and a corrupt model file.
    let out = d.join("run");
    assert!(
        sapm(&[
            "train",
            "--quiet",
            "--config",
            good.to_str().unwrap(),
            "--out",
            out.to_str().unwrap()
        ])
        .status
        .success()
    );
    let model = out.join("model.json");
    let wrong = write(d, "wrong.csv", "a,b\n1,2\n");
    let pred = d.join("pred.csv");
    let o = sapm(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        wrong.to_str().unwrap(),
        "--output",
        pred.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected columns"));
    assert!(!pred.exists());
    let o = sapm(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        write(d, "x_only.csv", "x\n1\n").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let bad_model = write(d, "bad.json", "{\"format\": \"sapm-model\"");
    let o = sapm(&[
        "eval",
        "--model",
        bad_model.to_str().unwrap(),
        "--data",
        wrong.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.json"));
}

/// Divergence stops the run, names the iteration, keeps the last finite model, exits with 3.
#[test]
fn divergence_is_reported_and_the_last_finite_model_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", TINY);
    let out = dir.path().join("run");
    let o = sapm(&[
        "train",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "method=ls-gd",
        "--set",
        "gd.lr=1e6",
        "--set",
        "train.max_iterations=200",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = json(&out.join("summary.json"));
    assert_eq!(s["status"], "diverged");
    let msg = s["message"].as_str().unwrap();
    assert!(
        msg.starts_with("diverged: ") && msg.contains(" at iteration "),
        "{msg}"
    );
    // The kept model is the last one whose loss passed the divergence test.
    let first: f64 = std::fs::read_to_string(out.join("history.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        s["train_mse"].as_f64().unwrap() <= 1e8 * first,
        "kept an exploded model"
    );
    let model = std::fs::read_to_string(out.join("model.json")).unwrap();
    assert!(!model.contains("NaN") && !model.contains("null"));
}

/// `sapm bench` runs every mode on tiny sizes and prints its tables (nothing
/// is timed or asserted about speed here), and rejects bad sizes.
#[test]
fn bench_modes_run_on_tiny_sizes() {
    for (mode, want) in [
        ("iteration", "SAPM iteration (TSQR)"),
        ("scaling", "Time per SAPM iteration against L"),
        ("threads", "speed-up"),
        ("memory", "peak RSS"),
        ("lm", "LM iteration (dual, N x N)"),
    ] {
        let o = sapm(&[
            "bench",
            "--mode",
            mode,
            "--n",
            "300,500",
            "--width",
            "4",
            "--depth",
            "3,2",
            "--reps",
            "1",
            "--block",
            "128",
            "--iterations",
            "1",
        ]);
        assert!(
            o.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(want), "{mode}: {out}");
    }
    let o = sapm(&["bench", "--n", "0"]);
    assert!(!o.status.success());
    let o = sapm(&["bench", "--depth", "1"]);
    assert!(!o.status.success());
    let o = sapm(&["bench", "--mode", "memory", "--solver", "lu"]);
    assert!(!o.status.success());
}
