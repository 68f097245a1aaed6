//! What the library's integration tests share about whole runs: checked
//! configs from `--set` lists, runs on a given number of threads, and the
//! numbers of a fit to compare bit for bit.
#![allow(dead_code)]

use sapm::config::{Checked, TrainConfig};
use sapm::fit::Fitted;

/// `text` with the `--set` overrides `sets`, checked.
pub fn try_checked(text: &str, sets: &[&str]) -> sapm::Result<Checked> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    TrainConfig::from_toml_str(text, &sets, None)
}

/// [`try_checked`], which must succeed.
pub fn checked(text: &str, sets: &[&str]) -> Checked {
    try_checked(text, sets).unwrap_or_else(|e| panic!("{sets:?}: {e}"))
}

/// The message of [`try_checked`], which must fail.
pub fn refused(text: &str, sets: &[&str]) -> String {
    try_checked(text, sets).unwrap_err().to_string()
}

/// `f` run in a pool of `threads` threads.
pub fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// The history rows: iteration, objective, aux loss and values.
pub fn history(f: &Fitted) -> Vec<String> {
    f.history
        .iter()
        .map(|r| {
            format!(
                "{} {:e} {:?} {:?}",
                r.iteration, r.objective, r.aux_loss, r.values
            )
        })
        .collect()
}

/// Summary without `seconds` (its windows' too), history rows, weights as bits.
pub fn numbers(f: &Fitted) -> (serde_json::Value, Vec<String>, Vec<u64>) {
    let mut v = serde_json::to_value(&f.summary).unwrap();
    v.as_object_mut().unwrap().remove("seconds");
    if let Some(ws) = v.get_mut("windows").and_then(|w| w.as_array_mut()) {
        for w in ws {
            w.as_object_mut().unwrap().remove("seconds");
        }
    }
    let w = f.model.net.params().iter().map(|p| p.to_bits()).collect();
    (v, history(f), w)
}

/// A PDE fit's relative L2 error at iteration 0 and at the end, after
/// asserting that it fell below `factor` times the first.
pub fn assert_rel_l2_fell(f: &Fitted, factor: f64, label: &str) -> (f64, f64) {
    let col = f
        .metric_names
        .iter()
        .position(|m| m == "rel_l2")
        .expect("a PDE fit records rel_l2");
    let (first, last) = (f.history[0].values[col], f.summary.rel_l2.unwrap());
    assert!(
        last < factor * first,
        "{label}: rel L2 {first:e} -> {last:e}"
    );
    (first, last)
}

/// The least-squares methods with short budgets for a small PINN: `ls-adam`
/// (`adam_iterations` at lr 0.01), `ls-lbfgs`, `ls-adam-lbfgs` and `lm`
/// (`lm_iterations`); each with its `--set` list.
pub fn ls_methods(
    adam_iterations: usize,
    lm_iterations: usize,
) -> Vec<(&'static str, Vec<String>)> {
    let adam = format!("train.max_iterations={adam_iterations}");
    let lm = format!("train.max_iterations={lm_iterations}");
    [
        ("ls-adam", vec![adam.as_str(), "adam.lr=0.01"]),
        ("ls-lbfgs", vec!["train.max_iterations=150"]),
        (
            "ls-adam-lbfgs",
            vec![
                "train.max_iterations=250",
                "adam_lbfgs.adam_steps=100",
                "adam.lr=0.01",
            ],
        ),
        ("lm", vec![lm.as_str()]),
    ]
    .into_iter()
    .map(|(m, sets)| (m, sets.into_iter().map(String::from).collect()))
    .collect()
}
