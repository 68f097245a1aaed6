//! The Schur-complement step against the dense joint step, the dense joint
//! Jacobian against finite differences, and monotone descent.

use super::schur::{Linear, Shape};
use super::*;
use crate::engine::loss::consistency_constant;
use crate::task::regression::mse;
use crate::{Activation, NetworkSpec};
use faer::prelude::Solve;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Problem {
    net: Network,
    aux: AuxVars,
    x: Mat<f64>,
    y: Mat<f64>,
}

/// A network, data, and auxiliaries off the forward pass (so every hidden
/// constraint is violated).
fn problem(widths: Vec<usize>, n: usize, act: Activation, seed: u64) -> Problem {
    let net = NetworkSpec::new(widths.clone())
        .with_activation(act)
        .build(seed)
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    let (d, m) = (widths[0], *widths.last().unwrap());
    let x = Mat::from_fn(d, n, |_, _| rng.random_range(-1.5..1.5));
    let y = Mat::from_fn(m, n, |_, _| rng.random_range(-1.0..1.0));
    let mut aux = AuxVars::forward(&net, x.as_ref());
    for a in &mut aux.a {
        for j in 0..a.ncols() {
            for i in 0..a.nrows() {
                a[(i, j)] += rng.random_range(-0.5..0.5);
            }
        }
    }
    Problem { net, aux, x, y }
}

/// Variables `[theta; a]`, `a` sample-major (sample, layer, unit).
fn unknowns(sh: &Shape, n: usize) -> usize {
    sh.p() + n * sh.h()
}

fn a_index(sh: &Shape, n: usize, k: usize, i: usize) -> usize {
    sh.p() + n * sh.h() + sh.ob[k] + i
}

/// The residual vector `r_{l,n} = sqrt(omega_l / N) e_{l,n}` (sample-major) at `z`.
fn residuals(p: &Problem, omega: &[f64], z: &[f64]) -> Vec<f64> {
    let sh = Shape::new(&p.net);
    let n = p.x.ncols();
    let mut net = p.net.clone();
    net.set_params(&z[..sh.p()]);
    let mut aux = p.aux.clone();
    for j in 0..n {
        for (k, a) in aux.a.iter_mut().enumerate() {
            for i in 0..sh.o[k] {
                a[(i, j)] = z[a_index(&sh, j, k, i)];
            }
        }
    }
    let mut ws = PenaltyWorkspace::new(&net, p.x.as_ref());
    ws.refresh(&net, &aux, p.y.as_ref());
    let mut r = vec![0.0; n * sh.rows()];
    for j in 0..n {
        for l in 0..sh.depth {
            let c = (omega[l] / n as f64).sqrt();
            for i in 0..sh.o[l] {
                r[j * sh.rows() + sh.ob[l] + i] = c * ws.e[l][(i, j)];
            }
        }
    }
    r
}

fn point(p: &Problem) -> Vec<f64> {
    let sh = Shape::new(&p.net);
    let n = p.x.ncols();
    let mut z = p.net.params();
    z.resize(unknowns(&sh, n), 0.0);
    for j in 0..n {
        for (k, a) in p.aux.a.iter().enumerate() {
            for i in 0..sh.o[k] {
                z[a_index(&sh, j, k, i)] = a[(i, j)];
            }
        }
    }
    z
}

/// The joint Jacobian, formed densely from its analytic entries.
fn dense_jacobian(p: &Problem, omega: &[f64]) -> Mat<f64> {
    let sh = Shape::new(&p.net);
    let n = p.x.ncols();
    let act = p.net.activation();
    let mut jac = Mat::<f64>::zeros(n * sh.rows(), unknowns(&sh, n));
    for j in 0..n {
        for l in 0..sh.depth {
            let c = (omega[l] / n as f64).sqrt();
            // p~_l of sample j.
            let pt: Vec<f64> = (0..sh.kt[l])
                .map(|q| {
                    if q + 1 == sh.kt[l] {
                        1.0
                    } else if l == 0 {
                        p.x[(q, j)]
                    } else {
                        act.eval(p.aux.a[l - 1][(q, j)])
                    }
                })
                .collect();
            for i in 0..sh.o[l] {
                let row = j * sh.rows() + sh.ob[l] + i;
                for (q, &pq) in pt.iter().enumerate() {
                    jac[(row, sh.toff[l] + q * sh.o[l] + i)] = -c * pq;
                }
                if l + 1 < sh.depth {
                    jac[(row, a_index(&sh, j, l, i))] = c;
                }
                if l >= 1 {
                    for q in 0..sh.o[l - 1] {
                        let ds = act.deriv(p.aux.a[l - 1][(q, j)]);
                        jac[(row, a_index(&sh, j, l - 1, q))] = -c * p.net.weight(l)[(i, q)] * ds;
                    }
                }
            }
        }
    }
    jac
}

