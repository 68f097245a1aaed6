//! The built-in second-order problems against their exact solutions: the
//! derivatives written out below match finite differences of the exact `u`,
//! and with them every PDE and every boundary piece holds to round-off.

use super::*;

/// `(grad u, Hess u)` written out (row-major Hessian).
type Derivs = Box<dyn Fn(&[f64]) -> (Vec<f64>, Vec<f64>)>;

fn cases() -> Vec<(Problem, Derivs)> {
    let mut v: Vec<(Problem, Derivs)> = Vec::new();
    v.push((
        Problem::poisson1d(),
        Box::new(|x| {
            let (s, c) = (2.0 * PI * x[0]).sin_cos();
            (vec![2.0 * PI * c], vec![-4.0 * PI * PI * s])
        }),
    ));
    let sq = |x: &[f64], k: f64| {
        let (sx, cx) = (k * PI * x[0]).sin_cos();
        let (sy, cy) = (k * PI * x[1]).sin_cos();
        let w = k * PI;
        (
            vec![w * cx * sy, w * sx * cy],
            vec![
                -w * w * sx * sy,
                w * w * cx * cy,
                w * w * cx * cy,
                -w * w * sx * sy,
            ],
        )
    };
    v.push((Problem::poisson2d(), Box::new(move |x| sq(x, 1.0))));
    v.push((Problem::poisson2d_lshape(), Box::new(move |x| sq(x, 1.0))));
    v.push((
        Problem::poisson2d_hole_robin(),
        Box::new(move |x| sq(x, 1.0)),
    ));
    v.push((Problem::poisson2d_lshape_corner(), Box::new(corner_derivs)));
    v.push((
        Problem::poisson2d_disk(),
        Box::new(|x| {
            let a = PI / 2.0;
            let (s, c) = (a * (x[0] * x[0] + x[1] * x[1])).sin_cos();
            let h = |i: usize, j: usize| {
                -4.0 * a * a * x[i] * x[j] * c - if i == j { 2.0 * a * s } else { 0.0 }
            };
            (
                vec![-2.0 * a * x[0] * s, -2.0 * a * x[1] * s],
                vec![h(0, 0), h(0, 1), h(1, 0), h(1, 1)],
            )
        }),
    ));
    for k in [1.0, 2.0, 3.0, 4.0] {
        v.push((Problem::helmholtz2d(k), Box::new(move |x| sq(x, k))));
    }
    v.push((
        Problem::poisson2d_mixed(),
        Box::new(move |x| {
            let (mut g, h) = sq(x, 1.0);
            g[0] += 1.0;
            (g, h)
        }),
    ));
    let k = Problem::HEAT_KAPPA;
    v.push((
        Problem::heat1d(),
        Box::new(move |x| {
            let (s, c) = (PI * x[0]).sin_cos();
            let e = (-k * PI * PI * x[1]).exp();
            let p2 = PI * PI;
            (
                vec![PI * c * e, -k * p2 * s * e],
                vec![
                    -p2 * s * e,
                    -k * p2 * PI * c * e,
                    -k * p2 * PI * c * e,
                    k * k * p2 * p2 * s * e,
                ],
            )
        }),
    ));
    for eps in [1e-2, 0.1] {
        v.push((
            Problem::convdiff1d(eps),
            Box::new(move |x| {
                let big = ((x[0] - 1.0) / eps).exp();
                let dn = 1.0 - (-1.0 / eps).exp();
                (vec![1.0 - big / (eps * dn)], vec![-big / (eps * eps * dn)])
            }),
        ));
    }
    v
}

/// `u = Im(w^(2/3))`, `w = -i (z - c)` on the branch `arg w in [0, 2 pi)`
/// (the corner problem's `theta`): `f(z) = w^(2/3)` is analytic off the
/// branch cut (inside the hole), so `grad u = (Im f', Re f')` and
/// `Hess u = [[Im f'', Re f''], [Re f'', -Im f'']]`.
fn corner_derivs(x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (r, t) = crate::task::pde::domain_builtins::corner_polar(x);
    let a = 2.0 / 3.0;
    // w^p = r^p (cos p t, sin p t); f' = -i a w^(a-1), f'' = -a (a-1) w^(a-2).
    let pow = |p: f64| (r.powf(p) * (p * t).cos(), r.powf(p) * (p * t).sin());
    let (c1, s1) = pow(a - 1.0);
    let (f1re, f1im) = (a * s1, -a * c1);
    let (c2, s2) = pow(a - 2.0);
    let (f2re, f2im) = (-a * (a - 1.0) * c2, -a * (a - 1.0) * s2);
    (vec![f1im, f1re], vec![f2im, f2re, f2re, -f2im])
}

