//! The second-order PINN loss, its gradient and its Jacobian against finite
//! differences, and its residuals against the exact solution's.

use super::*;
use crate::task::pde::{PdeConfig, Problem, Sampling};
use crate::task::regression_jacobian::testutil::{fd_jacobian, worst_rel};
use crate::{Activation, NetworkSpec};

fn problems() -> Vec<Problem> {
    vec![
        Problem::poisson1d(),
        Problem::heat1d(),
        Problem::poisson2d_mixed(),
        Problem::helmholtz2d(2.0),
        Problem::convdiff1d(0.1),
    ]
}

fn data(p: &Problem, ni: usize, nb: usize) -> PinnData {
    let cfg = PdeConfig {
        n_interior: ni,
        n_boundary: nb,
        n_test: 5,
        ..PdeConfig::default()
    };
    PinnData::sample(p, &cfg, 3).unwrap()
}

#[test]
fn gradient_matches_finite_differences() {
    for p in problems() {
        let d = data(&p, 19, 9);
        for act in [
            Activation::Tanh,
            Activation::Sin,
            Activation::Sigmoid,
            Activation::Softplus,
        ] {
            let mut net = NetworkSpec::new(vec![p.dim(), 5, 4, 1])
                .with_activation(act)
                .build(2)
                .unwrap();
            let mut obj = SecondObjective::new(&d, 0.7, 1.3).unwrap();
            let mut g = vec![0.0; net.num_params()];
            let f0 = obj.value_grad(&net, &mut g);
            assert!((f0 - obj.value(&net)).abs() < 1e-12 * f0, "{}", p.name);
            let fds = crate::net::central_differences(&mut net, 1e-6, |n| obj.value(n));
            for (k, &fd) in fds.iter().enumerate() {
                assert!(
                    (fd - g[k]).abs() <= 1e-6 * (1.0 + g[k].abs()),
                    "{} {act} param {k}: fd {fd} vs {}",
                    p.name,
                    g[k]
                );
            }
        }
    }
}

#[test]
fn jacobian_matches_finite_differences_and_any_row_split() {
    for p in problems() {
        // More than one block of interior rows.
        let d = data(&p, 70, 9);
        for act in [Activation::Tanh, Activation::Sin, Activation::Softplus] {
            let net = NetworkSpec::new(vec![p.dim(), 4, 3, 1])
                .with_activation(act)
                .build(5)
                .unwrap();
            let mut obj = SecondObjective::new(&d, 0.7, 1.3).unwrap();
            let (fd, r0) = fd_jacobian(&mut obj, &net, 1e-6);
            let m = obj.residual_count();
            let mut jac = Mat::zeros(m, net.num_params());
            obj.jacobian_rows_into(&net, 0..m, jac.as_mut());
            let worst = worst_rel(jac.as_ref(), fd.as_ref(), 1e-3);
            assert!(worst < 1e-6, "{} {act}: worst {worst:e}", p.name);
            let v = obj.value(&net);
            let s: f64 = r0.iter().map(|v| v * v).sum();
            assert!((s - v).abs() <= 1e-12 * v, "{}: {s} vs {v}", p.name);
            let mut parts = Mat::zeros(m, net.num_params());
            let mut cuts = vec![0, 3, 64, 65, 72, m];
            cuts.retain(|&c| c <= m);
            cuts.dedup();
            for w in cuts.windows(2) {
                let view = parts.as_mut().subrows_mut(w[0], w[1] - w[0]);
                obj.jacobian_rows_into(&net, w[0]..w[1], view);
            }
            assert_eq!(parts, jac, "{}", p.name);
        }
    }
}

/// A network cannot represent the exact solution, but the rows are linear
/// in `u`: with `u` replaced by the exact solution through its data the
/// rows vanish. Check the rows' assembly instead on a network whose output
/// layer is zero (so `u = b_L` is a constant `b`): interior rows are
/// `r b - f`, boundary rows `alpha b - g`.
#[test]
fn rows_of_a_constant_network_are_the_zeroth_order_terms() {
    for p in problems() {
        for sampling in [Sampling::Random, Sampling::Grid] {
            let cfg = PdeConfig {
                n_interior: 30,
                n_boundary: 12,
                n_test: 5,
                sampling,
                ..PdeConfig::default()
            };
            let d = PinnData::sample(&p, &cfg, 1).unwrap();
            let mut net = NetworkSpec::new(vec![p.dim(), 4, 1]).build(1).unwrap();
            let b = 0.37;
            {
                let mut top = net.layer_mut(1);
                top.fill(0.0);
                let c = top.ncols() - 1;
                top[(0, c)] = b;
            }
            let mut obj = SecondObjective::new(&d, 1.0, 1.0).unwrap();
            let m = obj.residual_count();
            let mut r = vec![0.0; m];
            obj.residuals_into(&net, &mut r);
            let s = p.op.second.as_ref().unwrap();
            let (ni, nb) = (d.n_interior(), d.n_boundary());
            for j in 0..ni {
                let x: Vec<f64> = (0..p.dim()).map(|i| d.x_int[(i, j)]).collect();
                let want = ((s.r)(&x) * b - (p.f)(&x)) / (ni as f64).sqrt();
                assert!(
                    (r[j] - want).abs() < 1e-12 * (1.0 + want.abs()),
                    "{}",
                    p.name
                );
            }
            for j in 0..nb {
                let x: Vec<f64> = (0..p.dim()).map(|i| d.x_bc[(i, j)]).collect();
                let piece = p
                    .pieces
                    .iter()
                    .find(|q| {
                        let f = q.face;
                        x[f.coord]
                            == if f.upper {
                                p.hi[f.coord]
                            } else {
                                p.lo[f.coord]
                            }
                    })
                    .unwrap();
                let want = ((piece.alpha)(&x) * b - (piece.value)(&x)) / (nb as f64).sqrt();
                assert!(
                    (r[ni + j] - want).abs() < 1e-12 * (1.0 + want.abs()),
                    "{} boundary {j}: {} vs {want}",
                    p.name,
                    r[ni + j]
                );
            }
        }
    }
}

/// The output-layer columns from the forward pass alone (what VarPro and
/// ELM solve with) are the last columns of the full Jacobian, for any rows.
#[test]
fn output_columns_are_the_jacobians_last_columns() {
    for p in problems() {
        let d = data(&p, 70, 9);
        for act in [Activation::Tanh, Activation::Sin] {
            let net = NetworkSpec::new(vec![p.dim(), 4, 3, 1])
                .with_activation(act)
                .build(7)
                .unwrap();
            let mut obj = SecondObjective::new(&d, 0.7, 1.3).unwrap();
            let (m, np) = (obj.residual_count(), net.num_params());
            let k = 3 + 1;
            let mut jac = Mat::zeros(m, np);
            obj.jacobian_rows_into(&net, 0..m, jac.as_mut());
            for rows in [0..m, 5..66, 60..m] {
                let mut a = Mat::zeros(rows.len(), k);
                assert!(obj.output_columns_into(&net, rows.clone(), a.as_mut()));
                let want = jac.as_ref().submatrix(rows.start, np - k, rows.len(), k);
                let worst = worst_rel(a.as_ref(), want, 1e-12);
                assert!(worst < 1e-12, "{} {act} {rows:?}: {worst:e}", p.name);
            }
        }
    }
}
