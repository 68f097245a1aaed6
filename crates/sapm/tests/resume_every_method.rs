//! Every method, resumed from a mid-run checkpoint, ends with the numbers of
//! the uninterrupted run, bit for bit (the process-level kill tests are in
//! `crates/sapm-cli/tests/resume.rs`).

use sapm::checkpoint::StateReader;
use sapm::config::TrainConfig;
use sapm::fit::{CheckpointFile, Fitted, fit_checkpointed};
use sapm::train::NoObserver;

/// Summary without `seconds`, history without `seconds`, weights as bits.
fn numbers(f: &Fitted) -> (serde_json::Value, Vec<String>, Vec<u64>) {
    let mut v = serde_json::to_value(&f.summary).unwrap();
    v.as_object_mut().unwrap().remove("seconds");
    let h = f
        .history
        .iter()
        .map(|r| {
            format!(
                "{} {:e} {:?} {:?}",
                r.iteration, r.objective, r.aux_loss, r.values
            )
        })
        .collect();
    let w = f.model.net.params().iter().map(|p| p.to_bits()).collect();
    (v, h, w)
}

fn check(overrides: &[&str]) {
    let mut sets: Vec<String> = [
        "seed=4",
        "network.depth=3",
        "network.width=5",
        "data.n_train=40",
        "data.n_test=30",
        "train.max_iterations=23",
        "train.record_every=3",
        "train.checkpoint_every=5",
        "train.checkpoint_seconds=0",
        "adam_lbfgs.adam_steps=8",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.extend(overrides.iter().map(|s| s.to_string()));
    let cfg = TrainConfig::from_toml_str("", &sets, None).unwrap();
    let data = cfg.data.load(cfg.seed).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sapm");
    let mut ck = CheckpointFile::new(&path, &cfg);
    let full = fit_checkpointed(&cfg, &data, &mut NoObserver, Some(&mut ck), None).unwrap();
    // Checkpoints at 5, 10, 15, 20 (none at the end): the file holds 20,
    // unless the method stopped earlier (ELM after one iteration).
    let mut r = StateReader::open(&path).unwrap_or_else(|e| panic!("{overrides:?}: {e}"));
    let at = r.int("run.iteration").unwrap();
    assert!(
        at == 20 || full.summary.iterations < 20,
        "{overrides:?}: {at}"
    );
    let resumed = fit_checkpointed(&cfg, &data, &mut NoObserver, None, Some(&mut r))
        .unwrap_or_else(|e| panic!("{overrides:?}: {e}"));
    assert_eq!(numbers(&full), numbers(&resumed), "{overrides:?}");
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
    ] {
        check(&[&format!("method={m}")]);
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
    ] {
        check(extra);
    }
}