/// Points of the problem's bounding box, in its domain, and (for the
/// singular corner problem) at least 0.1 from the corner.
fn points(p: &Problem, n: usize) -> Vec<Vec<f64>> {
    (0..)
        .map(|k| {
            (0..p.dim())
                .map(|i| {
                    let r = ((k * 7 + i * 3) as f64 * 0.618_034).fract();
                    p.lo[i] + (0.02 + 0.96 * r) * (p.hi[i] - p.lo[i])
                })
                .collect::<Vec<f64>>()
        })
        .filter(|x| p.domain.as_ref().is_none_or(|d| d.contains(x)))
        .filter(|x| p.name != "poisson2d_lshape_corner" || corner_distance(x) > 0.1)
        .take(n)
        .collect()
}

fn corner_distance(x: &[f64]) -> f64 {
    (x[0] - 0.5).hypot(x[1] - 0.5)
}

#[test]
fn written_derivatives_match_finite_differences_of_the_exact_solutions() {
    for (p, du) in cases() {
        let u = p.exact.clone().unwrap();
        let d = p.dim();
        for x in points(&p, 40) {
            let (g, h) = du(&x);
            let at = |dx: &[(usize, f64)]| {
                let mut y = x.clone();
                for &(i, s) in dx {
                    y[i] += s;
                }
                u(&y)
            };
            let e = 1e-6;
            for i in 0..d {
                let fd = (at(&[(i, e)]) - at(&[(i, -e)])) / (2.0 * e);
                assert!(
                    (fd - g[i]).abs() < 1e-6 * (1.0 + g[i].abs()),
                    "{}: u_{i}",
                    p.name
                );
            }
            let e = if d == 1 { 1e-5 } else { 1e-4 };
            for i in 0..d {
                for j in 0..d {
                    let fd = if i == j {
                        (at(&[(i, e)]) - 2.0 * u(&x) + at(&[(i, -e)])) / (e * e)
                    } else {
                        (at(&[(i, e), (j, e)]) - at(&[(i, e), (j, -e)]) - at(&[(i, -e), (j, e)])
                            + at(&[(i, -e), (j, -e)]))
                            / (4.0 * e * e)
                    };
                    let an = h[i * d + j];
                    assert!(
                        (fd - an).abs() < 1e-4 * (1.0 + an.abs()),
                        "{}: u_{i}{j} fd {fd} vs {an} at {x:?}",
                        p.name
                    );
                }
            }
        }
    }
}

#[test]
fn exact_solutions_satisfy_their_pdes_and_boundary_pieces_to_round_off() {
    for (p, du) in cases() {
        p.validate().unwrap();
        let s = p.op.second.clone().unwrap();
        let u = p.exact.clone().unwrap();
        let d = p.dim();
        let (mut a, mut c) = (vec![0.0; d * d], vec![0.0; d]);
        for x in points(&p, 60) {
            let (g, h) = du(&x);
            (s.a)(&x, &mut a);
            p.op.c_at(&x, &mut c);
            let terms: Vec<f64> = (0..d * d)
                .map(|k| a[k] * h[k])
                .chain((0..d).map(|i| c[i] * g[i]))
                .chain([(s.r)(&x) * u(&x), -(p.f)(&x)])
                .collect();
            let scale: f64 = terms.iter().map(|t| t.abs()).sum::<f64>().max(1.0);
            let res: f64 = terms.iter().sum();
            assert!(
                res.abs() < 1e-13 * scale,
                "{}: residual {res} at {x:?}",
                p.name
            );
        }
        if let Some(dom) = &p.domain {
            let mut seen = 0;
            for piece in &p.pieces {
                for &side in &piece.sides {
                    for k in 0..40 {
                        let x = dom.point_on(side, &[(k as f64 + 0.3) / 40.0]);
                        if !dom.on_boundary(side, &x) {
                            continue;
                        }
                        seen += 1;
                        let (g, _) = du(&x);
                        let n = dom.normal(side, &x);
                        let dn = g[0] * n[0] + g[1] * n[1];
                        let lhs = (piece.alpha)(&x) * u(&x) + (piece.beta)(&x) * dn;
                        let v = (piece.value)(&x);
                        assert!(
                            (lhs - v).abs() < 1e-13 * (1.0 + v.abs() + lhs.abs()),
                            "{} on {}: {lhs} vs {v} at {x:?}",
                            p.name,
                            dom.side_name(side, &p.vars)
                        );
                    }
                }
            }
            assert!(seen >= 40, "{}: {seen} boundary points", p.name);
            continue;
        }
        for piece in &p.pieces {
            let f = piece.face;
            for mut x in points(&p, 20) {
                x[f.coord] = if f.upper {
                    p.hi[f.coord]
                } else {
                    p.lo[f.coord]
                };
                let (g, _) = du(&x);
                let (al, be) = ((piece.alpha)(&x), (piece.beta)(&x));
                let lhs = al * u(&x) + be * f.sign() * g[f.coord];
                let v = (piece.value)(&x);
                assert!(
                    (lhs - v).abs() < 1e-13 * (1.0 + v.abs() + lhs.abs()),
                    "{} on {}: {lhs} vs {v}",
                    p.name,
                    f.name(&p.vars)
                );
            }
        }
    }
}