#[test]
fn joint_jacobian_matches_central_differences() {
    for act in [Activation::Tanh, Activation::Sin, Activation::Sigmoid] {
        for widths in [vec![1, 3, 3, 1], vec![2, 4, 3, 5, 2]] {
            let p = problem(widths, 5, act, 3);
            let omega = Weighting::SelfAdaptive.omega(&p.net.weight_norms_sq());
            let jac = dense_jacobian(&p, &omega);
            let z = point(&p);
            let h = 1e-6;
            let mut worst = 0.0f64;
            for k in 0..z.len() {
                let mut zp = z.clone();
                zp[k] += h;
                let rp = residuals(&p, &omega, &zp);
                zp[k] -= 2.0 * h;
                let rm = residuals(&p, &omega, &zp);
                for i in 0..rp.len() {
                    let fd = (rp[i] - rm[i]) / (2.0 * h);
                    worst = worst.max((fd - jac[(i, k)]).abs() / (1.0 + jac[(i, k)].abs()));
                }
            }
            assert!(worst < 1e-7, "{act}: worst relative error {worst}");
        }
    }
}

/// `(J^T J + lambda I) delta = -J^T r` solved densely.
fn dense_step(p: &Problem, omega: &[f64], lambda: f64, scaled: bool) -> Vec<f64> {
    let jac = dense_jacobian(p, omega);
    let r = residuals(p, omega, &point(p));
    let mut a = jac.transpose() * &jac;
    for i in 0..a.nrows() {
        a[(i, i)] += if scaled { lambda * a[(i, i)] } else { lambda };
    }
    let rv = Mat::from_fn(r.len(), 1, |i, _| r[i]);
    let g = jac.transpose() * &rv;
    let x = a.partial_piv_lu().solve(&g);
    (0..x.nrows()).map(|i| -x[(i, 0)]).collect()
}

#[test]
fn schur_step_equals_the_dense_joint_step() {
    for (widths, act) in [
        (vec![1, 3, 3, 1], Activation::Tanh),
        (vec![2, 4, 3, 5, 2], Activation::Sin),
        (vec![1, 3, 1], Activation::Tanh),
    ] {
        let p = problem(widths, 5, act, 11);
        let omega = Weighting::SelfAdaptive.omega(&p.net.weight_norms_sq());
        let mut ws = PenaltyWorkspace::new(&p.net, p.x.as_ref());
        ws.refresh(&p.net, &p.aux, p.y.as_ref());
        for scaled in [false, true] {
            let lin = Linear::new(&p.net, &p.aux, &ws, &omega, scaled);
            let r = residuals(&p, &omega, &point(&p));
            let f: f64 = r.iter().map(|v| v * v).sum();
            assert!((lin.f - f).abs() <= 1e-13 * f, "{} vs {f}", lin.f);
            // Marquardt damping is relative to each variable's own curvature,
            // so the same rel damps far less: a smaller rel would test the
            // dense solve's round-off, not the elimination.
            let rels = if scaled {
                [1e-4, 1e-2, 1.0]
            } else {
                [1e-6, 1e-2, 1.0]
            };
            for rel in rels {
                let lambda = if scaled { rel } else { rel * lin.diag_max };
                let st = lin.step(lambda).unwrap();
                assert!(!st.fallback);
                let want = dense_step(&p, &omega, lambda, scaled);
                let sh = Shape::new(&p.net);
                let mut got = st.theta.clone();
                got.resize(want.len(), 0.0);
                for j in 0..p.x.ncols() {
                    for (k, a) in st.aux.iter().enumerate() {
                        for i in 0..sh.o[k] {
                            got[a_index(&sh, j, k, i)] = a[(i, j)];
                        }
                    }
                }
                let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let err = got
                    .iter()
                    .zip(&want)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    err <= 1e-10 * scale,
                    "lambda {rel}: error {err}, scale {scale}"
                );
                // The model's pieces: gradient and |J delta|^2.
                let jac = dense_jacobian(&p, &omega);
                let dv = Mat::from_fn(want.len(), 1, |i, _| got[i]);
                let jd = &jac * &dv;
                let rv = Mat::from_fn(r.len(), 1, |i, _| r[i]);
                let g = jac.transpose() * &rv;
                let gd: f64 = (0..want.len()).map(|i| g[(i, 0)] * got[i]).sum();
                assert!((lin.dot_grad(&st) - gd).abs() <= 1e-10 * gd.abs().max(1e-300));
                let jn = jd.squared_norm_l2();
                assert!((lin.j_norm_sq(&st) - jn).abs() <= 1e-10 * jn);
            }
        }
    }
}

