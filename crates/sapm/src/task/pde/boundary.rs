//! Boundary pieces of a second-order problem on a box: on each face one of
//! Dirichlet `u = g`, Neumann `n . grad u = h` or Robin
//! `alpha u + beta n . grad u = h` (`n` the outward unit normal of the
//! face), and the check that every face that needs data has it.
//!
//! A face needs data when the operator is second order across it
//! (`A_ii != 0` somewhere in the box for the face's coordinate `i`), or, if
//! it is at most first order there, when the face is inflow (`c . n < 0`
//! somewhere on it): the heat equation `u_t = u_xx` needs data on both `x`
//! faces and on `t = t0` (the initial data), none on `t = T`.

use super::operator::ScalarFn;
use std::sync::Arc;

/// A face of the box: coordinate `coord` at its lower or upper end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Face {
    /// The coordinate the face is normal to.
    pub coord: usize,
    /// Upper end (`x_i = hi_i`, normal `+e_i`) or lower (`x_i = lo_i`, normal `-e_i`).
    pub upper: bool,
}

impl Face {
    /// The outward normal's sign along `coord`.
    pub fn sign(self) -> f64 {
        if self.upper { 1.0 } else { -1.0 }
    }

    /// `<var>_lo` or `<var>_hi`.
    pub fn name(self, vars: &[String]) -> String {
        let v = vars.get(self.coord).map_or("?", String::as_str);
        format!("{v}_{}", if self.upper { "hi" } else { "lo" })
    }

    /// The face named `<var>_lo` / `<var>_hi`, if any.
    pub fn parse(name: &str, vars: &[String]) -> Option<Face> {
        let (v, end) = name.rsplit_once('_')?;
        let coord = vars.iter().position(|x| x == v)?;
        match end {
            "lo" => Some(Face {
                coord,
                upper: false,
            }),
            "hi" => Some(Face { coord, upper: true }),
            _ => None,
        }
    }
}

/// A side of a non-box domain's boundary ([`super::domain::Domain`]): one
/// face of a box part, or the sphere of a ball part (`face = None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    /// Index of the part in the domain.
    pub part: usize,
    /// The face of a box part; `None` for a ball.
    pub face: Option<Face>,
}

/// The kind of a boundary piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BcKind {
    /// `u = g`.
    Dirichlet,
    /// `n . grad u = h`.
    Neumann,
    /// `alpha u + beta n . grad u = h`.
    Robin,
}

/// One face's boundary condition `alpha u + beta n . grad u = value`.
#[derive(Clone)]
pub struct BoundaryPiece {
    /// The face (box problems).
    pub face: Face,
    /// The sides it covers on a non-box domain (empty for a box problem,
    /// whose pieces sit on their `face`).
    pub sides: Vec<Side>,
    /// Its kind (Dirichlet: `alpha = 1, beta = 0`; Neumann: `alpha = 0, beta = 1`).
    pub kind: BcKind,
    /// `alpha(x)`.
    pub alpha: ScalarFn,
    /// `beta(x)`.
    pub beta: ScalarFn,
    /// The data `g` or `h`.
    pub value: ScalarFn,
}

impl std::fmt::Debug for BoundaryPiece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.sides.is_empty() {
            write!(f, "BoundaryPiece({:?} on {:?})", self.kind, self.face)
        } else {
            write!(f, "BoundaryPiece({:?} on {:?})", self.kind, self.sides)
        }
    }
}

impl BoundaryPiece {
    /// `u = g` on `face`.
    pub fn dirichlet(face: Face, g: ScalarFn) -> Self {
        BoundaryPiece {
            face,
            sides: Vec::new(),
            kind: BcKind::Dirichlet,
            alpha: Arc::new(|_| 1.0),
            beta: Arc::new(|_| 0.0),
            value: g,
        }
    }

    /// `n . grad u = h` on `face`.
    pub fn neumann(face: Face, h: ScalarFn) -> Self {
        BoundaryPiece {
            face,
            sides: Vec::new(),
            kind: BcKind::Neumann,
            alpha: Arc::new(|_| 0.0),
            beta: Arc::new(|_| 1.0),
            value: h,
        }
    }

    /// The same condition on `sides` of a non-box domain instead of a box face.
    pub fn on_sides(mut self, sides: Vec<Side>) -> Self {
        self.sides = sides;
        self
    }

    /// `alpha u + beta n . grad u = h` on `face`.
    pub fn robin(face: Face, alpha: ScalarFn, beta: ScalarFn, h: ScalarFn) -> Self {
        BoundaryPiece {
            face,
            sides: Vec::new(),
            kind: BcKind::Robin,
            alpha,
            beta,
            value: h,
        }
    }
}
