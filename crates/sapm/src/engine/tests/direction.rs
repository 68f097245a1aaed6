//! The per-point scaling of the auxiliary step on sets with derivative
//! channels (`channel_direction_into`): the scaled direction is the raw
//! gradient times the inverse of the documented curvature bound of each
//! point's sub-problem, one bound for the values, one for the first
//! derivatives and one for the second derivatives.

use super::*;
use crate::engine::layout::{ChannelLayer, ChannelScalars, Onext, channel_direction_into};

/// A block of `nb` points, `m` units, `nd` first-derivative channels and the
/// second-derivative `pairs`, filled with draws of `U(-amp, amp)`.
struct Block {
    m: usize,
    nb: usize,
    nd: usize,
    pairs: Vec<(usize, usize)>,
    aux: Vec<f64>,
    s: Mat<f64>,
    res: Vec<Mat<f64>>,
    o: Vec<f64>,
    dl: Vec<f64>,
}

impl Block {
    fn new(seed: u64, nd: usize, pairs: Vec<(usize, usize)>, amp: f64) -> Block {
        let (m, nb) = (3, 4);
        let chans = 1 + nd + pairs.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut draw =
            |n: usize| -> Vec<f64> { (0..n).map(|_| rng.random_range(-amp..amp)).collect() };
        let aux = draw(chans * m * nb);
        let dl = draw(chans * m * nb);
        let res: Vec<Mat<f64>> = (0..chans)
            .map(|_| {
                let v = draw(m * nb);
                Mat::from_fn(m, nb, |i, j| v[j * m + i])
            })
            .collect();
        let o: Vec<f64> = draw(nb).iter().map(|v| 0.5 + v.abs()).collect();
        let s = Mat::from_fn(m, nb, |i, j| Activation::Tanh.eval(aux[j * m + i]));
        Block {
            m,
            nb,
            nd,
            pairs,
            aux,
            s,
            res,
            o,
            dl,
        }
    }

    fn chans(&self) -> usize {
        1 + self.nd + self.pairs.len()
    }

    fn aux(&self, c: usize, i: usize, j: usize) -> f64 {
        self.aux[c * self.m * self.nb + j * self.m + i]
    }

    /// The direction and `(|g|^2, slope)` with the scaling on or off.
    fn direction(&self, sc: &ChannelScalars, onext: f64) -> (Vec<f64>, (f64, f64)) {
        let lay = ChannelLayer {
            nb: self.nb,
            m: self.m,
            chans: self.chans(),
            pairs: &self.pairs,
            aux: &self.aux,
            s: self.s.as_ref(),
            res: &self.res,
            o: Some(&self.o),
            onext: Onext::Const(onext),
        };
        let mut dl = self.dl.clone();
        let out = channel_direction_into(Activation::Tanh, &lay, sc, &mut dl);
        (dl, out)
    }
}

fn scalars(unit: bool) -> ChannelScalars {
    ChannelScalars {
        omega_l: 0.8,
        omega_next: 1.7,
        norm_next: 2.3,
        k2: 1.0,
        scale: 0.6,
        unit,
    }
}