#[test]
fn operators_read_only_the_derivatives_they_need() {
    let (dirs, pairs) = Problem::poisson1d().op.second_channels();
    assert_eq!((dirs, pairs), (vec![0], vec![(0, 0)]));
    let (dirs, pairs) = Problem::heat1d().op.second_channels();
    assert_eq!((dirs, pairs), (vec![0, 1], vec![(0, 0)]));
    let (dirs, pairs) = Problem::poisson2d().op.second_channels();
    assert_eq!((dirs, pairs), (vec![0, 1], vec![(0, 0), (1, 1)]));
    assert_eq!(Problem::helmholtz2d(2.0).op.orders(), [true, false, true]);
    assert_eq!(Problem::convdiff1d(0.01).op.orders(), [false, true, true]);
}

#[test]
fn missing_and_superfluous_boundary_data_are_refused() {
    let mut p = Problem::poisson2d();
    p.pieces.pop();
    let e = p.validate().unwrap_err().to_string();
    assert!(
        e.contains("face y_hi has no boundary data") && e.contains("second order in `y`"),
        "{e}"
    );
    let mut p = Problem::heat1d();
    p.pieces.pop();
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("face t_lo") && e.contains("inflow"), "{e}");
    let mut p = Problem::heat1d();
    p.pieces.push(BoundaryPiece::dirichlet(hi(1), zero()));
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("face t_hi needs no data"), "{e}");
    let mut p = Problem::poisson1d();
    p.pieces.push(BoundaryPiece::neumann(hi(0), zero()));
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("two boundary pieces on face x_hi"), "{e}");
    let mut p = Problem::poisson2d();
    p.periodic[0] = true;
    assert!(p.validate().unwrap_err().to_string().contains("periodic"));
}

#[test]
fn the_corner_solution_is_harmonic_zero_on_the_corner_edges_and_finite_at_the_corner() {
    use rand::{RngExt, SeedableRng};
    let p = Problem::poisson2d_lshape_corner();
    let u = p.exact.clone().unwrap();
    let dom = p.domain.clone().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let (mut seen, e) = (0, 1e-3);
    while seen < 200 {
        let x = [rng.random_range(0.0..1.0), rng.random_range(0.0..1.0)];
        // The five-point stencil inside the L (off the branch cut in the
        // hole) and away from the corner.
        let stencil = [(e, 0.0), (-e, 0.0), (0.0, e), (0.0, -e), (0.0, 0.0)];
        if stencil
            .iter()
            .any(|(a, b)| !dom.contains(&[x[0] + a, x[1] + b]))
            || corner_distance(&x) < 0.05 + 2.0 * e
        {
            continue;
        }
        let at = |dx: f64, dy: f64| u(&[x[0] + dx, x[1] + dy]);
        let lap =
            (at(e, 0.0) + at(-e, 0.0) + at(0.0, e) + at(0.0, -e) - 4.0 * at(0.0, 0.0)) / (e * e);
        // Stencil error ~ e^2 |u''''| / 6 ~ e^2 r^(2/3 - 4); 2e-3 at r = 0.05.
        assert!(lap.abs() < 1e-2, "lap u = {lap} at {x:?}");
        seen += 1;
    }
    // u = 0 on the two edges at the corner; the exact value elsewhere.
    for k in 0..=50 {
        let s = 0.5 + 0.5 * k as f64 / 50.0;
        assert!(
            u(&[0.5, s]).abs() < 1e-15 && u(&[s, 0.5]).abs() < 1e-15,
            "{s}"
        );
    }
    assert_eq!(u(&[0.5, 0.5]), 0.0);
    // theta = 3 pi / 4 on the diagonal below the corner, pi / 2 on x < 0.5.
    let d = 0.3_f64;
    let want = d.powf(2.0 / 3.0);
    assert!((u(&[0.5 - d, 0.5]) - want * (PI / 3.0).sin()).abs() < 1e-15);
    assert!((u(&[0.5, 0.5 - d]) - want * (PI * 2.0 / 3.0).sin()).abs() < 1e-15);
    let c = d / 2f64.sqrt();
    assert!((u(&[0.5 - c, 0.5 - c]) - want * (PI / 2.0).sin()).abs() < 1e-15);
    // The outer sides carry the exact values; the hole's edges zero.
    assert_eq!(p.pieces.len(), 2);
    assert_eq!((p.pieces[0].value)(&[0.5, 0.8]), 0.0);
    assert_eq!((p.pieces[1].value)(&[0.0, 0.2]), u(&[0.0, 0.2]));
}

#[test]
fn the_config_calls_second_order_exactly_the_problems_whose_operator_is() {
    use crate::task::pde::{PROBLEMS, PdeConfig};
    let mut second = 0;
    for name in PROBLEMS.iter().filter(|n| **n != "custom") {
        let cfg = PdeConfig {
            problem: (*name).into(),
            ..PdeConfig::default()
        };
        let p = cfg.problem().unwrap();
        assert_eq!(cfg.is_second_order(), p.op.is_second_order(), "{name}");
        second += usize::from(p.op.is_second_order());
    }
    assert_eq!(second, 10);
}
