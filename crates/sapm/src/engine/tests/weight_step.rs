//! Weight steps: the capped solve and the coupled block minimisation.

use super::*;

/// The capped step lands on the cap and minimises the block objective over
/// the norm ball: no feasible perturbation does better.
#[test]
fn capped_solve_meets_the_cap_and_is_optimal_on_the_ball() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (k, m, n) = (6, 3, 40);
    let p = Mat::from_fn(k, n, |i, _| {
        if i + 1 == k {
            1.0
        } else {
            rng.random_range(-1.0..1.0)
        }
    });
    let t = Mat::from_fn(m, n, |_, _| rng.random_range(-3.0..3.0));
    let g = &p * p.transpose();
    let r = &p * t.transpose();
    let obj = |w: &Mat<f64>| (&t - w * &p).squared_norm_l2();
    let reg = Regularization::default();
    let (free, _) = crate::linalg::solve_normal(g.as_ref(), r.as_ref(), &reg).unwrap();
    let free_norm = free.transpose().subcols(0, k - 1).squared_norm_l2();
    for frac in [0.9, 0.3, 1e-3] {
        let cap = frac * free_norm;
        let (w, _) = crate::engine::capped_solve(g.as_ref(), r.as_ref(), &reg, cap).unwrap();
        let nrm = w.as_ref().subcols(0, k - 1).squared_norm_l2();
        assert!(
            nrm <= cap * (1.0 + 1e-12) && nrm >= cap * (1.0 - 1e-9),
            "{nrm} vs cap {cap}"
        );
        let f0 = obj(&w);
        for _ in 0..50 {
            let mut c = &w + Mat::from_fn(m, k, |_, _| 1e-3 * rng.random_range(-1.0..1.0));
            let cn = c.as_ref().subcols(0, k - 1).squared_norm_l2();
            if cn > cap {
                let s = (cap / cn).sqrt();
                for j in 0..k - 1 {
                    for i in 0..m {
                        c[(i, j)] *= s;
                    }
                }
            }
            assert!(
                obj(&c) >= f0 * (1.0 - 1e-12),
                "a feasible point beat the capped step"
            );
        }
    }
}

/// Each coupled weight step is the exact minimiser of J_SAPM over
/// `[W_l, b_l]` with everything else fixed, including the dependence of the
/// lower layers' omegas on `|W_l|`; "frozen" is not (it ignores that term).
#[test]
fn coupled_weight_step_is_a_block_minimiser() {
    use crate::engine::loss::objective;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = Mat::from_fn(1, 30, |_, _| rng.random_range(-2.0f64..2.0));
    let y = Mat::from_fn(1, 30, |_, j| (x[(0, j)] * x[(0, j)]).sin());
    for mode in [OmegaMode::Coupled, OmegaMode::Frozen] {
        let mut worst_gain: f64 = 0.0;
        for l in 0..4 {
            let net0 = NetworkSpec::new(vec![1, 6, 5, 4, 1]).build(2).unwrap();
            for solver in [SolveMethod::Qr, SolveMethod::Cholesky] {
                let mut net = net0.clone();
                let cfg = PenaltyConfig {
                    omega_mode: mode,
                    solver,
                    ..PenaltyConfig::default()
                };
                let mut t =
                    PenaltyTrainer::new(cfg, Weighting::SelfAdaptive, x.as_ref(), y.as_ref(), 0);
                t.start(&net).unwrap();
                assert_eq!(
                    t.st.as_ref().unwrap().mode,
                    if solver == SolveMethod::Qr {
                        Accumulate::Tsqr
                    } else {
                        Accumulate::Gram
                    }
                );
                // Make every constraint active: move the auxiliaries off the forward pass.
                let mut aux = t.aux().unwrap();
                for a in &mut aux.a {
                    for j in 0..a.ncols() {
                        for i in 0..a.nrows() {
                            a[(i, j)] += rng.random_range(-0.3..0.3);
                        }
                    }
                }
                t.set_aux(&net, &aux).unwrap();
                t.weight_step_alone(&mut net, l).unwrap();
                let j0 = objective(&net, &aux, x.as_ref(), y.as_ref(), Weighting::SelfAdaptive);
                for scale in [1e-2, 1e-4] {
                    for _ in 0..20 {
                        let mut p = net.clone();
                        let w = p.layer(l).to_owned();
                        let d = Mat::from_fn(w.nrows(), w.ncols(), |_, _| {
                            scale * rng.random_range(-1.0..1.0)
                        });
                        p.layer_mut(l).copy_from(&(&w + &d));
                        let j =
                            objective(&p, &aux, x.as_ref(), y.as_ref(), Weighting::SelfAdaptive);
                        worst_gain = worst_gain.max((j0 - j) / j0);
                        if mode == OmegaMode::Coupled {
                            assert!(
                                j >= j0 * (1.0 - 1e-11),
                                "{solver:?} layer {l}: perturbation lowered J from {j0} to {j}"
                            );
                        }
                    }
                }
            }
        }
        if mode == OmegaMode::Frozen {
            assert!(
                worst_gain > 1e-6,
                "frozen mode unexpectedly optimal (gain {worst_gain})"
            );
        }
    }
}