/// With `unit` the direction is the raw gradient; without it, point `j`'s
/// value slots are scaled by `1 / (scale (omega_l Omega_j^2 + omega_{l+1}
/// |W_{l+1}|^2 (K^2 Omega_next + dmax_j + hmax_j)))`, its first-derivative
/// slots by `1 / (scale (omega_l + omega_{l+1} |W_{l+1}|^2 K^2 (1 + 4 dmax_j)))`
/// when the set has second-derivative channels (else as the second-derivative
/// slots), and its second-derivative slots by `1 / (scale (omega_l +
/// omega_{l+1} |W_{l+1}|^2 K^2))`, where `dmax_j = max_i sum_k d_ik^2` and
/// `hmax_j = max_i sum_km (|d_ik d_im| + |e_ikm|)^2`. The slope is
/// `sum scaled_g g`, `|g|^2` is unchanged. Amplitudes 0.3 and 2 put `4 dmax`
/// below and above 1.
#[test]
fn scaled_direction_is_the_gradient_over_the_curvature_bound() {
    let onext = 1.3;
    let cases = [
        (2, vec![(0, 0), (0, 1), (1, 1)]),
        (1, vec![(0, 0)]),
        (2, vec![]),
        (3, vec![(0, 2)]),
    ];
    for (seed, (nd, pairs)) in cases.into_iter().enumerate() {
        for amp in [0.3, 2.0] {
            let b = Block::new(seed as u64, nd, pairs.clone(), amp);
            let (raw, (gsq_raw, slope_raw)) = b.direction(&scalars(true), onext);
            let sc = scalars(false);
            let (got, (gsq, slope)) = b.direction(&sc, onext);
            let next = sc.omega_next * sc.norm_next;
            let second = !b.pairs.is_empty();
            let (m, nb) = (b.m, b.nb);
            let mut want_slope = 0.0;
            for j in 0..nb {
                let (mut dmax, mut hmax): (f64, f64) = (0.0, 0.0);
                for i in 0..m {
                    let d2: f64 = (1..=nd).map(|c| b.aux(c, i, j).powi(2)).sum();
                    let h2: f64 = b
                        .pairs
                        .iter()
                        .enumerate()
                        .map(|(t, &(k, q))| {
                            let v = (b.aux(1 + k, i, j) * b.aux(1 + q, i, j)).abs()
                                + b.aux(1 + nd + t, i, j).abs();
                            v * v
                        })
                        .sum();
                    dmax = dmax.max(d2);
                    hmax = hmax.max(h2);
                }
                let s_val =
                    1.0 / (sc.scale * (sc.omega_l * b.o[j] + next * (sc.k2 * onext + dmax + hmax)));
                let s_second = 1.0 / (sc.scale * (sc.omega_l + next * sc.k2));
                let s_first = if second {
                    1.0 / (sc.scale * (sc.omega_l + next * sc.k2 * (1.0 + 4.0 * dmax)))
                } else {
                    s_second
                };
                for c in 0..b.chans() {
                    let want_scale = match c {
                        0 => s_val,
                        c if c <= nd => s_first,
                        _ => s_second,
                    };
                    for i in 0..m {
                        let at = c * m * nb + j * m + i;
                        let want = want_scale * raw[at];
                        assert!(
                            (got[at] - want).abs() <= 1e-13 * want.abs().max(1e-300),
                            "nd {nd} pairs {:?} amp {amp}: channel {c} point {j} unit {i}: {} vs {want}",
                            b.pairs,
                            got[at]
                        );
                        want_slope += want_scale * raw[at] * raw[at];
                    }
                }
            }
            assert_eq!(
                gsq.to_bits(),
                gsq_raw.to_bits(),
                "|g|^2 does not depend on the scaling"
            );
            assert!(slope_raw > 0.0 && (slope_raw - gsq_raw).abs() <= 1e-12 * gsq_raw);
            assert!(
                (slope - want_slope).abs() <= 1e-12 * want_slope,
                "slope {slope} vs {want_slope}"
            );
        }
    }
}

