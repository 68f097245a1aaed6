//! End-to-end tests of the `sapm` command.

mod common;

use common::{
    TINY_DATA, assert_code, assert_ok, eval_args, eval_matching_summary, json, predict_args, sapm,
    stderr, table, tiny, train, write,
};
use sapm::config::Method;
use std::path::PathBuf;

#[test]
fn train_predict_eval_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", &tiny("sapm"));
    let out = dir.path().join("run");
    assert_ok(&train(&cfg, &out, &["--set", "sapm.tau=0.5"]));
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
    assert_ok(&sapm(predict_args(&model, &input, &pred, &[])));
    let p = std::fs::read_to_string(&pred).unwrap();
    let rows: Vec<&str> = p.lines().collect();
    assert_eq!(rows[0], "x,y_pred");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[2].split(',').next().unwrap().parse::<f64>().unwrap(),
        -1.25
    );

    // eval: MSE of the training run's test grid equals the summary's test_mse.
    let csv = table("x,y", 40, |j| {
        let x = -3.0 + 6.0 * j as f64 / 39.0;
        format!("{x:e},{:e}", (x * x).sin())
    });
    let data = write(dir.path(), "test.csv", &csv);
    let m = eval_matching_summary(&sapm(eval_args(&model, &data, &[])), &s);
    assert_eq!(m["n"], 40);
}

#[test]
fn every_method_runs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", &tiny("sapm"));
    // The gradient, ELM, penalty and SAPM-GN methods (LM and VarPro: tests/lm.rs in the library).
    for m in Method::ALL
        .iter()
        .filter(|m| !matches!(m, Method::Lm | Method::Varpro))
        .map(|m| m.name())
    {
        let out = dir.path().join(m);
        let method = format!("method={m}");
        let mut extra = vec!["--set", &method];
        // Only keys the method reads (others are refused by name).
        match m {
            "ls-adam-lbfgs" => extra.extend(["--set", "adam_lbfgs.adam_steps=5"]),
            "sapm" => extra.extend(["--set", "sapm.warm_start=3"]),
            _ => {}
        }
        let o = train(&cfg, &out, &extra);
        assert!(o.status.success(), "{m}: {}", stderr(&o));
        let s = json(&out.join("summary.json"));
        assert_eq!(s["method"], m);
        assert!(s["train_mse"].as_f64().unwrap().is_finite());
        // The auxiliary-variable methods report J_aux.
        let aux = matches!(m, "pm" | "sapm" | "sapm-gn");
        assert_eq!(s["aux_loss"].is_null(), !aux, "{m}");
    }
}

/// Each bad input exits non-zero with a message naming the problem, and writes nothing.
#[test]
fn bad_inputs_fail_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tiny = tiny("sapm");
    let good = write(d, "good.toml", &tiny);
    let csv_cfg = |name: &str, body: &str| -> PathBuf {
        let data = write(d, &format!("{name}.csv"), body);
        write(
            d,
            &format!("{name}.toml"),
            &format!("{tiny}\n[data]\ntrain = {:?}\n", data.to_str().unwrap())
                .replace(TINY_DATA, ""),
        )
    };
    let config = |p: PathBuf| vec!["--config".to_string(), p.to_str().unwrap().into()];
    let set = |kv: &str| {
        let mut v = config(good.clone());
        v.extend(["--set".into(), kv.into()]);
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (config(d.join("missing.toml")), "missing.toml"),
        (set("bogus=1"), "bogus"),
        (set("network.width=0"), "network.width"),
        (set("network.depth=0"), "network.depth"),
        (set("train.max_iterations=0"), "max_iterations"),
        (set("train.max_iterations=-5"), "max_iterations"),
        (set("adam.lr=-0.1"), "adam.lr"),
        (set("sapm.tau=0"), "sapm.tau"),
        (set("data.n_train=0"), "n_train"),
        (
            config(csv_cfg("nan", "x,y\n1,2\n3,nan\n4,5\n6,7\n8,9\n")),
            "not finite",
        ),
        (
            config(csv_cfg("inf", "x,y\n1,2\n3,4\n4,-inf\n6,7\n8,9\n")),
            "not finite",
        ),
        (
            config(csv_cfg("ragged", "x,y\n1,2\n3\n4,5\n6,7\n8,9\n")),
            "ragged",
        ),
        (
            config(csv_cfg("text", "x,y\n1,2\n3,abc\n4,5\n6,7\n8,9\n")),
            "not a number",
        ),
        (config(csv_cfg("empty", "x,y\n")), "no data rows"),
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
        let o = sapm(full);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: stderr lacks {want:?}: {err}");
        assert!(!out.exists(), "{args:?} left output behind");
    }

    // Dimension mismatch at predict/eval time, and a corrupt model file.
    let out = d.join("run");
    assert!(train(&good, &out, &[]).status.success());
    let model = out.join("model.json");
    let wrong = write(d, "wrong.csv", "a,b\n1,2\n");
    let pred = d.join("pred.csv");
    let o = sapm(predict_args(&model, &wrong, &pred, &[]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("expected columns"));
    assert!(!pred.exists());
    let o = sapm(eval_args(&model, write(d, "x_only.csv", "x\n1\n"), &[]));
    assert!(!o.status.success());
    let bad_model = write(d, "bad.json", "{\"format\": \"sapm-model\"");
    let o = sapm(eval_args(&bad_model, &wrong, &[]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bad.json"));
}

/// Divergence stops the run, names the iteration, keeps the last finite model, exits with 3.
#[test]
fn divergence_is_reported_and_the_last_finite_model_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "c.toml", &tiny("sapm"));
    let out = dir.path().join("run");
    let o = train(
        &cfg,
        &out,
        &[
            "--set",
            "method=ls-gd",
            "--set",
            "gd.lr=1e6",
            "--set",
            "train.max_iterations=200",
        ],
    );
    assert_code(&o, 3);
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
        let o = sapm([
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
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(want), "{mode}: {out}");
    }
    let o = sapm(["bench", "--n", "0"]);
    assert!(!o.status.success());
    let o = sapm(["bench", "--depth", "1"]);
    assert!(!o.status.success());
    let o = sapm(["bench", "--mode", "memory", "--solver", "lu"]);
    assert!(!o.status.success());
}
