//! The engine's work counters against the a priori flop model of
//! `perf.rs` (`sapm bench` reports them): one default iteration counts each
//! pass once, with the model's cost, and every phase's timer grows.

use super::*;
use crate::perf;

/// One default iteration (backward sweep, Jacobi, one auxiliary step) costs
/// the model's flops for the number of trial passes it took, component by
/// component, for both solvers; with undamped solves (PM) the total is
/// `perf::penalty_iteration_flops`.
#[test]
fn one_iteration_counts_the_model_flops() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let n = 37;
    let x = Mat::from_fn(2, n, |_, _| rng.random_range(-1.0f64..1.0));
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] - x[(1, j)]).sin());
    let widths = vec![2, 5, 4, 1];
    let depth = widths.len() - 1;
    for solver in [SolveMethod::Cholesky, SolveMethod::Qr] {
        for w in [Weighting::SelfAdaptive, Weighting::Constant(2.0)] {
            let mut net = NetworkSpec::new(widths.clone()).build(3).unwrap();
            let cfg = PenaltyConfig {
                solver,
                ..small_blocks()
            };
            let mut t = PenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 0);
            t.start(&net).unwrap();
            t.step(&mut net).unwrap();
            let before = t.flops().unwrap();
            t.step(&mut net).unwrap();
            let after = t.flops().unwrap();
            let f = after.since(&before);
            let what = format!("{solver:?} {w:?}");
            assert_eq!(f.data_passes, 1, "{what}");
            assert_eq!(f.gradient_passes, 1, "{what}");
            assert!(f.trial_passes >= 1, "{what}");
            let trials = f.trial_passes as f64;
            let tsqr = solver == SolveMethod::Qr;
            let data = perf::data_pass_flops(&widths, n, cfg.block, tsqr, crate::engine::DATA_WAVE);
            // SAPM's coupled ridge (`lambda_l > 0` below the output layer's
            // inputs, `l > 0`) damps those solves; PM's are undamped.
            let damped = |l: usize| l > 0 && w == Weighting::SelfAdaptive;
            let solve: f64 = (0..depth)
                .map(|l| perf::solve_flops(&widths, l, solver, damped(l)))
                .sum();
            let res = perf::residual_flops(&widths, n, 0, depth - 1);
            let dir: f64 = (0..depth - 1)
                .map(|l| perf::direction_flops(&widths, n, l))
                .sum();
            let moved: f64 = (0..depth - 1)
                .map(|l| perf::axpy_flops(&widths, n, l))
                .sum();
            let acts = perf::activation_count(&widths, n, 0, depth - 1);
            // Every mismatch is listed, not only the first.
            let mut errs = Vec::new();
            let mut close = |got: f64, want: f64, part: &str| {
                if (got - want).abs() > 1e-12 * want {
                    errs.push(format!("{what} {part}: {got} vs the model's {want}"));
                }
            };
            close(f.data, data, "data");
            close(f.solve, solve, "solve");
            close(f.gradient, res + dir, "gradient");
            close(f.trial, trials * (res + moved), "trial");
            close(f.update, moved, "update");
            // The data pass, the direction pass and every trial evaluate the
            // activations of all hidden layers once.
            close(f.activations, (2.0 + trials) * acts, "activations");
            if !damped(1) {
                close(
                    f.total(),
                    perf::penalty_iteration_flops(&widths, n, cfg.block, solver, trials),
                    "total",
                );
            }
            // Each of the five phases ran (data pass, solves, direction,
            // trials, update) and its wall time grew.
            for (i, s) in f.seconds.iter().enumerate() {
                if *s <= 0.0 {
                    errs.push(format!("{what}: timer {i} moved by {s}"));
                }
            }
            assert!(errs.is_empty(), "{}", errs.join("\n"));
        }
    }
}