/// On a value-only set (regression) the scaled direction of hidden layer `l`
/// is the raw gradient over the layer's curvature bound
/// `(2/N)(omega_l + omega_{l+1} K^2 |W_{l+1}|_F^2)` (docs/method.md), with
/// `omega` computed here from the weights (SAPM: the product of the later
/// layers' `|W_j|_F^2`; PM: `beta`, 1 on the output) and sigmoid's `K = 1/4`.
#[test]
fn value_direction_is_the_gradient_over_the_layer_curvature_bound() {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let n = 40;
    let x = Mat::from_fn(2, n, |_, _| rng.random_range(-1.0..1.0));
    let y = Mat::from_fn(1, n, |_, _| rng.random_range(-1.0..1.0));
    let net = NetworkSpec::new(vec![2, 5, 4, 3, 1])
        .with_activation(Activation::Sigmoid)
        .build(32)
        .unwrap();
    let depth = net.depth();
    let norm2: Vec<f64> = (0..depth)
        .map(|l| {
            let w = net.weight(l);
            let mut s = 0.0;
            for j in 0..w.ncols() {
                for i in 0..w.nrows() {
                    s += w[(i, j)] * w[(i, j)];
                }
            }
            s
        })
        .collect();
    for (w, beta) in [
        (Weighting::SelfAdaptive, None),
        (Weighting::Constant(0.3), Some(0.3)),
    ] {
        let omega: Vec<f64> = (0..depth)
            .map(|l| match beta {
                Some(b) if l + 1 < depth => b,
                Some(_) => 1.0,
                None => norm2[l + 1..].iter().product(),
            })
            .collect();
        let sets = vec![RowSet::regression(x.as_ref(), y.as_ref())];
        let (mut t, _) = perturbed_trainer(small_blocks(), w, sets, &net, 33, 0.2);
        let g = t.raw_gradient(&net);
        let (_, d) = t.trial_objective_masked(&net, (0, depth - 2), &[true; 4], 0.1);
        for l in 0..depth - 1 {
            let bound = 2.0 / n as f64 * (omega[l] + omega[l + 1] * 0.0625 * norm2[l + 1]);
            let (gl, dl) = (&g[0][0][l], &d[0][0][l]);
            for j in 0..n {
                for i in 0..gl.nrows() {
                    let want = gl[(i, j)] / bound;
                    assert!(
                        (dl[(i, j)] - want).abs() <= 1e-13 * want.abs().max(1e-300),
                        "{w:?} layer {l} ({i}, {j}): {} vs {want}",
                        dl[(i, j)]
                    );
                }
            }
        }
    }
}

