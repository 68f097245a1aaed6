//! The built-in second-order problems, each with its exact solution:
//! Poisson 1-D and 2-D, heat 1-D (space-time), Helmholtz 2-D, steady
//! convection-diffusion 1-D with a boundary layer, and a Poisson problem
//! with Dirichlet, Neumann and Robin faces.

use super::boundary::{BoundaryPiece, Face};
use super::operator::{Operator, ScalarFn, SecondOrder};
use super::problem::PdeScale;
use super::problem::Problem;
use std::f64::consts::PI;
use std::sync::Arc;

fn lo(coord: usize) -> Face {
    Face {
        coord,
        upper: false,
    }
}

fn hi(coord: usize) -> Face {
    Face { coord, upper: true }
}

fn zero() -> ScalarFn {
    Arc::new(|_| 0.0)
}

/// A second-order operator with constant `A` (row-major `d x d`), constant
/// `c` and constant `r`; its structure from the nonzero entries.
fn constant_operator(d: usize, a: Vec<f64>, c: Vec<f64>, r: f64) -> Operator {
    let a_pairs = (0..d)
        .flat_map(|i| (i..d).map(move |j| (i, j)))
        .filter(|&(i, j)| a[i * d + j] != 0.0 || a[j * d + i] != 0.0)
        .collect();
    let c_dirs = (0..d).filter(|&i| c[i] != 0.0).collect();
    let second = SecondOrder {
        a: Arc::new(move |_, out| out.copy_from_slice(&a)),
        r: Arc::new(move |_| r),
        a_pairs,
        c_dirs,
        has_r: r != 0.0,
    };
    Operator::second_order(Arc::new(move |_, out| out.copy_from_slice(&c)), second)
}

fn unit_box(
    name: &str,
    vars: &[&str],
    op: Operator,
    f: ScalarFn,
    pieces: Vec<BoundaryPiece>,
    exact: ScalarFn,
) -> Problem {
    let d = vars.len();
    Problem {
        name: name.into(),
        vars: vars.iter().map(|v| v.to_string()).collect(),
        lo: vec![0.0; d],
        hi: vec![1.0; d],
        periodic: vec![false; d],
        op,
        f,
        g: zero(),
        pieces,
        domain: None,
        exact: Some(exact),
        scale: PdeScale::None,
    }
}

impl Problem {
    /// `-u'' = 4 pi^2 sin(2 pi x)` on `(0, 1)`, `u(0) = u(1) = 0`; exact
    /// `u = sin(2 pi x)`.
    pub fn poisson1d() -> Problem {
        unit_box(
            "poisson1d",
            &["x"],
            constant_operator(1, vec![-1.0], vec![0.0], 0.0),
            Arc::new(|x| 4.0 * PI * PI * (2.0 * PI * x[0]).sin()),
            vec![
                BoundaryPiece::dirichlet(lo(0), zero()),
                BoundaryPiece::dirichlet(hi(0), zero()),
            ],
            Arc::new(|x| (2.0 * PI * x[0]).sin()),
        )
    }

    /// `-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)` on the unit square, `u = 0`
    /// on its four sides; exact `u = sin(pi x) sin(pi y)`.
    pub fn poisson2d() -> Problem {
        unit_box(
            "poisson2d",
            &["x", "y"],
            constant_operator(2, vec![-1.0, 0.0, 0.0, -1.0], vec![0.0; 2], 0.0),
            Arc::new(|x| 2.0 * PI * PI * (PI * x[0]).sin() * (PI * x[1]).sin()),
            (0..2)
                .flat_map(|i| [lo(i), hi(i)])
                .map(|f| BoundaryPiece::dirichlet(f, zero()))
                .collect(),
            Arc::new(|x| (PI * x[0]).sin() * (PI * x[1]).sin()),
        )
    }

    /// Diffusivity of [`Problem::heat1d`].
    pub const HEAT_KAPPA: f64 = 0.1;