/// On PINN row sets the passes' work counts every point once per channel
/// (a derivative channel is one more row of the point): the update, the
/// residual-and-direction pass and the activations follow the model at
/// `sum_sets n * channels` rows.
#[test]
fn pinn_work_counts_each_point_once_per_channel() {
    let (mut net, data, _) = pinn(4);
    let sets = data.row_sets();
    let rows: usize = sets.iter().map(|s| s.n() * s.channels()).sum();
    assert!(sets.iter().any(|s| s.channels() > 1));
    let widths = net.widths().to_vec();
    let depth = widths.len() - 1;
    let mut t = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets, 0);
    t.start(&net).unwrap();
    t.step(&mut net).unwrap();
    let before = t.flops().unwrap();
    t.step(&mut net).unwrap();
    let f = t.flops().unwrap().since(&before);
    let trials = f.trial_passes as f64;
    // Each step starts with Omega^2 following the derivative auxiliaries of
    // the last step, and a residual pass (no directions) refreshes `R_l`.
    assert_eq!(f.gradient_passes, 2);
    let moved: f64 = (0..depth - 1)
        .map(|l| perf::axpy_flops(&widths, rows, l))
        .sum();
    let dir: f64 = (0..depth - 1)
        .map(|l| perf::direction_flops(&widths, rows, l))
        .sum();
    let res = perf::residual_flops(&widths, rows, 0, depth - 1);
    let acts = perf::activation_count(&widths, rows, 0, depth - 1);
    for (got, want, part) in [
        (f.update, moved, "update"),
        (f.gradient, 2.0 * res + dir, "gradient"),
        (f.trial, trials * (res + moved), "trial"),
        (f.activations, (3.0 + trials) * acts, "activations"),
    ] {
        assert!(
            (got - want).abs() <= 1e-12 * want,
            "{part}: {got} vs the model's {want}"
        );
    }
}

/// The work counters of a trainer's second iteration (SAPM, `cfg`) on the
/// regression `(x, y)` from `net`.
fn second_iteration_flops(
    cfg: PenaltyConfig,
    net: &Network,
    x: &Mat<f64>,
    y: &Mat<f64>,
) -> perf::PenaltyFlops {
    let mut net = net.clone();
    let mut t = PenaltyTrainer::new(cfg, Weighting::SelfAdaptive, x.as_ref(), y.as_ref(), 0);
    t.start(&net).unwrap();
    t.step(&mut net).unwrap();
    let before = t.flops().unwrap();
    t.step(&mut net).unwrap();
    t.flops().unwrap().since(&before)
}

/// A Gauss-Seidel iteration takes one auxiliary step per hidden layer and
/// none on the output layer: one direction pass per hidden layer, over the
/// residuals of that layer and the next (of every layer for the first).
#[test]
fn gauss_seidel_takes_one_direction_pass_per_hidden_layer() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let n = 29;
    let x = Mat::from_fn(2, n, |_, _| rng.random_range(-1.0f64..1.0));
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] + x[(1, j)]).cos());
    for widths in [vec![2, 5, 1], vec![2, 5, 4, 3, 1]] {
        let depth = widths.len() - 1;
        let net = NetworkSpec::new(widths.clone()).build(6).unwrap();
        let cfg = PenaltyConfig {
            aux_order: AuxOrder::GaussSeidel,
            ..small_blocks()
        };
        let f = second_iteration_flops(cfg, &net, &x, &y);
        assert_eq!(f.gradient_passes, depth - 1, "{widths:?}");
        // The backward sweep's first step (the last hidden layer) follows
        // the weight steps, so its pass recomputes every layer's residual.
        let want: f64 = perf::residual_flops(&widths, n, 0, depth - 1)
            + (0..depth - 2)
                .map(|l| perf::residual_flops(&widths, n, l, l + 1))
                .sum::<f64>()
            + (0..depth - 1)
                .map(|l| perf::direction_flops(&widths, n, l))
                .sum::<f64>();
        assert!(
            (f.gradient - want).abs() <= 1e-12 * want,
            "{widths:?}: {} vs {want}",
            f.gradient
        );
    }
}

/// A forward sweep recomputes the residual of each weight-stepped layer
/// but the last before the next layer's step: with one Jacobi auxiliary
/// step, `depth - 1 + 1` residual passes an iteration.
#[test]
fn forward_sweeps_take_one_residual_pass_between_layer_steps() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let n = 23;
    let x = Mat::from_fn(2, n, |_, _| rng.random_range(-1.0f64..1.0));
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * x[(1, j)]).sin());
    for widths in [vec![2, 5, 1], vec![2, 5, 4, 3, 1]] {
        let depth = widths.len() - 1;
        let net = NetworkSpec::new(widths.clone()).build(7).unwrap();
        let cfg = PenaltyConfig {
            sweep: SweepOrder::Forward,
            ..small_blocks()
        };
        let f = second_iteration_flops(cfg, &net, &x, &y);
        assert_eq!(f.gradient_passes, depth, "{widths:?}");
    }
}
