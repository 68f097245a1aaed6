//! Behaviour of PM and SAPM as optimisation methods.

use faer::Mat;
use sapm::config::{Method, TrainConfig};
use sapm::driver::{NoObserver, run};
use sapm::engine::PenaltyTrainer;
use sapm::engine::loss::{AuxVars, Weighting, consistency_constant, objective};
use sapm::task::regression::mse;
use sapm::{NetworkSpec, fit};

fn cfg(method: Method, depth: usize, iters: usize, seed: u64) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.method = method;
    c.seed = seed;
    c.network.depth = depth;
    c.network.width = 10;
    c.data.n_train = 40;
    c.data.n_test = 50;
    c.train.max_iterations = iters;
    c.train.record_every = 1;
    c
}

/// With the default variant (coupled omega, backtracked auxiliary steps) every
/// outer iteration is a descent step on J_SAPM, and J_LS <= L J_SAPM all along.
#[test]
fn sapm_objective_never_increases_and_bounds_the_mse() {
    for (depth, seed) in [(3, 0), (4, 1), (6, 2)] {
        let c = cfg(Method::Sapm, depth, 40, seed);
        let data = c.data.load(seed).unwrap();
        let f = fit(&c.clone().check().unwrap(), &data).unwrap();
        let bound = consistency_constant(depth, 1.0);
        let mut prev = f64::INFINITY;
        for r in &f.history {
            let j = r.aux_loss.unwrap();
            assert!(
                j <= prev * (1.0 + 1e-10) + 1e-300,
                "L={depth}: J_SAPM rose from {prev} to {j} at {}",
                r.iteration
            );
            let ls = r.values[0];
            assert!(
                ls <= bound * j * (1.0 + 1e-9),
                "L={depth}: J_LS {ls} > {bound} J_SAPM {j}"
            );
            prev = j;
        }
        // It must also make real progress.
        let first = f.history[0].aux_loss.unwrap();
        assert!(
            prev < 0.5 * first,
            "L={depth}: no progress ({first} -> {prev})"
        );
    }
}

/// PM's penalty loss can be driven to ~0 while the network's true MSE stays
/// large; SAPM's weighted loss of the very same point keeps J_LS <= L J_SAPM.
///
/// Construction: one hidden layer with tiny weights eps (nearly constant
/// features), a huge output weight c = 1/eps, and auxiliaries shifted by
/// O(1/c) so the output layer fits y exactly from them. The PM penalty is
/// O(1/c^2); the true network output is a near-linear function of x.
#[test]
fn pm_penalty_can_vanish_while_the_mse_stays_large() {
    let n = 40;
    let x = Mat::from_fn(1, n, |_, j| -3.0 + 6.0 * j as f64 / (n - 1) as f64);
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * x[(0, j)]).sin());
    let m = 5;
    for c in [1e2, 1e4] {
        let eps = 1.0 / c;
        let mut net = NetworkSpec::new(vec![1, m, 1]).build(0).unwrap();
        let w: Vec<f64> = (0..m).map(|i| 0.3 + 0.1 * i as f64).collect();
        let b1: Vec<f64> = (0..m).map(|i| 0.2 * i as f64 - 0.4).collect();
        for i in 0..m {
            net.layer_mut(0)[(i, 0)] = eps * (1.0 + i as f64);
            net.layer_mut(0)[(i, 1)] = b1[i];
            net.layer_mut(1)[(0, i)] = c * w[i];
        }
        let s0: f64 = (0..m).map(|i| w[i] * b1[i].tanh()).sum();
        net.layer_mut(1)[(0, m)] = -c * s0;
        // Auxiliaries: forward pass plus t_n * w, with t_n solving the output equation (Newton).
        let mut aux = AuxVars::forward(&net, x.as_ref());
        let u = net.predict(x.as_ref()).unwrap();
        for j in 0..n {
            let z: Vec<f64> = (0..m).map(|i| aux.a[0][(i, j)]).collect();
            let target = (y[(0, j)] - u[(0, j)]) / c;
            let g = |t: f64| {
                (0..m)
                    .map(|i| w[i] * ((z[i] + t * w[i]).tanh() - z[i].tanh()))
                    .sum::<f64>()
                    - target
            };
            let dg = |t: f64| {
                (0..m)
                    .map(|i| w[i] * w[i] * (1.0 - (z[i] + t * w[i]).tanh().powi(2)))
                    .sum::<f64>()
            };
            let mut t = 0.0;
            for _ in 0..50 {
                t -= g(t) / dg(t);
            }
            assert!(g(t).abs() < 1e-14);
            for i in 0..m {
                aux.a[0][(i, j)] = z[i] + t * w[i];
            }
        }
        let ls = mse(&net, x.as_ref(), y.as_ref());
        let pm = objective(&net, &aux, x.as_ref(), y.as_ref(), Weighting::Constant(1.0));
        let sapm = objective(&net, &aux, x.as_ref(), y.as_ref(), Weighting::SelfAdaptive);
        assert!(ls > 0.05, "the network itself is a poor fit: J_LS = {ls}");
        assert!(
            pm < 1e-3 * ls,
            "c = {c}: PM penalty {pm} not far below J_LS {ls}"
        );
        assert!(
            ls <= consistency_constant(2, 1.0) * sapm,
            "SAPM bound violated: {ls} > 2 * {sapm}"
        );
    }
}

/// The same inconsistency arises in training: PM with a small penalty fits its
/// loss while the true MSE stays at the level of a poor fit.
#[test]
fn pm_training_with_a_small_penalty_is_inconsistent() {
    let mut c = cfg(Method::Pm, 4, 30, 5);
    c.pm.beta = 1e-6;
    let data = c.data.load(5).unwrap();
    let (x, y) = (data.train.x.as_ref(), data.train.y.as_ref());
    let mut net = c.network.spec(1, 1).build(5).unwrap();
    let mut t = PenaltyTrainer::new(c.pm, Weighting::Constant(c.pm.beta), x, y, 5);
    let metrics = sapm::task::RegressionMetrics {
        split: &data,
        out_scale: None,
        shard: None,
    };
    let r = run(
        &mut t,
        &mut net,
        &metrics,
        &c.train.rules(),
        1,
        &mut NoObserver,
    )
    .unwrap();
    let ls = r.history.last().unwrap().values[0];
    let pm = r.aux_loss.unwrap();
    assert!(pm < 1e-4 * ls, "J_PM {pm} vs J_LS {ls}");
    let sapm_view = objective(&net, &t.aux().unwrap(), x, y, Weighting::SelfAdaptive);
    assert!(ls <= consistency_constant(4, 1.0) * sapm_view * (1.0 + 1e-9));
}
