//! The `sapm train` command on a PDE config.

mod common;

use common::{assert_ok, example, json, train};

/// Trains `example` into a fresh folder with `extra` arguments, first
/// running `prepare` on the output folder; returns the folder (kept alive
/// by the returned temporary directory), the stderr and the summary.
fn train_example(
    name: &str,
    extra: &[&str],
    prepare: impl FnOnce(&std::path::Path),
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    String,
    serde_json::Value,
) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    prepare(&out);
    let err = assert_ok(&train(example(name), &out, extra));
    let s = json(&out.join("summary.json"));
    (dir, out, err, s)
}

#[test]
fn train_writes_pinn_outputs() {
    let (_dir, out, err, s) = train_example(
        "pde-steady1d-sapm.toml",
        &["--set", "train.max_iterations=5"],
        |_| {},
    );
    assert!(err.contains("rel L2"), "{err}");
    for k in [
        "rel_l2",
        "rel_l2_f32",
        "pde_loss",
        "bc_loss",
        "derivative_gap",
    ] {
        assert!(s[k].is_number(), "{k}: {s}");
    }
    let hist = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert!(hist.starts_with(
        "iteration,seconds,objective,aux_loss,pinn_loss,pde_loss,bc_loss,rel_l2,derivative_gap"
    ));
    assert!(out.join("model.json").is_file());
}

#[test]
fn time_marching_writes_each_window() {
    let (_dir, out, err, s) = train_example(
        "pde-transport1d-march.toml",
        &[
            "--set",
            "pde.time_windows=3",
            "--set",
            "train.max_iterations=4",
            "--set",
            "adam_lbfgs.adam_steps=2",
            "--set",
            "pde.n_interior=50",
            "--set",
            "pde.n_boundary=10",
            "--set",
            "pde.n_test=11",
        ],
        |out| {
            // A stale model.json from an earlier run in the same folder is removed.
            std::fs::create_dir_all(out).unwrap();
            std::fs::write(out.join("model.json"), "{}").unwrap();
        },
    );
    assert!(err.contains("window 2 (t in [0.6667, 1.0000])"), "{err}");
    assert!(s["rel_l2"].is_number(), "{s}");
    assert_eq!(s["iterations"], 12);
    assert_eq!(s["n_test"], 121);
    let w = s["windows"].as_array().unwrap();
    assert_eq!(w.len(), 3);
    assert_eq!(w[1]["t_lo"], 1.0 / 3.0);
    assert!(!out.join("model.json").exists());
    for k in 0..3 {
        let wd = out.join(format!("window-{k}"));
        assert!(wd.join("model.json").is_file() && wd.join("summary.json").is_file());
    }
}
