//! The built-in second-order problems on non-box domains, each with its
//! exact solution: Poisson 2-D on an L-shape (smooth, and Laplace with the
//! re-entrant corner singularity) and on the unit disk, and a plate with a
//! hole with a Robin condition on the hole.

use super::boundary::BoundaryPiece;
use super::domain::{Domain, Part, Shape};
use super::operator::{Operator, ScalarFn, SecondOrder};
use super::problem::PdeScale;
use super::problem::Problem;
use std::f64::consts::PI;
use std::sync::Arc;

/// `-(u_xx + u_yy)`.
fn minus_laplacian() -> Operator {
    let second = SecondOrder {
        a: Arc::new(|_, out| out.copy_from_slice(&[-1.0, 0.0, 0.0, -1.0])),
        r: Arc::new(|_| 0.0),
        a_pairs: vec![(0, 0), (1, 1)],
        c_dirs: Vec::new(),
        has_r: false,
    };
    Operator::second_order(Arc::new(|_, out| out.fill(0.0)), second)
}

fn part(name: &str, shape: Shape) -> Part {
    Part {
        name: name.into(),
        shape,
    }
}

fn square(lo: f64, hi: f64) -> Shape {
    Shape::Box {
        lo: vec![lo; 2],
        hi: vec![hi; 2],
    }
}

/// A Poisson problem `-lap u = f` on `domain` with `pieces` (given as
/// `(on, piece)`, `on` a selector of the domain).
fn on_domain(
    name: &str,
    domain: Domain,
    f: ScalarFn,
    pieces: Vec<(&str, BoundaryPiece)>,
    exact: ScalarFn,
) -> Problem {
    let vars: Vec<String> = vec!["x".into(), "y".into()];
    let pieces = pieces
        .into_iter()
        .map(|(on, q)| {
            let sides = domain
                .select(on, &vars)
                .expect("a built-in names its sides");
            q.on_sides(sides)
        })
        .collect();
    let (lo, hi) = domain.bounds();
    Problem {
        name: name.into(),
        vars,
        lo,
        hi,
        periodic: vec![false; 2],
        op: minus_laplacian(),
        f,
        g: Arc::new(|_| 0.0),
        pieces,
        domain: Some(domain),
        exact: Some(exact),
        scale: PdeScale::None,
    }
}

/// A Dirichlet piece (its face is unused on a domain).
fn dirichlet(g: ScalarFn) -> BoundaryPiece {
    BoundaryPiece::dirichlet(unused_face(), g)
}

fn unused_face() -> super::boundary::Face {
    super::boundary::Face {
        coord: 0,
        upper: false,
    }
}

fn sin_sin(x: &[f64]) -> f64 {
    (PI * x[0]).sin() * (PI * x[1]).sin()
}

/// The L-shape `[0, 1]^2` minus `[0.5, 1]^2` (parts `outer`, `hole`).
fn lshape() -> Domain {
    Domain {
        parts: vec![
            part("outer", square(0.0, 1.0)),
            part("hole", square(0.5, 1.0)),
        ],
        difference: true,
    }
}

/// `(r, theta)` about the L-shape's re-entrant corner `(0.5, 0.5)`, `theta`
/// in `[0, 2 pi)` from the edge `x = 0.5, y > 0.5` (`theta = 0`) through the
/// L to the edge `y = 0.5, x > 0.5` (`theta = 3 pi / 2`).
pub(crate) fn corner_polar(x: &[f64]) -> (f64, f64) {
    let (dx, dy) = (x[0] - 0.5, x[1] - 0.5);
    let theta = (dy.atan2(dx) - PI / 2.0).rem_euclid(2.0 * PI);
    ((dx * dx + dy * dy).sqrt(), theta)
}

/// `r^(2/3) sin(2 theta / 3)` about the re-entrant corner: harmonic, zero on
/// the two edges at the corner, its gradient singular there (the value is
/// 0 at `r = 0`, never NaN).
fn corner_u(x: &[f64]) -> f64 {
    let (r, theta) = corner_polar(x);
    r.powf(2.0 / 3.0) * (2.0 * theta / 3.0).sin()
}

impl Problem {
    /// Centre of the hole of [`Problem::poisson2d_hole_robin`].
    pub const HOLE_CENTER: [f64; 2] = [0.5, 0.5];
    /// Radius of the hole of [`Problem::poisson2d_hole_robin`].
    pub const HOLE_RADIUS: f64 = 0.2;

