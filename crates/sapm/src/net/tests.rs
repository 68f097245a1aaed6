use super::*;

fn naive_forward(net: &Network, x: &[f64]) -> Vec<f64> {
    let mut cur = x.to_vec();
    for l in 0..net.depth() {
        let m = net.layer(l);
        let mut next = vec![0.0; m.nrows()];
        for (i, v) in next.iter_mut().enumerate() {
            let mut acc = m[(i, m.ncols() - 1)];
            for (j, c) in cur.iter().enumerate() {
                acc += m[(i, j)] * c;
            }
            *v = if l + 1 < net.depth() {
                net.activation().eval(acc)
            } else {
                acc
            };
        }
        cur = next;
    }
    cur
}

/// [`naive_forward`] in single precision, in the same order of operations.
fn naive_f32(net: &Network, x: &[f64]) -> Vec<f64> {
    let mut cur: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    for l in 0..net.depth() {
        let m = net.layer(l);
        let next = (0..m.nrows())
            .map(|i| {
                let mut acc = m[(i, m.ncols() - 1)] as f32;
                for (j, c) in cur.iter().enumerate() {
                    acc += m[(i, j)] as f32 * c;
                }
                if l + 1 < net.depth() {
                    net.activation().eval_f32(acc)
                } else {
                    acc
                }
            })
            .collect();
        cur = next;
    }
    cur.into_iter().map(f64::from).collect()
}

/// The forward passes are the naive loops: in f64 to round-off, in f32 to
/// the bit (same order of operations).
#[test]
fn forward_matches_naive_loops() {
    for act in Activation::ALL {
        let net = NetworkSpec::new(vec![3, 7, 5, 2])
            .with_activation(act)
            .build(3)
            .unwrap();
        let x = Mat::from_fn(3, 9, |i, j| ((i * 7 + j * 3) as f64 * 0.37).sin());
        let u = net.predict(x.as_ref()).unwrap();
        let u32 = net.predict_f32(x.as_ref());
        for s in 0..9 {
            let xs: Vec<f64> = (0..3).map(|i| x[(i, s)]).collect();
            for (i, w) in naive_forward(&net, &xs).iter().enumerate() {
                assert!((u[(i, s)] - w).abs() < 1e-13);
            }
            for (i, w) in naive_f32(&net, &xs).iter().enumerate() {
                assert_eq!(u32[(i, s)].to_bits(), w.to_bits(), "{act:?} ({i}, {s})");
            }
            assert!((u32[(0, s)] - u[(0, s)]).abs() < 1e-4);
        }
    }
}

/// `u(x) = 1e7 (tanh(x + 1e-7) - tanh(x)) ~ 1 - tanh(x)^2`: exact in f64
/// to 1e-6, while f32 cannot resolve the 1e-7 shift.
pub(crate) fn cancelling_net() -> Network {
    Network::from_layers(
        Activation::Tanh,
        vec![
            Mat::from_fn(2, 2, |i, j| [[1.0, 0.0], [1.0, 1e-7]][i][j]),
            Mat::from_fn(1, 3, |_, j| [-1e7, 1e7, 0.0][j]),
        ],
    )
    .unwrap()
}

/// The f32 forward pass is the naive loops in single precision (same
/// order of operations, so the same bits: `forward_matches_naive_loops`),
/// not the f64 pass rounded at the end: on a model that cancels two huge
/// terms they differ by O(1).
#[test]
fn predict_f32_is_the_forward_pass_in_single_precision() {
    let net = cancelling_net();
    let x = Mat::from_fn(1, 16, |_, j| 0.05 + j as f64 / 16.0);
    let (u64, u32) = (
        net.predict(x.as_ref()).unwrap(),
        net.predict_f32(x.as_ref()),
    );
    let mut worst: f64 = 0.0;
    for s in 0..16 {
        let exact = 1.0 - x[(0, s)].tanh().powi(2);
        assert!((u64[(0, s)] - exact).abs() < 1e-6, "f64 at {s}");
        worst = worst.max((u32[(0, s)] - exact).abs());
    }
    assert!(worst > 0.1, "f32 resolved a 1e-7 shift: {worst}");
}

#[test]
fn params_round_trip_and_seeded_init() {
    let spec = NetworkSpec::new(vec![2, 4, 1]);
    let a = spec.build(11).unwrap();
    let b = spec.build(11).unwrap();
    let c = spec.build(12).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let p = a.params();
    let mut d = c.clone();
    d.set_params(&p);
    assert_eq!(a, d);
    // Glorot range respected, biases in [-1, 1] and not all zero.
    let r = (6.0f64 / 6.0).sqrt();
    assert!(a.weight(0).squared_norm_l2() > 0.0);
    for j in 0..2 {
        for i in 0..4 {
            assert!(a.layer(0)[(i, j)].abs() <= r);
        }
    }
    assert!((0..4).any(|i| a.layer(0)[(i, 2)] != 0.0));
}

#[test]
fn bad_specs_are_rejected() {
    assert!(NetworkSpec::new(vec![1]).build(0).is_err());
    assert!(NetworkSpec::new(vec![1, 0, 1]).build(0).is_err());
    let mut s = NetworkSpec::new(vec![1, 2, 1]);
    s.bias_range = f64::NAN;
    assert!(s.build(0).is_err());
    let net = NetworkSpec::new(vec![2, 3, 1]).build(0).unwrap();
    assert!(net.predict(Mat::<f64>::zeros(3, 4).as_ref()).is_err());
}
