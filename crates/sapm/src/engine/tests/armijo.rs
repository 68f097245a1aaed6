//! The Armijo safeguard of the auxiliary steps: a step size far beyond the
//! curvature bound is backtracked until it decreases `J`, and the shrunken
//! step size is kept for the next iteration.

use super::*;

fn regression(seed: u64) -> (Mat<f64>, Mat<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Mat<f64> = Mat::from_fn(2, 40, |_, _| rng.random_range(-2.0..2.0));
    let y = Mat::from_fn(1, 40, |_, j| (x[(0, j)] * x[(1, j)]).sin());
    (x, y)
}

/// `J` after each of `iters` outer iterations from `net`, and the trainer's
/// step sizes at the end.
fn run(cfg: PenaltyConfig, w: Weighting, net: &Network, iters: usize) -> (Vec<f64>, Vec<f64>) {
    let (x, y) = regression(5);
    let mut net = net.clone();
    let mut t = PenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 0);
    t.start(&net).unwrap();
    let mut js = vec![t.aux_loss().unwrap()];
    for _ in 0..iters {
        js.push(t.step(&mut net).unwrap().objective);
    }
    (js, t.st.as_ref().unwrap().tau.clone())
}

/// With `tau` 50 and 1000 times the curvature step, SAPM and PM (coupled
/// weight steps, which never increase `J`) still decrease `J` at every
/// iteration, because the auxiliary steps backtrack: the kept step size ends
/// below the configured one. The same runs without the safeguard increase
/// `J`, so the setting is one where the safeguard matters.
#[test]
fn oversized_steps_are_backtracked_and_j_never_increases() {
    let net = NetworkSpec::new(vec![2, 6, 6, 6, 1]).build(3).unwrap();
    for w in [Weighting::SelfAdaptive, Weighting::Constant(1.0)] {
        for (tau, order) in [(50.0, AuxOrder::Jacobi), (1e3, AuxOrder::GaussSeidel)] {
            let cfg = PenaltyConfig {
                tau,
                aux_order: order,
                ..small_blocks()
            };
            let (js, taus) = run(cfg, w, &net, 12);
            for (i, p) in js.windows(2).enumerate() {
                assert!(
                    p[1] <= p[0] * (1.0 + 1e-12),
                    "{w:?} tau={tau}: J rose from {} to {} at iteration {}",
                    p[0],
                    p[1],
                    i + 1
                );
            }
            assert!(js[12] < js[0], "{w:?} tau={tau}: no progress {js:?}");
            assert!(
                taus.iter().any(|&t| t < tau),
                "{w:?} tau={tau}: never backtracked ({taus:?})"
            );
            let unsafe_cfg = PenaltyConfig {
                backtrack: false,
                ..cfg
            };
            let (js, _) = run(unsafe_cfg, w, &net, 12);
            assert!(
                js.windows(2).any(|p| p[1] > p[0] || p[1].is_nan()),
                "{w:?} tau={tau}: J decreased without the safeguard too: {js:?}"
            );
        }
    }
}

/// At the curvature step (`tau = 1`) the auxiliary step is already a descent
/// step, so nothing is backtracked and the step size stays at 1.
#[test]
fn curvature_step_is_accepted_without_backtracking() {
    let net = NetworkSpec::new(vec![2, 6, 6, 1]).build(4).unwrap();
    for w in [Weighting::SelfAdaptive, Weighting::Constant(1.0)] {
        let (js, taus) = run(small_blocks(), w, &net, 8);
        assert!(
            js.windows(2).all(|p| p[1] <= p[0] * (1.0 + 1e-12)),
            "{js:?}"
        );
        assert!(taus.iter().all(|&t| t == 1.0), "{w:?}: {taus:?}");
    }
}

/// The set weight `alpha` scales `J`, its gradient's slope and the
/// sufficient decrease `c tau <g, D>` alike, so the iterates do not depend
/// on it: with `alpha` a power of two every scaling is exact and the runs
/// (weights, auxiliaries, kept step sizes, backtracking included) agree bit
/// for bit while `J` scales by `alpha` exactly.
#[test]
fn iterates_do_not_depend_on_the_set_weight() {
    let (x, y) = regression(7);
    let net0 = NetworkSpec::new(vec![2, 6, 6, 1]).build(5).unwrap();
    let run = |cfg: PenaltyConfig, w: Weighting, alpha: f64| {
        let mut set = RowSet::regression(x.as_ref(), y.as_ref());
        set.weight = alpha;
        let mut net = net0.clone();
        let mut t = PenaltyTrainer::with_sets(cfg, w, vec![set], 0);
        t.start(&net).unwrap();
        let mut js = vec![t.aux_loss().unwrap()];
        for _ in 0..6 {
            js.push(t.step(&mut net).unwrap().objective);
        }
        let tau = t.st.as_ref().unwrap().tau.clone();
        (js, net.params(), t.aux().unwrap(), tau, t.stats())
    };
    for w in [Weighting::SelfAdaptive, Weighting::Constant(1.0)] {
        for tau in [1.0, 50.0] {
            let cfg = PenaltyConfig {
                tau,
                ..small_blocks()
            };
            let (js, p, a, taus, stats) = run(cfg, w, 1.0);
            for alpha in [0.5f64.powi(20), 2.0f64.powi(20)] {
                let (js2, p2, a2, taus2, stats2) = run(cfg, w, alpha);
                let what = format!("{w:?} tau={tau} alpha={alpha}");
                assert_eq!(p2, p, "{what}: weights");
                assert_eq!(a2, a, "{what}: auxiliaries");
                assert_eq!(taus2, taus, "{what}: kept step sizes");
                assert_eq!(stats2, stats, "{what}: counters");
                for (j2, j) in js2.iter().zip(&js) {
                    assert_eq!(*j2, alpha * j, "{what}: J");
                }
            }
            if tau > 1.0 {
                assert!(taus.iter().any(|&t| t < tau), "{w:?}: never backtracked");
            }
        }
    }
}