    /// `-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)` on the L-shape
    /// `[0, 1]^2` minus `[0.5, 1]^2` (parts `outer`, `hole`), `u` = the exact
    /// solution on the whole boundary (zero on the outer sides,
    /// `sin(pi y)` on `x = 0.5`, `sin(pi x)` on `y = 0.5`); exact
    /// `u = sin(pi x) sin(pi y)`.
    pub fn poisson2d_lshape() -> Problem {
        on_domain(
            "poisson2d_lshape",
            lshape(),
            Arc::new(|x| 2.0 * PI * PI * sin_sin(x)),
            vec![("all", dirichlet(Arc::new(sin_sin)))],
            Arc::new(sin_sin),
        )
    }

    /// `-(u_xx + u_yy) = 0` on the L-shape of [`Problem::poisson2d_lshape`]
    /// with the corner singularity: exact `u = r^(2/3) sin(2 theta / 3)`
    /// about the re-entrant corner `(0.5, 0.5)` (`theta` as in `corner_polar`),
    /// `u = 0` on the two edges meeting there (part `hole`), `u` = the exact
    /// solution on the outer sides. `u` is only `H^(1+2/3 - eps)`: its
    /// gradient blows up like `r^(-1/3)` at the corner.
    pub fn poisson2d_lshape_corner() -> Problem {
        on_domain(
            "poisson2d_lshape_corner",
            lshape(),
            Arc::new(|_| 0.0),
            vec![
                ("hole", dirichlet(Arc::new(|_| 0.0))),
                ("outer", dirichlet(Arc::new(corner_u))),
            ],
            Arc::new(corner_u),
        )
    }

    /// `-(u_xx + u_yy) = 2 pi sin(pi r^2 / 2) + pi^2 r^2 cos(pi r^2 / 2)` on
    /// the unit disk (part `outer`), `u = 0` on the circle; exact
    /// `u = cos(pi r^2 / 2)`, `r^2 = x^2 + y^2`.
    pub fn poisson2d_disk() -> Problem {
        let domain = Domain {
            parts: vec![part(
                "outer",
                Shape::Ball {
                    center: vec![0.0, 0.0],
                    radius: 1.0,
                },
            )],
            difference: false,
        };
        let r2 = |x: &[f64]| x[0] * x[0] + x[1] * x[1];
        on_domain(
            "poisson2d_disk",
            domain,
            Arc::new(move |x| {
                let a = PI * r2(x) / 2.0;
                2.0 * PI * a.sin() + PI * PI * r2(x) * a.cos()
            }),
            vec![("outer", dirichlet(Arc::new(|_| 0.0)))],
            Arc::new(move |x| (PI * r2(x) / 2.0).cos()),
        )
    }

    /// `-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)` on the plate `[0, 1]^2`
    /// minus the disk of radius 0.2 about `(0.5, 0.5)` (parts `outer`,
    /// `hole`): `u = 0` on the outer sides, Robin `u + n . grad u = h` on
    /// the hole (`n` the domain's outward normal, pointing into the hole),
    /// `h` from the exact `u = sin(pi x) sin(pi y)`.
    pub fn poisson2d_hole_robin() -> Problem {
        let c = Self::HOLE_CENTER;
        let domain = Domain {
            parts: vec![
                part("outer", square(0.0, 1.0)),
                part(
                    "hole",
                    Shape::Ball {
                        center: c.to_vec(),
                        radius: Self::HOLE_RADIUS,
                    },
                ),
            ],
            difference: true,
        };
        let h = move |x: &[f64]| {
            let (sx, cx) = (PI * x[0]).sin_cos();
            let (sy, cy) = (PI * x[1]).sin_cos();
            let (dx, dy) = (x[0] - c[0], x[1] - c[1]);
            let r = (dx * dx + dy * dy).sqrt();
            // n = -(x - c) / r on the hole's circle.
            sx * sy - (dx * PI * cx * sy + dy * PI * sx * cy) / r
        };
        let one: ScalarFn = Arc::new(|_| 1.0);
        on_domain(
            "poisson2d_hole_robin",
            domain,
            Arc::new(|x| 2.0 * PI * PI * sin_sin(x)),
            vec![
                ("outer", dirichlet(Arc::new(|_| 0.0))),
                (
                    "hole",
                    BoundaryPiece::robin(unused_face(), one.clone(), one, Arc::new(h)),
                ),
            ],
            Arc::new(sin_sin),
        )
    }
}
