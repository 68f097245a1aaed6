//! Same config and seed give identical numbers, on 1 or 2 threads.

use sapm::config::{Method, TrainConfig};
use sapm::fit;

fn summary_without_time(cfg: &TrainConfig, threads: usize) -> (serde_json::Value, Vec<String>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let cfg = &cfg.clone().check().unwrap();
    pool.install(|| {
        let data = cfg.data.load(cfg.seed).unwrap();
        let f = fit(cfg, &data).unwrap();
        let mut v = serde_json::to_value(&f.summary).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        let hist = f
            .history
            .iter()
            .map(|r| {
                format!(
                    "{} {:e} {:?} {:?}",
                    r.iteration, r.objective, r.aux_loss, r.values
                )
            })
            .collect();
        let params = f.model.net.params();
        v.as_object_mut()
            .unwrap()
            .insert("params".into(), serde_json::json!(params));
        (v, hist)
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
        let (a, ha) = summary_without_time(&c, 1);
        let (b, hb) = summary_without_time(&c, 1);
        let (d, hd) = summary_without_time(&c, 2);
        assert_eq!(a, b, "{method}: two runs differ");
        assert_eq!(ha, hb);
        assert_eq!(a, d, "{method}: 1 vs 2 threads differ");
        assert_eq!(ha, hd);
        // And a different seed gives different numbers.
        c.seed = 8;
        let (e, _) = summary_without_time(&c, 2);
        assert_ne!(a["train_mse"], e["train_mse"]);
    }
}
