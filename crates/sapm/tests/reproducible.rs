//! Same config and seed give identical numbers, on 1 or 2 threads.

#[path = "support/runs.rs"]
mod runs;

use runs::{numbers, on_threads};
use sapm::config::{Method, TrainConfig};
use sapm::fit;

/// The numbers of a run of `cfg` on `threads` threads.
fn run_on(cfg: &TrainConfig, threads: usize) -> (serde_json::Value, Vec<String>, Vec<u64>) {
    let cfg = &cfg.clone().check().unwrap();
    on_threads(threads, || {
        let data = cfg.data.load(cfg.seed).unwrap();
        numbers(&fit(cfg, &data).unwrap())
    })
}

#[test]
fn same_seed_same_numbers_on_any_thread_count() {
    for (method, solver) in [
        (Method::LsAdam, "qr"),
        (Method::LsLbfgs, "qr"),
        (Method::Sapm, "cholesky"),
        (Method::Sapm, "qr"),
        (Method::Pm, "cholesky"),
        (Method::Lm, "qr"),
        (Method::Varpro, "qr"),
        (Method::SapmGn, "qr"),
    ] {
        let mut c = TrainConfig::default();
        let solver = if solver == "qr" {
            sapm::linalg::SolveMethod::Qr
        } else {
            sapm::linalg::SolveMethod::Cholesky
        };
        (c.sapm.solver, c.pm.solver) = (solver, solver);
        c.method = method;
        c.seed = 7;
        c.network.depth = 3;
        c.network.width = 8;
        // Several sample blocks (default block 2048), so the parallel path is exercised.
        c.data.n_train = 5000;
        c.data.n_test = 100;
        c.train.max_iterations = 4;
        c.train.record_every = 1;
        let (a, b, d) = (run_on(&c, 1), run_on(&c, 1), run_on(&c, 2));
        assert_eq!(a, b, "{method}: two runs differ");
        assert_eq!(a, d, "{method}: 1 vs 2 threads differ");
        // And a different seed gives different numbers.
        c.seed = 8;
        let e = run_on(&c, 2);
        assert_ne!(a.0["train_mse"], e.0["train_mse"]);
    }
}
