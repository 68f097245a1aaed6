//! `train.batch_size` (mini-batch `ls-adam`): deterministic for a seed,
//! full batch when the batch holds every sample, refused where unused
//! (PINN batches: `pinn_minibatch.rs`).

use sapm::TrainConfig;
use sapm::fit::fit;

fn run(batch: usize, seed: u64) -> Vec<f64> {
    let cfg = TrainConfig::from_toml_str(
        &format!(
            "method = \"ls-adam\"\nseed = {seed}\n[network]\ndepth = 3\nwidth = 8\n[data]\nn_train = 200\nn_test = 50\n[train]\nmax_iterations = 60\nbatch_size = {batch}\n[adam]\nlr = 0.01"
        ),
        &[],
        None,
    )
    .unwrap();
    let data = cfg.data.load(cfg.seed).unwrap();
    fit(&cfg, &data).unwrap().model.net.params()
}

#[test]
fn mini_batches_are_deterministic_for_a_seed() {
    let a = run(32, 1);
    assert_eq!(a, run(32, 1));
    // Another batch size takes other steps.
    assert_ne!(a, run(64, 1));
}

#[test]
fn a_batch_of_every_sample_is_full_batch_bit_for_bit() {
    let full = run(0, 2);
    assert_eq!(run(200, 2), full);
    assert_eq!(run(10_000, 2), full);
    assert_ne!(run(199, 2), full);
}

#[test]
fn batch_size_is_refused_by_methods_that_do_not_read_it() {
    for method in ["sapm", "ls-lbfgs", "ls-gd"] {
        let e = TrainConfig::from_toml_str(
            &format!("method = \"{method}\"\n[train]\nbatch_size = 16"),
            &[],
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("train.batch_size") && e.contains("ls-adam"),
            "{method}: {e}"
        );
    }
    // PINN runs batch their collocation points (tests/pinn_minibatch.rs).
    TrainConfig::from_toml_str(
        "method = \"ls-adam\"\n[train]\nbatch_size = 16\n[pde]\nproblem = \"steady1d\"",
        &[],
        None,
    )
    .unwrap();
}