/// The row-set `J` of a regression set is the regression `J_SAPM`.
#[test]
fn regression_rows_objective_is_j_sapm() {
    let net = NetworkSpec::new(vec![2, 5, 4, 2]).build(3).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let x = Mat::from_fn(2, 12, |_, _| rng.random_range(-1.0..1.0));
    let y = Mat::from_fn(2, 12, |_, _| rng.random_range(-1.0..1.0));
    let sets = vec![RowSet::regression(x.as_ref(), y.as_ref())];
    let mut aux = forward_channel_aux(&net, &sets);
    perturb(&mut aux, 5, 0.4);
    let a = crate::engine::loss::AuxVars {
        a: aux[0][0].clone(),
    };
    for w in [Weighting::SelfAdaptive, Weighting::Constant(2.5)] {
        let j = rows_objective(&net, &sets, &aux, w, &[Vec::new()]);
        let want = crate::engine::loss::objective(&net, &a, x.as_ref(), y.as_ref(), w);
        assert!((j - want).abs() <= 1e-13 * want, "{j} vs {want}");
    }
}

/// The weight step of a hidden layer stacks one row per point and channel
/// of every set, the output layer one per point (its readout combines the
/// channels): the row count sets the QR path's rank test.
#[test]
fn weight_steps_stack_one_row_per_point_and_channel() {
    let (net, data, _) = pinn(8);
    for solver in [SolveMethod::Qr, SolveMethod::Cholesky] {
        let cfg = PenaltyConfig {
            solver,
            ..small_blocks()
        };
        let mut t = PenaltyTrainer::with_sets(cfg, Weighting::SelfAdaptive, data.row_sets(), 0);
        t.start(&net).unwrap();
        let sets = t.sets().to_vec();
        let hidden: usize = sets.iter().map(|s| s.channels() * s.n()).sum();
        let output: usize = sets.iter().map(|s| s.n()).sum();
        let mut want = vec![hidden; net.depth() - 1];
        want.push(output);
        assert_eq!(t.weight_rows(), want, "{solver:?}");
    }
}

/// The summary counts every weight step that took the SVD fallback: a first
/// layer whose two inputs are equal has a singular Gram matrix and no ridge
/// (no layer below it gives a coupled one, `ridge = prox = 0`), so it falls
/// back at every sweep; the other layers (independent inputs, 64 points
/// against at most 6 columns, SAPM ridges) never do: 3 steps, 3 fallbacks,
/// with either solver.
#[test]
fn every_singular_weight_step_counts_one_fallback() {
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    let n = 64;
    let x0: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let x = Mat::from_fn(2, n, |_, j| x0[j]);
    let y = Mat::from_fn(1, n, |_, j| (2.0 * x0[j]).sin());
    let net0 = NetworkSpec::new(vec![2, 5, 4, 1]).build(42).unwrap();
    for solver in [SolveMethod::Qr, SolveMethod::Cholesky] {
        let cfg = PenaltyConfig {
            solver,
            ..small_blocks()
        };
        let sets = vec![RowSet::regression(x.as_ref(), y.as_ref())];
        let mut t = PenaltyTrainer::with_sets(cfg, Weighting::SelfAdaptive, sets, 0);
        let mut net = net0.clone();
        t.start(&net).unwrap();
        for _ in 0..3 {
            t.step(&mut net).unwrap();
        }
        assert_eq!(t.stats().solve_fallbacks, 3, "{solver:?}");
        assert_eq!(t.stats().solves, 3 * 3, "{solver:?}");
    }
}

/// A forward sweep (`sweep = "forward"`) gives each layer the coupled ridge
/// of the lower layers' new residuals: one step equals, to round-off, layer
/// weight steps in the order 0, 1, ... with every residual sum recomputed
/// (`set_channel_aux` at the new weights) after each.
#[test]
fn forward_sweep_steps_see_the_new_residuals_of_the_lower_layers() {
    let mut rng = ChaCha8Rng::seed_from_u64(51);
    let n = 60;
    let x = Mat::from_fn(2, n, |_, _| rng.random_range(-1.0..1.0));
    let y = Mat::from_fn(1, n, |_, j| (3.0f64 * x[(0, j)]).sin() * x[(1, j)]);
    let net0 = NetworkSpec::new(vec![2, 6, 5, 1]).build(52).unwrap();
    let cfg = PenaltyConfig {
        sweep: SweepOrder::Forward,
        ..small_blocks()
    };
    let w = Weighting::SelfAdaptive;
    let sets = || vec![RowSet::regression(x.as_ref(), y.as_ref())];
    let (mut t, aux) = perturbed_trainer(cfg, w, sets(), &net0, 53, 0.3);
    let mut got = net0.clone();
    t.step(&mut got).unwrap();
    let (mut r, _) = perturbed_trainer(cfg, w, sets(), &net0, 53, 0.3);
    let mut want = net0.clone();
    for l in 0..want.depth() {
        r.weight_step_alone(&mut want, l).unwrap();
        r.set_channel_aux(&want, &aux).unwrap();
    }
    let e = crate::fit::distributed_harness::rel(&got.params(), &want.params());
    assert!(e <= 1e-12, "forward step vs layer by layer: {e:e}");
    assert!(crate::fit::distributed_harness::rel(&got.params(), &net0.params()) > 1e-3);
}
