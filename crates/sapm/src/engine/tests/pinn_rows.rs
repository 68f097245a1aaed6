//! The engine on PINN row sets: `J`, `Omega`, gradients, weight steps,
//! trial points and every option against the straightforward `J`.

use super::*;

#[test]
fn j_is_the_pinn_loss_at_exact_auxiliaries() {
    for act in [Activation::Tanh, Activation::Sin, Activation::Softplus] {
        let (net, mut data, mut pde) = pinn(3);
        let net = Network::from_layers(act, net.layers().to_vec()).unwrap();
        for (alpha, beta) in [(1.0, 1.0), (0.3, 7.0)] {
            (pde.alpha, pde.beta_bc) = (alpha, beta);
            let want = pinn_loss(&net, &data.data, alpha, beta).total;
            for w in [Weighting::SelfAdaptive, Weighting::Constant(5.0)] {
                for (floor, deriv) in [(1.0, 1.0), (0.0, 0.0), (3.0, 0.5)] {
                    (pde.omega_floor, pde.omega_deriv) = (floor, deriv);
                    data.cfg = pde.clone();
                    let sets = data.row_sets();
                    let aux = forward_channel_aux(&net, &sets);
                    let o2 = vec![omega_reference(&aux, 0, floor, deriv), Vec::new()];
                    let j = rows_objective(&net, &sets, &aux, w, &o2);
                    assert!((j - want).abs() <= 1e-13 * want, "{act}: {j} vs {want}");
                    let mut t = PenaltyTrainer::with_sets(small_blocks(), w, sets, 0);
                    t.start(&net).unwrap();
                    let got = t.aux_loss().unwrap();
                    assert!(
                        (got - want).abs() <= 1e-13 * want,
                        "{act}: engine {got} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn engine_j_omega_and_gradient_match_the_reference() {
    let (net, data, pde) = pinn(5);
    for w in [Weighting::SelfAdaptive, Weighting::Constant(3.0)] {
        let (mut t, aux) = perturbed_trainer(small_blocks(), w, data.row_sets(), &net, 1, 0.3);
        assert_eq!(t.channel_aux().unwrap(), aux);
        let o2 = omega2(&t);
        let want = omega_reference(&aux, 0, pde.omega_floor, pde.omega_deriv);
        for (a, b) in o2[0].iter().flatten().zip(want.iter().flatten()) {
            assert!((a - b).abs() <= 1e-14 * b, "Omega {a} vs {b}");
        }
        let sets = t.sets().to_vec();
        let f = |a: &SetAux| rows_objective(&net, &sets, a, w, &o2);
        let j0 = f(&aux);
        let got = t.aux_loss().unwrap();
        assert!((got - j0).abs() <= 1e-13 * j0, "{w:?}: {got} vs {j0}");
        let g = t.raw_gradient(&net);
        let checked = assert_aux_gradient_by_fd(&aux, &g, f, j0, &format!("{w:?}"));
        assert_eq!(checked.len(), 3 * 2 * 3 + 3 * 3);
    }
}

#[test]
fn weight_steps_are_block_minimisers_on_pinn_rows() {
    let (net0, data, _) = pinn(7);
    for solver in [SolveMethod::Qr, SolveMethod::Cholesky] {
        for w in [Weighting::SelfAdaptive, Weighting::Constant(2.0)] {
            let cfg = PenaltyConfig {
                solver,
                ..small_blocks()
            };
            let mut net = net0.clone();
            let (mut t, aux) = perturbed_trainer(cfg, w, data.row_sets(), &net, 2, 0.2);
            let sets = t.sets().to_vec();
            let o2 = omega2(&t);
            for l in (0..net.depth()).rev() {
                let before = rows_objective(&net, &sets, &aux, w, &o2);
                t.weight_step_alone(&mut net, l).unwrap();
                let after = rows_objective(&net, &sets, &aux, w, &o2);
                assert!(
                    after <= before * (1.0 + 1e-12),
                    "layer {l}: {after} > {before}"
                );
                // Block optimality: no perturbation of W~_l lowers J.
                assert_block_minimum(&net, l, 20, after, &format!("{solver:?} {w:?}"), |n| {
                    rows_objective(n, &sets, &aux, w, &o2)
                });
            }
        }
    }
}

#[test]
fn iterations_do_not_increase_j_and_track_derivatives() {
    let (net0, data, pde) = pinn(11);
    for w in [Weighting::SelfAdaptive, Weighting::Constant(1.0)] {
        let mut net = net0.clone();
        let omega = |_: &[RowSet<'_>], aux: &SetAux| {
            vec![
                omega_reference(aux, 0, pde.omega_floor, pde.omega_deriv),
                Vec::new(),
            ]
        };
        let mut t = assert_steps_lower_j(&mut net, data.row_sets(), w, "pinn", omega);
        let gap = t.derivative_gap(&net).unwrap();
        assert!(gap.is_finite() && gap < 1.0, "gap {gap}");
        assert_eq!(t.probe_names(), vec!["derivative_gap".to_string()]);
    }
}

/// Every option of the engine runs on PINN rows and keeps `J` finite and
/// decreasing (no option is silently ignored: each changes the iterates).
#[test]
fn every_option_works_on_pinn_rows() {
    let (net0, data, _) = pinn(13);
    let base = PenaltyConfig::default();
    let variants: Vec<(&str, PenaltyConfig)> = vec![
        (
            "gauss-seidel",
            PenaltyConfig {
                aux_order: AuxOrder::GaussSeidel,
                ..base
            },
        ),
        (
            "forward sweep",
            PenaltyConfig {
                sweep: SweepOrder::Forward,
                ..base
            },
        ),
        (
            "cholesky",
            PenaltyConfig {
                solver: SolveMethod::Cholesky,
                ..base
            },
        ),
        (
            "frozen",
            PenaltyConfig {
                omega_mode: OmegaMode::Frozen,
                ..base
            },
        ),
        (
            "ridge+prox",
            PenaltyConfig {
                ridge: 1e-3,
                prox: 1e-2,
                ..base
            },
        ),
        (
            "caps",
            PenaltyConfig {
                cap_output: 0.5,
                cap_hidden: 0.5,
                ..base
            },
        ),
        (
            "two aux steps",
            PenaltyConfig {
                aux_steps: 2,
                ..base
            },
        ),
        ("tau", PenaltyConfig { tau: 0.25, ..base }),
        (
            "random aux",
            PenaltyConfig {
                aux_init: AuxInit::Random,
                ..base
            },
        ),
        ("block 4", PenaltyConfig { block: 4, ..base }),
    ];
    let run = |cfg: PenaltyConfig| {
        let mut net = net0.clone();
        let mut t = PenaltyTrainer::with_sets(cfg, Weighting::SelfAdaptive, data.row_sets(), 0);
        t.start(&net).unwrap();
        let j0 = t.aux_loss().unwrap();
        let mut j = j0;
        let sets = t.sets().to_vec();
        for _ in 0..4 {
            j = t.step(&mut net).unwrap().objective;
            assert!(j.is_finite());
            // The cached residual sums agree with a fresh evaluation of J
            // at the new weights and auxiliaries (Omega of this iteration).
            let fresh = rows_objective(
                &net,
                &sets,
                &t.channel_aux().unwrap(),
                Weighting::SelfAdaptive,
                &omega2(&t),
            );
            assert!(
                (fresh - j).abs() <= 1e-10 * fresh,
                "{cfg:?}: cached J {j} vs {fresh}"
            );
        }
        (j0, j, net)
    };
    let (_, _, plain) = run(base);
    let plain = plain.params();
    for (name, cfg) in variants {
        let (j0, j, net) = run(cfg);
        let params = net.params();
        assert!(j < j0, "{name}: J {j0} -> {j}");
        if name != "block 4" {
            assert_ne!(params, plain, "{name} changed nothing");
        } else {
            // The block size changes only the summation order.
            let rel = params
                .iter()
                .zip(&plain)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0.0, f64::max);
            assert!(rel < 1e-6, "block size moved the iterates by {rel}");
        }
        if name == "caps" {
            for (l, n) in net.weight_norms_sq().into_iter().enumerate() {
                assert!(
                    n <= 0.5 * (1.0 + 1e-9),
                    "layer {l}: |W|^2 = {n} above the cap"
                );
            }
        }
    }
}

/// Same bits on one and two threads, for PINN rows as for regression.
#[test]
fn pinn_rows_give_the_same_bits_on_any_thread_count() {
    let (net0, data, _) = pinn(17);
    let run = |threads: usize| three_steps(threads, &net0, data.row_sets());
    assert_eq!(run(1), run(2));
}

/// The trial pass evaluates `J` at `A - t D` for any range of moved layers
/// (Gauss-Seidel moves one hidden layer at a time), on PINN rows and on
/// regression rows.
#[test]
fn trial_points_match_the_reference_for_every_moved_range() {
    let (net, data, _) = pinn(19);
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let x = Mat::from_fn(2, 40, |_, _| rng.random_range(-1.0..1.0));
    let y = Mat::from_fn(1, 40, |_, _| rng.random_range(-1.0..1.0));
    let rnet = NetworkSpec::new(vec![2, 5, 4, 3, 1]).build(21).unwrap();
    let cases: Vec<(Network, Vec<RowSet<'_>>)> = vec![
        (net, data.row_sets()),
        (rnet, vec![RowSet::regression(x.as_ref(), y.as_ref())]),
    ];
    for (net, sets) in cases {
        let (mut t, aux) =
            perturbed_trainer(small_blocks(), Weighting::SelfAdaptive, sets, &net, 22, 0.2);
        assert_trial_objective_is_moved_j(&mut t, &net, &aux, "");
    }
}

/// A step's weight sweep uses the residual sums of the current `Omega^2`
/// rows: the previous step's auxiliary step moved the derivative
/// auxiliaries, so `Omega` and the coupled ridges (sums of the lower layers'
/// weighted residuals) change. Stepping on gives the same weights, bit for
/// bit, as a fresh trainer handed the same weights and auxiliaries (whose
/// `set_channel_aux` recomputes `Omega` and every residual sum).
#[test]
fn a_step_sees_the_omega_of_the_moved_derivative_auxiliaries() {
    let (net0, data, _) = pinn(23);
    let w = Weighting::SelfAdaptive;
    let mut net = net0.clone();
    let mut t = PenaltyTrainer::with_sets(small_blocks(), w, data.row_sets(), 0);
    t.start(&net).unwrap();
    let o_start = omega2(&t);
    t.step(&mut net).unwrap();
    let aux = t.channel_aux().unwrap();
    let mut fresh = PenaltyTrainer::with_sets(small_blocks(), w, data.row_sets(), 0);
    fresh.start(&net).unwrap();
    fresh.set_channel_aux(&net, &aux).unwrap();
    assert_ne!(omega2(&fresh), o_start, "Omega did not move");
    let (mut n1, mut n2) = (net.clone(), net.clone());
    t.step(&mut n1).unwrap();
    fresh.step(&mut n2).unwrap();
    assert_eq!(n1.params(), n2.params());
}

/// A readout whose terms on one channel cancel nominally (`+1` and `-1`)
/// but not point by point (different per-point scales) still reads that
/// channel: `J` and its gradient in every auxiliary match the reference and
/// finite differences, also when no other channel is read.
#[test]
fn nominally_cancelling_per_point_coefficients_still_read_their_channel() {
    use crate::engine::{Channel, Readout};
    let (net, data, _) = pinn(12);
    let sets0 = data.row_sets();
    let n = sets0.iter().find(|s| !s.dirs.is_empty()).unwrap().n();
    let a = Mat::from_fn(1, n, |_, j| 1.0 + 0.1 * j as f64);
    let b = Mat::from_fn(1, n, |_, j| 0.5 - 0.05 * j as f64);
    let sets: Vec<RowSet<'_>> = sets0
        .into_iter()
        .map(|mut s| {
            if !s.dirs.is_empty() {
                s.readout = Readout {
                    terms: vec![(Channel::D1(0), 1.0), (Channel::D1(0), -1.0)],
                    scales: vec![Some(a.as_ref()), Some(b.as_ref())],
                    target: s.readout.target,
                };
            }
            s
        })
        .collect();
    for w in [Weighting::SelfAdaptive, Weighting::Constant(2.0)] {
        let (mut t, aux) = perturbed_trainer(small_blocks(), w, sets.clone(), &net, 13, 0.3);
        let o2 = omega2(&t);
        let f = |x: &SetAux| rows_objective(&net, &sets, x, w, &o2);
        let j0 = f(&aux);
        let got = t.aux_loss().unwrap();
        assert!((got - j0).abs() <= 1e-13 * j0, "{w:?}: {got} vs {j0}");
        let g = t.raw_gradient(&net);
        let checked = assert_aux_gradient_by_fd(&aux, &g, f, j0, &format!("{w:?}"));
        assert!(!checked.is_empty());
    }
}
