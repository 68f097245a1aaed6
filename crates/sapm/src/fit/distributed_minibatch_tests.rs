//! Regression mini-batches (`train.batch_size`, `ls-adam`) on several
//! processes: the batches are one process's batches of the whole set.

use super::distributed::fit_distributed;
use super::distributed_harness::{on_threads, rel};
use crate::config::{Checked, TrainConfig};
use crate::data::Split;
use crate::driver::NoObserver;

fn config(batch: usize) -> Checked {
    TrainConfig::from_toml_str(
        &format!(
            "method = \"ls-adam\"\nseed = 5\n[network]\ndepth = 3\nwidth = 8\n[data]\nn_train = 301\nn_test = 50\n[train]\nmax_iterations = 40\nbatch_size = {batch}\n[adam]\nlr = 0.01"
        ),
        &[],
        None,
    )
    .unwrap()
}

fn params_on(k: usize, cfg: &Checked, data: &Split) -> Vec<Vec<f64>> {
    on_threads(k, |_, r| {
        let f = fit_distributed(cfg, data, r, &mut NoObserver).unwrap();
        f.model.net.params()
    })
}

/// A small batch at a small learning rate: batch losses go up and down, which
/// the driver must not take for divergence (the objective is stochastic on
/// every process count, not only on one).
#[test]
fn noisy_batch_losses_end_as_on_one_process() {
    let cfg = TrainConfig::from_toml_str(
        "method = \"ls-adam\"\nseed = 3\n[network]\ndepth = 3\nwidth = 6\n[data]\nn_train = 61\nn_test = 40\n[train]\nmax_iterations = 15\nrecord_every = 5\nbatch_size = 16\n",
        &[],
        None,
    )
    .unwrap();
    let data = cfg.data.load(cfg.seed).unwrap();
    for k in [1, 2] {
        let ends = on_threads(k, |_, r| {
            let f = fit_distributed(&cfg, &data, r, &mut NoObserver).unwrap();
            (f.summary.status, f.summary.iterations)
        });
        assert_eq!(ends[0].1, 15, "{k} processes: {:?}", ends[0].0);
        assert_eq!(ends[0], ends[k - 1]);
    }
}

/// 2 and 3 processes train to the weights of one (1e-10 relative; the
/// gradient sums differ in order only), the same bits on every process;
/// a batch over every sample is full batch, bit for bit.
#[test]
fn mini_batches_on_shards_are_the_single_process_batches() {
    let cfg = config(64);
    let data = cfg.data.load(cfg.seed).unwrap();
    let one = params_on(1, &cfg, &data);
    let full = params_on(1, &config(0), &data);
    assert!(rel(&one[0], &full[0]) > 1e-6, "the batches change the run");
    for k in [2, 3] {
        let many = params_on(k, &cfg, &data);
        for p in &many {
            assert_eq!(p, &many[0], "{k} processes disagree");
            let e = rel(p, &one[0]);
            assert!(e < 1e-10, "{k} shards: relative difference {e:e}");
        }
        let whole = params_on(k, &config(301), &data);
        assert_eq!(
            whole[0],
            params_on(k, &config(0), &data)[0],
            "{k}: batch of N"
        );
    }
}

/// Collocation mini-batches are still refused on several processes.
#[test]
fn pinn_mini_batches_are_refused_on_several_processes() {
    let cfg = TrainConfig::from_toml_str(
        "method = \"ls-adam\"\n[train]\nbatch_size = 16\n[pde]\nproblem = \"steady1d\"",
        &[],
        None,
    )
    .unwrap();
    let e = crate::fit::build::check_distributed(&cfg)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train.batch_size") && e.contains("collocation"),
        "{e}"
    );
}