    /// `u_t - kappa u_xx = 0` on `(x, t) in [0, 1]^2`, `kappa = 0.1`,
    /// `u(0, t) = u(1, t) = 0`, `u(x, 0) = sin(pi x)`; exact
    /// `u = sin(pi x) exp(-kappa pi^2 t)`.
    pub fn heat1d() -> Problem {
        let k = Self::HEAT_KAPPA;
        unit_box(
            "heat1d",
            &["x", "t"],
            constant_operator(2, vec![-k, 0.0, 0.0, 0.0], vec![0.0, 1.0], 0.0),
            zero(),
            vec![
                BoundaryPiece::dirichlet(lo(0), zero()),
                BoundaryPiece::dirichlet(hi(0), zero()),
                BoundaryPiece::dirichlet(lo(1), Arc::new(|x| (PI * x[0]).sin())),
            ],
            Arc::new(move |x| (PI * x[0]).sin() * (-k * PI * PI * x[1]).exp()),
        )
    }

    /// `u_xx + u_yy + k^2 u = (1 - 2 pi^2) k^2 sin(k pi x) sin(k pi y)` on the
    /// unit square with `u = sin(k pi x) sin(k pi y)` on its sides (zero for
    /// integer `k`); exact `u = sin(k pi x) sin(k pi y)`.
    pub fn helmholtz2d(k: f64) -> Problem {
        let u = move |x: &[f64]| (k * PI * x[0]).sin() * (k * PI * x[1]).sin();
        unit_box(
            "helmholtz2d",
            &["x", "y"],
            constant_operator(2, vec![1.0, 0.0, 0.0, 1.0], vec![0.0; 2], k * k),
            Arc::new(move |x| {
                (1.0 - 2.0 * PI * PI) * k * k * (k * PI * x[0]).sin() * (k * PI * x[1]).sin()
            }),
            (0..2)
                .flat_map(|i| [lo(i), hi(i)])
                .map(|f| BoundaryPiece::dirichlet(f, Arc::new(u)))
                .collect(),
            Arc::new(u),
        )
    }

    /// `-eps u'' + u' = 1` on `(0, 1)`, `u(0) = u(1) = 0`; exact
    /// `u = x - (exp((x - 1) / eps) - exp(-1 / eps)) / (1 - exp(-1 / eps))`,
    /// a boundary layer of width `eps` at `x = 1`.
    pub fn convdiff1d(eps: f64) -> Problem {
        unit_box(
            "convdiff1d",
            &["x"],
            constant_operator(1, vec![-eps], vec![1.0], 0.0),
            Arc::new(|_| 1.0),
            vec![
                BoundaryPiece::dirichlet(lo(0), zero()),
                BoundaryPiece::dirichlet(hi(0), zero()),
            ],
            Arc::new(move |x| {
                let e1 = (-1.0 / eps).exp();
                x[0] - (((x[0] - 1.0) / eps).exp() - e1) / (1.0 - e1)
            }),
        )
    }

    /// `-(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)` on the unit square with
    /// mixed data: `u = 0` on `x = 0`, Neumann `u_x = 1 - pi sin(pi y)` on
    /// `x = 1`, Neumann `u_y = -pi sin(pi x)` on `y = 1`, Robin
    /// `u - u_y = x - pi sin(pi x)` on `y = 0` (outward normal `-e_y`); exact
    /// `u = sin(pi x) sin(pi y) + x`.
    pub fn poisson2d_mixed() -> Problem {
        unit_box(
            "poisson2d_mixed",
            &["x", "y"],
            constant_operator(2, vec![-1.0, 0.0, 0.0, -1.0], vec![0.0; 2], 0.0),
            Arc::new(|x| 2.0 * PI * PI * (PI * x[0]).sin() * (PI * x[1]).sin()),
            vec![
                BoundaryPiece::dirichlet(lo(0), zero()),
                BoundaryPiece::neumann(hi(0), Arc::new(|x| 1.0 - PI * (PI * x[1]).sin())),
                BoundaryPiece::robin(
                    lo(1),
                    Arc::new(|_| 1.0),
                    Arc::new(|_| 1.0),
                    Arc::new(|x| x[0] - PI * (PI * x[0]).sin()),
                ),
                BoundaryPiece::neumann(hi(1), Arc::new(|x| -PI * (PI * x[0]).sin())),
            ],
            Arc::new(|x| (PI * x[0]).sin() * (PI * x[1]).sin() + x[0]),
        )
    }
}

#[cfg(test)]
#[path = "second_builtins_tests.rs"]
mod tests;