/// The acceptance rule itself, at the boundary `j0 - c tau slope` with
/// c = 1e-4 (Nocedal and Wright's usual constant): for tau = 8 and slope 2
/// the decrease must be at least 1.6e-3. A trial just below the boundary is
/// kept, one just above it is not, whatever tau; a non-finite trial never is.
#[test]
fn armijo_rule_is_sufficient_decrease_with_c_1e_4() {
    use crate::engine::trainer::armijo_accepts;
    for (tau, slope) in [(8.0, 2.0), (0.25, 3.0), (1.0, 1.0), (50.0, 0.1)] {
        let need = 1e-4 * tau * slope;
        let j0 = 1.0;
        assert!(
            armijo_accepts(j0, j0 - need * 1.01, tau, slope),
            "tau {tau}"
        );
        assert!(
            armijo_accepts(j0, j0 - need, tau, slope),
            "tau {tau}: equality"
        );
        assert!(
            !armijo_accepts(j0, j0 - need * 0.99, tau, slope),
            "tau {tau}"
        );
        assert!(
            !armijo_accepts(j0, j0 + 1e-3, tau, slope),
            "tau {tau}: increase"
        );
    }
    assert!(!armijo_accepts(1.0, f64::NAN, 1.0, 1.0));
    assert!(!armijo_accepts(1.0, f64::NEG_INFINITY, 1.0, 1.0));
}

/// One iteration's auxiliary step moves the auxiliaries of every hidden
/// layer, Jacobi (one step over all of them) as Gauss-Seidel (one per
/// layer), also at depths where `depth - 2` is not `depth / 2`.
#[test]
fn one_auxiliary_step_moves_every_hidden_layer() {
    for widths in [
        vec![2, 5, 1],
        vec![2, 4, 4, 4, 4, 1],
        vec![2, 3, 3, 3, 3, 3, 1],
    ] {
        for order in [AuxOrder::Jacobi, AuxOrder::GaussSeidel] {
            let (x, y) = regression(9);
            let mut net = NetworkSpec::new(widths.clone()).build(2).unwrap();
            let cfg = PenaltyConfig {
                aux_order: order,
                ..small_blocks()
            };
            let mut t =
                PenaltyTrainer::new(cfg, Weighting::SelfAdaptive, x.as_ref(), y.as_ref(), 0);
            t.start(&net).unwrap();
            t.step(&mut net).unwrap();
            let before = t.channel_aux().unwrap();
            t.step(&mut net).unwrap();
            let after = t.channel_aux().unwrap();
            let hidden = widths.len() - 2;
            assert_eq!(after[0][0].len(), hidden, "{widths:?}");
            for l in 0..hidden {
                let moved = (&after[0][0][l] - &before[0][0][l]).norm_max();
                assert!(moved > 0.0, "{widths:?} {order:?}: layer {l} did not move");
            }
        }
    }
}

/// An auxiliary step that no halving makes a descent step (`tau` 1e30, 50
/// halvings leave it ~1e15 times the curvature step) is rejected and
/// counted, once per step; the kept step size shrinks, so a later step is
/// accepted and the count stops growing. At the curvature step nothing is
/// rejected.
#[test]
fn rejected_auxiliary_steps_are_counted() {
    let net = NetworkSpec::new(vec![2, 6, 6, 1]).build(4).unwrap();
    let (x, y) = regression(5);
    let counts = |tau: f64, steps: usize| {
        let cfg = PenaltyConfig {
            tau,
            ..small_blocks()
        };
        let mut net = net.clone();
        let mut t = PenaltyTrainer::new(cfg, Weighting::SelfAdaptive, x.as_ref(), y.as_ref(), 0);
        t.start(&net).unwrap();
        (0..steps)
            .map(|_| {
                t.step(&mut net).unwrap();
                t.stats().aux_rejections
            })
            .collect::<Vec<_>>()
    };
    let c = counts(1e30, 4);
    assert_eq!(c[0], 1, "{c:?}");
    assert!(
        c.windows(2).all(|p| p[1] == p[0] || p[1] == p[0] + 1),
        "{c:?}"
    );
    assert!(c[3] < 4, "never accepted: {c:?}");
    assert_eq!(counts(1.0, 4), vec![0; 4]);
}
