//! Domains and collocation designs against independent descriptions: each
//! domain's signed distance written by hand (negative inside), so sides,
//! normals and membership are checked by formulas the code does not use.

use super::*;
use crate::task::pde::designs::{latin_hypercube, sobol_point};
use crate::task::pde::{PdeConfig, PinnData, Sampling};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

type Sdf = Box<dyn Fn(&[f64]) -> f64>;

fn sd_box(lo: Vec<f64>, hi: Vec<f64>) -> impl Fn(&[f64]) -> f64 {
    move |x| {
        (0..x.len())
            .map(|i| (lo[i] - x[i]).max(x[i] - hi[i]))
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

fn sd_ball(c: Vec<f64>, r: f64) -> impl Fn(&[f64]) -> f64 {
    move |x| {
        x.iter()
            .zip(&c)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
            - r
    }
}

fn bx(name: &str, lo: &[f64], hi: &[f64]) -> Part {
    Part {
        name: name.into(),
        shape: Shape::Box {
            lo: lo.to_vec(),
            hi: hi.to_vec(),
        },
    }
}

fn ball(name: &str, c: &[f64], r: f64) -> Part {
    Part {
        name: name.into(),
        shape: Shape::Ball {
            center: c.to_vec(),
            radius: r,
        },
    }
}

/// Every domain type with its signed distance.
fn cases() -> Vec<(&'static str, Domain, Sdf)> {
    let dom = |parts, difference| Domain { parts, difference };
    vec![
        (
            "box",
            Domain::boxed(&[0.0, -1.0], &[2.0, 1.0]),
            Box::new(sd_box(vec![0.0, -1.0], vec![2.0, 1.0])),
        ),
        (
            "disk",
            dom(vec![ball("outer", &[0.3, -0.2], 0.7)], false),
            Box::new(sd_ball(vec![0.3, -0.2], 0.7)),
        ),
        (
            "ball 3-D",
            dom(vec![ball("outer", &[0.0, 0.0, 1.0], 2.0)], false),
            Box::new(sd_ball(vec![0.0, 0.0, 1.0], 2.0)),
        ),
        (
            "L-shape",
            dom(
                vec![
                    bx("outer", &[0.0, 0.0], &[1.0, 1.0]),
                    bx("hole", &[0.5, 0.5], &[1.0, 1.0]),
                ],
                true,
            ),
            {
                let (a, b) = (
                    sd_box(vec![0.0; 2], vec![1.0; 2]),
                    sd_box(vec![0.5; 2], vec![1.0; 2]),
                );
                Box::new(move |x| a(x).max(-b(x)))
            },
        ),
        (
            "plate with a hole",
            dom(
                vec![
                    bx("outer", &[0.0, 0.0], &[1.0, 1.0]),
                    ball("hole", &[0.5, 0.5], 0.2),
                ],
                true,
            ),
            {
                let (a, b) = (
                    sd_box(vec![0.0; 2], vec![1.0; 2]),
                    sd_ball(vec![0.5; 2], 0.2),
                );
                Box::new(move |x| a(x).max(-b(x)))
            },
        ),
        (
            "union of a box and a disk",
            dom(
                vec![
                    bx("part1", &[0.0, 0.0], &[1.0, 0.5]),
                    ball("part2", &[1.0, 0.5], 0.4),
                ],
                false,
            ),
            {
                let (a, b) = (
                    sd_box(vec![0.0; 2], vec![1.0, 0.5]),
                    sd_ball(vec![1.0, 0.5], 0.4),
                );
                Box::new(move |x| a(x).min(b(x)))
            },
        ),
        (
            "cube minus a ball",
            dom(
                vec![
                    bx("outer", &[0.0; 3], &[1.0; 3]),
                    ball("hole", &[1.0, 0.5, 0.5], 0.3),
                ],
                true,
            ),
            {
                let (a, b) = (
                    sd_box(vec![0.0; 3], vec![1.0; 3]),
                    sd_ball(vec![1.0, 0.5, 0.5], 0.3),
                );
                Box::new(move |x| a(x).max(-b(x)))
            },
        ),
    ]
}

/// Points of every side on the boundary, from a parameter grid.
fn boundary_of(dom: &Domain) -> Vec<(Side, Vec<f64>)> {
    let k = dom.dim() - 1;
    let per = if k == 1 { 200 } else { 24 };
    let grid =
        crate::task::pde::grid::tensor_grid(&vec![per; k], |_, j, m| (j as f64 + 0.37) / m as f64);
    let mut v = Vec::new();
    for s in dom.sides() {
        for u in &grid {
            let x = dom.point_on(s, u);
            if dom.on_boundary(s, &x) {
                v.push((s, x));
            }
        }
    }
    v
}

#[test]
fn normals_are_unit_and_outward_on_every_domain_type() {
    for (what, dom, sd) in cases() {
        let pts = boundary_of(&dom);
        assert!(pts.len() > 100, "{what}: {} boundary points", pts.len());
        for (s, x) in &pts {
            assert!(sd(x).abs() < 1e-14, "{what}: {x:?} is {} off", sd(x));
            let n = dom.normal(*s, x);
            let len = n.iter().map(|a| a * a).sum::<f64>().sqrt();
            assert!((len - 1.0).abs() < 1e-14, "{what}: |n| = {len}");
            // Corners and edges blur within h; stay clear of them.
            let h = 1e-4;
            let step = |t: f64| -> Vec<f64> { x.iter().zip(&n).map(|(a, b)| a + t * b).collect() };
            let near_edge = sd(&step(2.0 * h)) < 0.5 * h || sd(&step(-2.0 * h)) > -0.5 * h;
            if near_edge {
                continue;
            }
            assert!(sd(&step(h)) > 0.0, "{what}: +n at {x:?} stays inside");
            assert!(sd(&step(-h)) < 0.0, "{what}: -n at {x:?} stays outside");
        }
    }
}

#[test]
fn membership_and_fractions_match_the_signed_distances() {
    for (what, dom, sd) in cases() {
        let (lo, hi) = dom.bounds();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut inside = 0;
        let n = 4000;
        for u in latin_hypercube(n, dom.dim(), &mut rng) {
            let x: Vec<f64> = (0..u.len())
                .map(|i| lo[i] + u[i] * (hi[i] - lo[i]))
                .collect();
            if sd(&x).abs() > 1e-12 {
                assert_eq!(dom.contains(&x), sd(&x) < 0.0, "{what}: {x:?}");
            }
            inside += usize::from(dom.contains(&x));
        }
        let frac = inside as f64 / n as f64;
        assert!(
            (frac - dom.volume_fraction()).abs() < 0.03,
            "{what}: {frac}"
        );
    }
    // The L-shape's hole: the faces inside the outer square are boundary,
    // those on its sides are not.
    let (_, l, _) = cases().swap_remove(3);
    let frac =
        |name: &str| l.boundary_fraction(l.select(name, &["x".into(), "y".into()]).unwrap()[0]);
    assert_eq!(frac("hole.x_lo"), 1.0);
    assert_eq!(frac("hole.x_hi"), 0.0);
    assert!((frac("outer.x_hi") - 0.5).abs() < 0.01);
}

fn sampled(problem: &str, sampling: Sampling, seed: u64) -> PinnData {
    let cfg = PdeConfig {
        problem: problem.into(),
        sampling,
        n_interior: 256,
        n_boundary: 64,
        n_test: 21,
        ..PdeConfig::default()
    };
    PinnData::sample(&cfg.problem().unwrap(), &cfg, seed).unwrap()
}

const SAMPLINGS: [Sampling; 4] = [
    Sampling::Random,
    Sampling::Grid,
    Sampling::Lhs,
    Sampling::Sobol,
];

#[test]
fn sampled_points_are_inside_and_on_the_boundary_with_the_domain_normals() {
    let sds: Vec<(&str, Sdf)> = vec![
        ("poisson2d_lshape", cases().swap_remove(3).2),
        ("poisson2d_lshape_corner", cases().swap_remove(3).2),
        ("poisson2d_disk", Box::new(sd_ball(vec![0.0, 0.0], 1.0))),
        ("poisson2d_hole_robin", cases().swap_remove(4).2),
    ];
    for (name, sd) in &sds {
        for s in SAMPLINGS {
            let data = sampled(name, s, 0);
            let col = |m: &faer::Mat<f64>, j: usize| (0..2).map(|i| m[(i, j)]).collect::<Vec<_>>();
            assert!(data.n_interior() >= 256, "{name} {s:?}");
            if s != Sampling::Grid {
                assert_eq!(data.n_interior(), 256, "{name} {s:?}");
                assert_eq!(data.n_boundary(), 64, "{name} {s:?}");
            } else {
                let nb = data.n_boundary();
                assert!((50..=90).contains(&nb), "{name} grid: {nb} boundary points");
            }
            for j in 0..data.n_interior() {
                assert!(sd(&col(&data.x_int, j)) <= 0.0, "{name} {s:?}");
            }
            for j in 0..data.x_test.ncols() {
                assert!(sd(&col(&data.x_test, j)) <= 1e-15, "{name} test grid");
            }
            let rows = &data.second.as_ref().unwrap().boundary;
            for j in 0..data.n_boundary() {
                let x = col(&data.x_bc, j);
                assert!(sd(&x).abs() < 1e-14, "{name} {s:?}: {x:?}");
            }
            // The Robin problem's rows read n . grad u with the outward
            // normal: into the hole on its circle, +-e_i on the square.
            if *name != "poisson2d_hole_robin" {
                assert!(
                    rows.dirs.is_empty(),
                    "{name}: Dirichlet rows read no derivative"
                );
                continue;
            }
            let mut on_hole = 0;
            for j in 0..data.n_boundary() {
                let x = col(&data.x_bc, j);
                let n = col(&rows.dirs[0], j);
                let (dx, dy) = (x[0] - 0.5, x[1] - 0.5);
                let r = (dx * dx + dy * dy).sqrt();
                let want = if (r - 0.2).abs() < 1e-12 {
                    on_hole += 1;
                    vec![-dx / r, -dy / r]
                } else if x[0] == 0.0 || x[0] == 1.0 {
                    vec![2.0 * x[0] - 1.0, 0.0]
                } else {
                    vec![0.0, 2.0 * x[1] - 1.0]
                };
                assert!(
                    (n[0] - want[0]).abs() < 1e-14 && (n[1] - want[1]).abs() < 1e-14,
                    "{x:?}: {n:?} vs {want:?}"
                );
                // beta = 1 on the hole, 0 on the Dirichlet square.
                let beta = rows.cd[0][(0, j)];
                assert_eq!(beta, if (r - 0.2).abs() < 1e-12 { 1.0 } else { 0.0 });
            }
            assert!(on_hole > 5, "{s:?}: {on_hole} points on the hole");
        }
    }
}

#[test]
fn designs_are_seeded_and_differ_across_seeds() {
    for name in ["poisson2d", "poisson2d_hole_robin"] {
        for s in [Sampling::Random, Sampling::Lhs, Sampling::Sobol] {
            let (a, b, c) = (
                sampled(name, s, 7),
                sampled(name, s, 7),
                sampled(name, s, 8),
            );
            assert_eq!((&a.x_int, &a.x_bc), (&b.x_int, &b.x_bc), "{name} {s:?}");
            assert_ne!(a.x_int, c.x_int, "{name} {s:?}");
            assert_ne!(a.x_bc, c.x_bc, "{name} {s:?}");
        }
        let (a, b) = (
            sampled(name, Sampling::Grid, 7),
            sampled(name, Sampling::Grid, 8),
        );
        assert_eq!(a.x_int, b.x_int, "{name}: a grid has no seed");
    }
}

/// Each of `n` strata of every coordinate of `pts` (in `[0, 1)`) holds one point.
fn one_per_stratum(pts: &[Vec<f64>], n: usize) -> bool {
    (0..pts[0].len()).all(|i| {
        let mut seen = vec![0usize; n];
        for p in pts {
            let s =
                (0..n).find(|&s| s as f64 / n as f64 <= p[i] && p[i] < (s + 1) as f64 / n as f64);
            match s {
                Some(s) => seen[s] += 1,
                None => return false,
            }
        }
        seen.iter().all(|&c| c == 1)
    })
}

#[test]
fn latin_hypercube_and_sobol_points_are_stratified() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for n in [1, 7, 100, 1000] {
        assert!(
            one_per_stratum(&latin_hypercube(n, 3, &mut rng), n),
            "lhs {n}"
        );
    }
    // Uniform random points are not (the test can fail).
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let random: Vec<Vec<f64>> = (0..100)
        .map(|_| {
            (0..2)
                .map(|_| rand::RngExt::random_range(&mut rng, 0.0..1.0))
                .collect()
        })
        .collect();
    assert!(!one_per_stratum(&random, 100));
    // Sobol: the first 2^m points hold one point per stratum of 2^-m in every
    // coordinate, and one per 2^-4 x 2^-4 square (a (0, 8, 2)-net).
    for seed in [0u32, 5] {
        let pts: Vec<Vec<f64>> = (0..256).map(|i| sobol_point(i, 2, seed)).collect();
        assert!(one_per_stratum(&pts, 256));
        let mut cells = [0usize; 256];
        for p in &pts {
            cells[(p[0] * 16.0) as usize * 16 + (p[1] * 16.0) as usize] += 1;
        }
        assert!(cells.iter().all(|&c| c == 1));
    }
    // Through the pipeline on the square: the interior points of poisson2d
    // with n = 256 are stratified in x and y.
    for s in [Sampling::Lhs, Sampling::Sobol] {
        let d = sampled("poisson2d", s, 3);
        let pts: Vec<Vec<f64>> = (0..256)
            .map(|j| vec![d.x_int[(0, j)], d.x_int[(1, j)]])
            .collect();
        assert!(one_per_stratum(&pts, 256), "{s:?}");
    }
    let d = sampled("poisson2d", Sampling::Random, 3);
    let pts: Vec<Vec<f64>> = (0..256)
        .map(|j| vec![d.x_int[(0, j)], d.x_int[(1, j)]])
        .collect();
    assert!(!one_per_stratum(&pts, 256));
}
