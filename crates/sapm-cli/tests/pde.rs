//! The `sapm train` command on a PDE config.

use std::process::Command;

#[test]
fn train_writes_pinn_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/pde-steady1d-sapm.toml"
    );
    let st = Command::new(env!("CARGO_BIN_EXE_sapm"))
        .args([
            "train",
            "--quiet",
            "--config",
            root,
            "--set",
            "train.max_iterations=5",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{err}");
    assert!(err.contains("rel L2"), "{err}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
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
