//! The formulas of `loss.rs` written out independently: the consistency
//! constant for any Lipschitz constant, and the one-layer residual update.

use super::*;
use crate::engine::loss::{AuxVars, PenaltyWorkspace, consistency_constant};

/// `L max(1, K^(2(L-1)))` for Lipschitz constants above, at and below 1.
/// Every built-in activation has `K <= 1` (so the power never matters for
/// them); the formula is checked with `K = 2` and `K = 3` too.
#[test]
fn consistency_constant_is_l_times_k_to_the_2_l_minus_2() {
    let cases = [
        // (L, K, L max(1, K^(2L-2)))
        (1, 2.0, 1.0),
        (2, 2.0, 2.0 * 4.0),
        (3, 2.0, 3.0 * 16.0),
        (4, 3.0, 4.0 * 729.0),
        (5, 1.0, 5.0),
        (3, 0.25, 3.0),
    ];
    for (depth, k, want) in cases {
        let got = consistency_constant(depth, k);
        assert_eq!(got, want, "L={depth} K={k}");
    }
}

/// `residual(l)` recomputes `E_l = T_l - W~_l P_l` and `r_l = |E_l|_F^2` of
/// one layer: hidden layers against their auxiliary, the output layer
/// against `y`, each computed here from the definitions.
#[test]
fn one_layer_residual_is_t_minus_w_p() {
    let net = NetworkSpec::new(vec![2, 4, 3, 2]).build(6).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x = Mat::from_fn(2, 7, |_, _| rng.random_range(-1.0..1.0));
    let y = Mat::from_fn(2, 7, |_, _| rng.random_range(-1.0..1.0));
    let mut aux = AuxVars::forward(&net, x.as_ref());
    for a in &mut aux.a {
        for j in 0..a.ncols() {
            for i in 0..a.nrows() {
                a[(i, j)] += rng.random_range(-0.5..0.5);
            }
        }
    }
    let depth = net.depth();
    let act = net.activation();
    // P_0 = [x; 1], P_l = [s(A_{l-1}); 1].
    let input = |l: usize| -> Mat<f64> {
        if l == 0 {
            Mat::from_fn(3, 7, |i, j| if i < 2 { x[(i, j)] } else { 1.0 })
        } else {
            let a = &aux.a[l - 1];
            Mat::from_fn(a.nrows() + 1, 7, |i, j| {
                if i < a.nrows() {
                    act.eval(a[(i, j)])
                } else {
                    1.0
                }
            })
        }
    };
    let mut ws = PenaltyWorkspace::new(&net, x.as_ref());
    ws.set_inputs(&net, &aux);
    for l in 0..depth {
        ws.residual(&net, &aux, y.as_ref(), l);
        let t = if l + 1 < depth { &aux.a[l] } else { &y };
        let e = t - net.layer(l) * input(l);
        let want = e.squared_norm_l2();
        assert!((ws.e[l].as_ref() - &e).norm_max() <= 1e-14, "E_{l}");
        assert!(
            (ws.r[l] - want).abs() <= 1e-13 * want,
            "r_{l}: {} vs {want}",
            ws.r[l]
        );
        assert!(want > 1e-3, "r_{l} should not vanish");
    }
}

/// The reference's exact auxiliaries are the engine's forward start: one
/// `m_l x N_s` matrix per hidden layer (none for the output layer) and
/// channel, equal to the engine's after `start` (first- and second-order
/// row sets).
#[test]
fn forward_channel_aux_is_the_hidden_layers_of_the_forward_start() {
    let (net, task, _) = pinn(4);
    let cfg = PdeConfig {
        n_interior: 17,
        n_boundary: 7,
        ..PdeConfig::default()
    };
    let second = PdeTask::new(Problem::poisson2d(), cfg, 4).unwrap();
    let net2 = NetworkSpec::new(vec![2, 4, 3, 1]).build(4).unwrap();
    for (net, sets) in [(&net, task.row_sets()), (&net2, second.row_sets())] {
        let want = forward_channel_aux(net, &sets);
        let mut t = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets, 0);
        t.start(net).unwrap();
        let got = t.channel_aux().unwrap();
        assert_eq!(want.len(), got.len());
        for (s, (ws, gs)) in want.iter().zip(&got).enumerate() {
            assert_eq!(ws.len(), gs.len(), "set {s}: channels");
            for (c, (wc, gc)) in ws.iter().zip(gs).enumerate() {
                assert_eq!(
                    wc.len(),
                    net.depth() - 1,
                    "set {s} channel {c}: hidden layers"
                );
                assert_eq!(gc.len(), net.depth() - 1);
                for (l, (a, b)) in wc.iter().zip(gc).enumerate() {
                    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
                    assert_eq!(a.nrows(), net.widths()[l + 1]);
                    for j in 0..a.ncols() {
                        for i in 0..a.nrows() {
                            let (x, y) = (a[(i, j)], b[(i, j)]);
                            assert!(
                                (x - y).abs() <= 1e-13 * (1.0 + y.abs()),
                                "set {s} channel {c} layer {l} ({i},{j}): {x} vs {y}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// `AuxVars::is_finite` looks at every entry of every layer; `bytes` counts
/// 8 bytes an entry.
#[test]
fn aux_vars_are_finite_only_without_nan_or_infinity() {
    let net = NetworkSpec::new(vec![2, 4, 3, 1]).build(9).unwrap();
    let x = Mat::from_fn(2, 5, |i, j| (i + 2 * j) as f64 / 10.0);
    let aux = AuxVars::forward(&net, x.as_ref());
    assert!(aux.is_finite());
    assert_eq!(aux.n(), 5);
    assert_eq!(aux.bytes(), 8 * (4 + 3) * 5);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for (l, (i, j)) in [(0, (0, 0)), (1, (2, 4)), (0, (3, 2))] {
            let mut a = aux.clone();
            a.a[l][(i, j)] = bad;
            assert!(!a.is_finite(), "{bad} at layer {l} ({i}, {j})");
        }
    }
}