/// On PINN rows, through the trainer, at depths 3 and 5 (every other
/// per-point test net has depth 4): the value slot of hidden layer `l` at
/// point `j` is the raw gradient over `scale (omega_l Omega^2_{l,j} +
/// omega_{l+1} |W_{l+1}|^2 (K^2 onext_j + dmax_j))`, where `onext_j` is
/// `Omega^2_{l+1,j}` below the last hidden layer and the squared value
/// coefficient of the readout (0.7 here, a term added to the PDE rows) at
/// it; first-derivative slots use `scale (omega_l + omega_{l+1} |W_{l+1}|^2
/// K^2)`. SAPM (`omega_l` the product of the later `|W_j|^2`), tanh
/// (`K = 1`) and the logistic sigmoid (`K = 1/4`, where a misplaced `K^2`
/// shows), `scale = 2 alpha_s / N_s`.
#[test]
fn pinn_direction_of_every_hidden_layer_uses_the_next_rows_or_the_value_coefficient() {
    use crate::engine::{Channel, Readout};
    let (_, data, _) = pinn(41);
    let vc = 0.7;
    let sets: Vec<RowSet<'_>> = data
        .row_sets()
        .into_iter()
        .map(|mut s| {
            if !s.dirs.is_empty() {
                let mut terms = s.readout.terms.clone();
                terms.push((Channel::Value, vc));
                let mut scales = s.readout.scales.clone();
                if !scales.is_empty() {
                    scales.push(None);
                }
                s.readout = Readout {
                    terms,
                    scales,
                    target: s.readout.target,
                };
            }
            s
        })
        .collect();
    assert!(sets.iter().any(|s| !s.dirs.is_empty()));
    let cases = [
        (vec![3, 5, 4, 1], Activation::Tanh, 1.0),
        (vec![3, 5, 4, 3, 4, 1], Activation::Tanh, 1.0),
        (vec![3, 5, 4, 3, 1], Activation::Sigmoid, 1.0 / 16.0),
    ];
    for (widths, act, k2) in cases {
        let net = NetworkSpec::new(widths.clone()).build(42).unwrap();
        let net = Network::from_layers(act, net.layers().to_vec()).unwrap();
        let depth = net.depth();
        let norm2: Vec<f64> = (0..depth)
            .map(|l| net.weight(l).squared_norm_l2())
            .collect();
        let omega = |l: usize| norm2[l + 1..].iter().product::<f64>();
        let (mut t, aux) = perturbed_trainer(
            small_blocks(),
            Weighting::SelfAdaptive,
            sets.clone(),
            &net,
            43,
            0.3,
        );
        let g = t.raw_gradient(&net);
        let mask = vec![true; depth - 1];
        let (_, d) = t.trial_objective_masked(&net, (0, depth - 2), &mask, 0.1);
        let mut checked = 0;
        for (s, set) in sets.iter().enumerate() {
            if set.dirs.is_empty() {
                continue;
            }
            let o2 = t.omega_rows(s).unwrap();
            let nd = set.dirs.len();
            let scale = 2.0 * set.weight / set.n() as f64;
            for l in 0..depth - 1 {
                let next = omega(l + 1) * norm2[l + 1];
                for j in 0..set.n() {
                    let dmax = (0..aux[s][0][l].nrows())
                        .map(|i| (1..=nd).map(|c| aux[s][c][l][(i, j)].powi(2)).sum::<f64>())
                        .fold(0.0, f64::max);
                    let onext = if l + 2 == depth {
                        vc * vc
                    } else {
                        o2[l + 1][j]
                    };
                    let value = scale * (omega(l) * o2[l][j] + next * (k2 * onext + dmax));
                    let first = scale * (omega(l) + next * k2);
                    for (c, bound) in (0..=nd).map(|c| (c, if c == 0 { value } else { first })) {
                        let (gl, dl) = (&g[s][c][l], &d[s][c][l]);
                        for i in 0..gl.nrows() {
                            let want = gl[(i, j)] / bound;
                            assert!(
                                (dl[(i, j)] - want).abs() <= 1e-12 * want.abs().max(1e-300),
                                "{act} widths {widths:?} set {s} layer {l} channel {c} ({i}, {j}): {} vs {want}",
                                dl[(i, j)]
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 0);
    }
}

/// On a value-only set, for every activation (tanh has its own loop) and
/// layers of 9 and 12 units (sums of squares in eight lanes plus a
/// remainder), `J` at perturbed auxiliaries is the reference `J` and the
/// raw gradient matches central differences of it.
#[test]
fn value_only_gradient_matches_finite_differences_for_every_activation() {
    let mut rng = ChaCha8Rng::seed_from_u64(51);
    let n = 19;
    let x = Mat::from_fn(2, n, |_, _| rng.random_range(-1.0..1.0));
    let y = Mat::from_fn(1, n, |_, _| rng.random_range(-1.0..1.0));
    let acts = [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Sin,
        Activation::Softplus,
    ];
    for act in acts {
        let net = NetworkSpec::new(vec![2, 9, 12, 1])
            .with_activation(act)
            .build(52)
            .unwrap();
        for w in [Weighting::SelfAdaptive, Weighting::Constant(0.7)] {
            let sets = vec![RowSet::regression(x.as_ref(), y.as_ref())];
            let (mut t, aux) = perturbed_trainer(small_blocks(), w, sets, &net, 53, 0.3);
            let sets = t.sets().to_vec();
            let o2 = omega2(&t);
            let f = |a: &SetAux| rows_objective(&net, &sets, a, w, &o2);
            let j0 = f(&aux);
            let got = t.aux_loss().unwrap();
            assert!(
                (got - j0).abs() <= 1e-13 * j0,
                "{act} {w:?}: J {got} vs {j0}"
            );
            let g = t.raw_gradient(&net);
            let checked = assert_aux_gradient_by_fd(&aux, &g, f, j0, &format!("{act} {w:?}"));
            assert_eq!(checked.len(), 2 * 3);
        }
    }
}