/// Every accepted step lowers `J_SAPM` at the iteration's omega, and
/// `J_LS <= L J_SAPM` (tanh) holds along the way.
#[test]
fn accepted_steps_lower_j_sapm_at_fixed_omega() {
    let n = 40;
    let net = NetworkSpec::new(vec![1, 8, 8, 1]).build(5).unwrap();
    let x = Mat::from_fn(1, n, |_, j| -2.0 + 4.0 * j as f64 / (n - 1) as f64);
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * x[(0, j)]).sin());
    for scaling in [Scaling::Marquardt, Scaling::Identity] {
        let mut net = net.clone();
        let gn = SapmGnConfig {
            scaling,
            ..SapmGnConfig::default()
        };
        let mut t = SapmGn::new(x.as_ref(), y.as_ref(), LmConfig::default(), gn);
        t.start(&net).unwrap();
        let first = t.aux_loss().unwrap();
        let c = consistency_constant(net.depth(), 1.0);
        let mut accepted = 0;
        for _ in 0..60 {
            let out = t.step(&mut net).unwrap();
            if out.converged {
                break;
            }
            accepted += 1;
            assert!(t.fixed[1] < t.fixed[0], "{:?}", t.fixed);
            let ls = mse(&net, x.as_ref(), y.as_ref());
            assert!(
                ls <= c * out.objective * (1.0 + 1e-10),
                "{ls} > {c} * {}",
                out.objective
            );
            // The reported objective is J_SAPM at the new point and its own omega.
            let j = crate::engine::loss::objective(
                &net,
                t.aux().unwrap(),
                x.as_ref(),
                y.as_ref(),
                Weighting::SelfAdaptive,
            );
            assert!((j - out.objective).abs() <= 1e-12 * j);
        }
        assert!(accepted >= 30, "only {accepted} steps");
        let last = t.aux_loss().unwrap();
        assert!(last < 1e-2 * first, "{scaling:?}: J_SAPM {first} -> {last}");
    }
}

#[test]
fn omega_factor_rises_geometrically_to_one() {
    let gn = SapmGnConfig {
        omega_start: 1e-4,
        omega_ramp: 4,
        ..SapmGnConfig::default()
    };
    let mu: Vec<f64> = (0..6).map(|k| gn.omega_factor(k)).collect();
    let want = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1.0];
    for (m, w) in mu.iter().zip(want) {
        assert!((m / w - 1.0).abs() < 1e-12, "{mu:?}");
    }
    assert_eq!(SapmGnConfig::default().omega_factor(0), 1.0);
    for bad in [0.0, -1.0, 1.5, f64::NAN] {
        let gn = SapmGnConfig {
            omega_start: bad,
            ..SapmGnConfig::default()
        };
        let e = gn.validate().unwrap_err().to_string();
        assert!(e.contains("sapm_gn.omega_start"), "{e}");
    }
}

/// With continuation, joint step `k` is taken at the hidden omegas scaled
/// by `mu_k` (the fixed-omega objective before the step), and the reported
/// objective is the true `J_SAPM` at the new weights.
#[test]
fn continuation_scales_the_hidden_omegas_of_the_step() {
    let n = 30;
    let x = Mat::from_fn(1, n, |_, j| -2.0 + 4.0 * j as f64 / (n - 1) as f64);
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * x[(0, j)]).sin());
    let gn = SapmGnConfig {
        omega_start: 1e-3,
        omega_ramp: 5,
        ..SapmGnConfig::default()
    };
    let mut net = NetworkSpec::new(vec![1, 6, 6, 1]).build(3).unwrap();
    let mut t = SapmGn::new(x.as_ref(), y.as_ref(), LmConfig::default(), gn);
    t.start(&net).unwrap();
    let out = t.step(&mut net).unwrap();
    // After one step the auxiliaries are off the forward pass.
    let mut ws = PenaltyWorkspace::new(&net, x.as_ref());
    ws.refresh(&net, t.aux().unwrap(), y.as_ref());
    let mut omega = Weighting::SelfAdaptive.omega(&net.weight_norms_sq());
    let full = ws.objective(&omega);
    assert!(
        (out.objective / full - 1.0).abs() < 1e-12,
        "{} vs {full}",
        out.objective
    );
    let h = omega.len() - 1;
    let mu = gn.omega_factor(1);
    omega[..h].iter_mut().for_each(|o| *o *= mu);
    let scaled = ws.objective(&omega);
    assert!(scaled < 0.99 * full, "{scaled} vs {full}");
    t.step(&mut net).unwrap();
    assert!(
        (t.fixed[0] / scaled - 1.0).abs() < 1e-12,
        "{:?} vs {scaled}",
        t.fixed
    );
    assert!(t.fixed[1] < t.fixed[0]);
}

/// The progress bar shows the damping and the last step's norm.
#[test]
fn progress_shows_lambda_and_step() {
    let n = 20;
    let x = Mat::from_fn(1, n, |_, j| -2.0 + 4.0 * j as f64 / (n - 1) as f64);
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * x[(0, j)]).sin());
    let mut net = NetworkSpec::new(vec![1, 5, 1]).build(1).unwrap();
    let mut t = SapmGn::new(
        x.as_ref(),
        y.as_ref(),
        LmConfig::default(),
        SapmGnConfig::default(),
    );
    t.start(&net).unwrap();
    t.step(&mut net).unwrap();
    let p = t.progress();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0], ("lambda", t.lambda()));
    assert_eq!(p[1].0, "step");
    assert!(p[1].1 > 0.0 && p[1].1 == t.c.step_norm);
}
