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
use super::problem::Problem;
use crate::error::{Error, Result};
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
    /// The face.
    pub face: Face,
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
        write!(f, "BoundaryPiece({:?} on {:?})", self.kind, self.face)
    }
}

impl BoundaryPiece {
    /// `u = g` on `face`.
    pub fn dirichlet(face: Face, g: ScalarFn) -> Self {
        BoundaryPiece {
            face,
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
            kind: BcKind::Neumann,
            alpha: Arc::new(|_| 0.0),
            beta: Arc::new(|_| 1.0),
            value: h,
        }
    }

    /// `alpha u + beta n . grad u = h` on `face`.
    pub fn robin(face: Face, alpha: ScalarFn, beta: ScalarFn, h: ScalarFn) -> Self {
        BoundaryPiece {
            face,
            kind: BcKind::Robin,
            alpha,
            beta,
            value: h,
        }
    }
}

/// Probe points of the box (a `k^d` grid including the faces) or of one
/// face (the face's coordinate fixed).
fn probe_points(p: &Problem, face: Option<Face>) -> Vec<Vec<f64>> {
    let d = p.dim();
    let k = 7usize;
    let total = k.pow(d as u32);
    (0..total)
        .map(|mut idx| {
            (0..d)
                .map(|i| {
                    let j = idx % k;
                    idx /= k;
                    match face {
                        Some(f) if f.coord == i => {
                            if f.upper {
                                p.hi[i]
                            } else {
                                p.lo[i]
                            }
                        }
                        _ => p.lo[i] + j as f64 / (k - 1) as f64 * (p.hi[i] - p.lo[i]),
                    }
                })
                .collect()
        })
        .collect()
}

/// Check a second-order problem's boundary pieces: faces in range, at most
/// one piece per face, `A` symmetric, every face that needs data has it and
/// no face that needs none has any.
pub(crate) fn check_pieces(p: &Problem) -> Result<()> {
    let Some(s) = &p.op.second else {
        return Ok(());
    };
    let d = p.dim();
    let name = |f: Face| f.name(&p.vars);
    for (k, piece) in p.pieces.iter().enumerate() {
        if piece.face.coord >= d {
            return Err(Error::Problem(format!(
                "{}: boundary piece {k} is on coordinate {} of a {d}-D box",
                p.name, piece.face.coord
            )));
        }
        if p.pieces[..k].iter().any(|q| q.face == piece.face) {
            return Err(Error::Problem(format!(
                "{}: two boundary pieces on face {}; give each face one condition",
                p.name,
                name(piece.face)
            )));
        }
    }
    let box_pts = probe_points(p, None);
    let mut a = vec![0.0; d * d];
    let mut second_in = vec![false; d];
    for x in &box_pts {
        (s.a)(x, &mut a);
        for i in 0..d {
            for j in 0..i {
                let (aij, aji) = (a[i * d + j], a[j * d + i]);
                if (aij - aji).abs() > 1e-12 * (1.0 + aij.abs().max(aji.abs())) {
                    return Err(Error::Problem(format!(
                        "{}: A is not symmetric: A[{i}][{j}] = {aij} but A[{j}][{i}] = {aji} at {x:?}",
                        p.name
                    )));
                }
            }
            if a[i * d + i] != 0.0 {
                second_in[i] = true;
            }
        }
        if a.iter().any(|v| !v.is_finite()) {
            return Err(Error::Problem(format!(
                "{}: A is not finite at {x:?}",
                p.name
            )));
        }
    }
    let mut c = vec![0.0; d];
    for i in 0..d {
        for upper in [false, true] {
            let face = Face { coord: i, upper };
            let needs = second_in[i]
                || probe_points(p, Some(face)).iter().any(|x| {
                    p.op.c_at(x, &mut c);
                    c[i] * face.sign() < 0.0
                });
            let has = p.pieces.iter().any(|q| q.face == face);
            if needs && !has {
                let why = if second_in[i] {
                    format!("the operator is second order in `{}`", p.vars[i])
                } else {
                    "it is an inflow face (c . n < 0 there)".to_string()
                };
                return Err(Error::Problem(format!(
                    "{}: face {} has no boundary data, but {why}; add a boundary piece for it",
                    p.name,
                    name(face)
                )));
            }
            if has && !needs {
                return Err(Error::Problem(format!(
                    "{}: face {} needs no data (the operator is at most first order in `{}` and the face is not inflow), so its boundary piece over-determines the problem; remove it",
                    p.name,
                    name(face),
                    p.vars[i]
                )));
            }
        }
    }
    if s.a_pairs.is_empty() {
        return Err(Error::Problem(format!(
            "{}: a second-order operator needs at least one nonzero entry of A",
            p.name
        )));
    }
    Ok(())
}
