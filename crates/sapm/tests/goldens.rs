//! Golden numbers of every example config: a refactor must not move them.
//!
//! `goldens_short` runs each `examples/*.toml` with a short budget (CI);
//! `goldens_full` (ignored; run by hand, ~15 min) runs them as written. Both
//! compare the summary and the whole recorded history with the fixtures in
//! `tests/fixtures/goldens-*.json` to 1e-12 relative. A change that moves
//! them on purpose is explained in CHANGELOG.md, and the fixtures are written
//! anew with `SAPM_BLESS=1 cargo test --release -p sapm --test goldens -- --include-ignored`
//! (`SAPM_GOLDEN_FILTER=text` restricts a run, or a blessing, to the examples
//! whose name contains `text`).

use sapm::config::{Checked, TrainConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

/// The numbers a refactor must keep: summary figures and the history.
fn numbers(cfg: &Checked) -> Value {
    let data = cfg.data.load(cfg.seed).unwrap();
    let f = sapm::fit(cfg, &data).unwrap();
    let s = &f.summary;
    let hist: Vec<Value> = f
        .history
        .iter()
        .map(|r| json!([r.iteration, r.objective, r.aux_loss, r.values]))
        .collect();
    json!({
        "status": s.status.as_str(),
        "iterations": s.iterations,
        "train_mse": s.train_mse,
        "test_mse": s.test_mse,
        "aux_loss": s.aux_loss,
        "rel_l2": s.rel_l2,
        "rel_l2_f32": s.rel_l2_f32,
        "pde_loss": s.pde_loss,
        "bc_loss": s.bc_loss,
        "derivative_gap": s.derivative_gap,
        "test_mse_f32": s.diagnostics.test_mse_f32,
        "weight_norms_sq": s.diagnostics.weight_norms_sq,
        "history": hist,
    })
}

/// Short budgets: the same phases (warm start, Adam -> L-BFGS switch, stages,
/// windows) at a fraction of the iterations.
fn short(path: &Path) -> Checked {
    let sets: Vec<String> = ["train.max_iterations=40", "train.record_every=5"]
        .map(String::from)
        .to_vec();
    let base = TrainConfig::load(path, &[]).unwrap();
    let mut sets = sets;
    if base.method == sapm::Method::LsAdamLbfgs {
        sets.push("adam_lbfgs.adam_steps=20".into());
    }
    if base.sapm.warm_start > 0 {
        sets.push("sapm.warm_start=20".into());
    }
    if base.pm.warm_start > 0 {
        sets.push("pm.warm_start=20".into());
    }
    if base.method == sapm::Method::Elm {
        sets.retain(|s| !s.starts_with("train.max_iterations"));
    }
    TrainConfig::load(path, &sets).unwrap()
}

fn check(kind: &str, make: impl Fn(&Path) -> Checked) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/goldens-{kind}.json"));
    // SAPM_GOLDEN_FILTER=text runs only the examples whose name contains it.
    let filter = std::env::var("SAPM_GOLDEN_FILTER").ok();
    let mut got = BTreeMap::new();
    for p in examples() {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        got.insert(name, numbers(&make(&p)));
    }
    if std::env::var_os("SAPM_BLESS").is_some() {
        // With a filter, only the filtered entries are written anew.
        let mut all: BTreeMap<String, Value> = match (&filter, std::fs::read_to_string(&fixture)) {
            (Some(_), Ok(text)) => serde_json::from_str(&text).unwrap(),
            _ => BTreeMap::new(),
        };
        all.extend(got);
        std::fs::write(&fixture, serde_json::to_string_pretty(&all).unwrap()).unwrap();
        return;
    }
    let want: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let mut bad = Vec::new();
    for (name, w) in &want {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        match got.get(name) {
            None => bad.push(format!("{name}: example missing")),
            Some(g) => compare(name, w, g, &mut bad),
        }
    }
    for name in got.keys().filter(|n| !want.contains_key(*n)) {
        bad.push(format!("{name}: no golden (bless it)"));
    }
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

fn compare(at: &str, w: &Value, g: &Value, bad: &mut Vec<String>) {
    match (w, g) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() > 1e-12 * a.abs().max(b.abs()) {
                bad.push(format!("{at}: {a:e} -> {b:e}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare(&format!("{at}[{i}]"), x, y, bad);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, x) in a {
                match b.get(k) {
                    Some(y) => compare(&format!("{at}.{k}"), x, y, bad),
                    None => bad.push(format!("{at}.{k}: missing")),
                }
            }
        }
        _ if w == g => {}
        _ => bad.push(format!("{at}: {w} -> {g}")),
    }
}

#[test]
fn goldens_short() {
    check("short", short);
}

#[test]
#[ignore = "runs every example in full (~15 min); run by hand around refactors"]
fn goldens_full() {
    check("full", |p| TrainConfig::load(p, &[]).unwrap());
}
