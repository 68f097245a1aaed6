//! Linear PDEs in a box: first order `c(x) . grad u(x) = f(x)` with `u = g`
//! on the inflow boundary, or second order (see [`Operator`]) with boundary
//! pieces ([`BoundaryPiece`]); the first-order built-in problems (the
//! second-order ones are in `second_builtins.rs`).

use super::boundary::{BoundaryPiece, Face, Side};
use super::domain::Domain;
use super::operator::Operator;
pub use super::operator::{ScalarFn, VectorFn};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::sync::Arc;

/// `pde.scale`: what the network sees of the problem's box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PdeScale {
    /// The bounding box mapped to `[-1, 1]^d` (the default of custom problems).
    Unit,
    /// Physical coordinates as they are (the default of the built-ins).
    None,
}

impl PdeScale {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            PdeScale::Unit => "unit",
            PdeScale::None => "none",
        }
    }
}

/// `c(x) . grad u = f` in the box `[lo, hi]`, `u = g` on the inflow boundary
/// `{x on a non-periodic face : c(x) . n(x) < 0}`.
///
/// Periodic coordinates have no boundary faces; the network sees them through
/// the exact embedding `x -> (cos theta, sin theta)`, `theta = 2 pi (x - lo) / (hi - lo)`
/// (see [`Problem::embed`]), so periodicity holds exactly.
///
/// ```
/// use sapm::task::pde::Problem;
/// let p = Problem::transport1d(10.0);
/// assert_eq!(p.dim(), 2);
/// assert_eq!(p.embedded_dim(), 3);               // (cos x, sin x, t)
/// let x = [1.0, 0.3];
/// let u = p.exact.as_ref().unwrap()(&x);
/// assert!((u - (1.0f64 - 3.0).sin()).abs() < 1e-15);
/// ```
#[derive(Clone)]
pub struct Problem {
    /// Short name (`transport1d`, `custom`, ...).
    pub name: String,
    /// Coordinate names, e.g. `["x", "t"]`.
    pub vars: Vec<String>,
    /// Lower corner.
    pub lo: Vec<f64>,
    /// Upper corner.
    pub hi: Vec<f64>,
    /// Which coordinates are periodic.
    pub periodic: Vec<bool>,
    /// The differential operator (`c . grad u`, or second order).
    pub op: Operator,
    /// Right-hand side.
    pub f: ScalarFn,
    /// Inflow data (first-order problems).
    pub g: ScalarFn,
    /// Boundary pieces, one per face that needs data (second-order problems;
    /// empty for first order).
    pub pieces: Vec<BoundaryPiece>,
    /// A non-box domain inside the box `[lo, hi]` (its bounding box), whose
    /// pieces sit on sides rather than faces; `None`: the box itself.
    pub domain: Option<Domain>,
    /// Exact solution, for error reporting.
    pub exact: Option<ScalarFn>,
    /// What the network sees of the box (`pde.scale`; see `unit_map.rs`).
    pub scale: PdeScale,
}

impl std::fmt::Debug for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Problem")
            .field("name", &self.name)
            .field("vars", &self.vars)
            .field("lo", &self.lo)
            .field("hi", &self.hi)
            .field("periodic", &self.periodic)
            .field("scale", &self.scale)
            .finish_non_exhaustive()
    }
}

impl Problem {
    /// `u_t + beta u_x = 0` on `(x, t) in [0, 2 pi] x [0, 1]`, `u(x, 0) = sin x`,
    /// periodic in `x`; exact `u = sin(x - beta t)`.
    pub fn transport1d(beta: f64) -> Problem {
        Problem {
            name: "transport1d".into(),
            vars: vec!["x".into(), "t".into()],
            lo: vec![0.0, 0.0],
            hi: vec![2.0 * PI, 1.0],
            periodic: vec![true, false],
            op: Operator::transport(Arc::new(move |_, c| {
                c[0] = beta;
                c[1] = 1.0;
            })),
            f: Arc::new(|_| 0.0),
            g: Arc::new(|x| x[0].sin()),
            pieces: Vec::new(),
            domain: None,
            exact: Some(Arc::new(move |x| (x[0] - beta * x[1]).sin())),
            scale: PdeScale::None,
        }
    }

    /// `u_t + beta u_x = 0` on `(x, t) in [0, 1]^2` (beta > 0), inflow data at
    /// `x = 0` and `t = 0` from the exact `u = sin(2 pi (x - beta t))`.
    pub fn transport_inflow(beta: f64) -> Problem {
        let u = move |x: &[f64]| (2.0 * PI * (x[0] - beta * x[1])).sin();
        Problem {
            name: "transport_inflow".into(),
            vars: vec!["x".into(), "t".into()],
            lo: vec![0.0, 0.0],
            hi: vec![1.0, 1.0],
            periodic: vec![false, false],
            op: Operator::transport(Arc::new(move |_, c| {
                c[0] = beta;
                c[1] = 1.0;
            })),
            f: Arc::new(|_| 0.0),
            g: Arc::new(u),
            pieces: Vec::new(),
            domain: None,
            exact: Some(Arc::new(u)),
            scale: PdeScale::None,
        }
    }

    /// `c(x) u'(x) = f(x)` on `(0, 1)`, `u(0) = 0`, with `c(x) = 1 + x` and the
    /// manufactured `u(x) = sin(2 pi x) + x^2`, `f = c u'`.
    pub fn steady1d() -> Problem {
        let u = |x: &[f64]| (2.0 * PI * x[0]).sin() + x[0] * x[0];
        Problem {
            name: "steady1d".into(),
            vars: vec!["x".into()],
            lo: vec![0.0],
            hi: vec![1.0],
            periodic: vec![false],
            op: Operator::transport(Arc::new(|x, c| c[0] = 1.0 + x[0])),
            f: Arc::new(|x| (1.0 + x[0]) * (2.0 * PI * (2.0 * PI * x[0]).cos() + 2.0 * x[0])),
            g: Arc::new(u),
            pieces: Vec::new(),
            domain: None,
            exact: Some(Arc::new(u)),
            scale: PdeScale::None,
        }
    }

    /// Spatial dimension `d`.
    pub fn dim(&self) -> usize {
        self.vars.len()
    }

    /// Network input dimension: `d` plus one per periodic coordinate.
    pub fn embedded_dim(&self) -> usize {
        self.dim() + self.periodic.iter().filter(|&&p| p).count()
    }

    /// Names of the network inputs (`cos_x`, `sin_x` for a periodic `x`).
    pub fn embedded_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (name, &p) in self.vars.iter().zip(&self.periodic) {
            if p {
                v.push(format!("cos_{name}"));
                v.push(format!("sin_{name}"));
            } else {
                v.push(name.clone());
            }
        }
        v
    }

    /// Check dimensions, the box and the shape of `c`.
    pub fn validate(&self) -> Result<()> {
        let d = self.dim();
        if d == 0 || d > 3 {
            return Err(Error::Problem(format!(
                "{}: dimension must be 1, 2 or 3, got {d}",
                self.name
            )));
        }
        if self.lo.len() != d || self.hi.len() != d || self.periodic.len() != d {
            return Err(Error::Problem(format!(
                "{}: lo, hi and periodic need {d} entries (one per variable {:?}), got {}, {} and {}",
                self.name,
                self.vars,
                self.lo.len(),
                self.hi.len(),
                self.periodic.len()
            )));
        }
        for i in 0..d {
            if !(self.lo[i].is_finite() && self.hi[i].is_finite() && self.lo[i] < self.hi[i]) {
                return Err(Error::Problem(format!(
                    "{}: need finite lo < hi for `{}`, got [{}, {}]",
                    self.name, self.vars[i], self.lo[i], self.hi[i]
                )));
            }
        }
        if self.op.is_second_order() {
            if let Some(i) = self.periodic.iter().position(|&p| p) {
                return Err(Error::Problem(format!(
                    "{}: `{}` is periodic, but periodic coordinates are supported for first-order problems only",
                    self.name, self.vars[i]
                )));
            }
            return check_pieces(self);
        }
        if self.domain.is_some() {
            return Err(Error::Problem(format!(
                "{}: non-box domains are for second-order problems",
                self.name
            )));
        }
        if !self.pieces.is_empty() {
            return Err(Error::Problem(format!(
                "{}: boundary pieces are for second-order problems; a first-order problem takes g on its inflow boundary",
                self.name
            )));
        }
        if self.periodic.iter().all(|&p| p) {
            return Err(Error::Problem(format!(
                "{}: every coordinate is periodic, so the inflow boundary is empty",
                self.name
            )));
        }
        Ok(())
    }

    /// Network input `e(x)` (`embedded_dim` values) and the direction
    /// `v = J_e(x) c(x)`, so that `c . grad_x u = grad_e U . v` for `u(x) = U(e(x))`.
    pub fn embed(&self, x: &[f64], e: &mut [f64], v: &mut [f64]) {
        let mut c = [0.0; 3];
        self.op.c_at(x, &mut c[..self.dim()]);
        let mut k = 0;
        for i in 0..self.dim() {
            if self.periodic[i] {
                let w = 2.0 * PI / (self.hi[i] - self.lo[i]);
                let th = w * (x[i] - self.lo[i]);
                let (s, co) = th.sin_cos();
                e[k] = co;
                e[k + 1] = s;
                v[k] = -s * w * c[i];
                v[k + 1] = co * w * c[i];
                k += 2;
            } else {
                e[k] = x[i];
                v[k] = c[i];
                k += 1;
            }
        }
    }

    /// `c(x)` as a vector.
    pub fn c_at(&self, x: &[f64]) -> Vec<f64> {
        let mut c = vec![0.0; self.dim()];
        self.op.c_at(x, &mut c);
        c
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
fn check_pieces(p: &Problem) -> Result<()> {
    let Some(s) = &p.op.second else {
        return Ok(());
    };
    let d = p.dim();
    let name = |f: Face| f.name(&p.vars);
    let faces = if p.domain.is_some() {
        &[][..]
    } else {
        &p.pieces[..]
    };
    for (k, piece) in faces.iter().enumerate() {
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
    if let Some(dom) = &p.domain {
        check_domain_pieces(p, dom, &second_in)?;
    }
    let mut c = vec![0.0; d];
    for i in (0..d).filter(|_| p.domain.is_none()) {
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

/// A non-box domain's pieces: the operator is second order in every
/// coordinate (so the whole boundary needs data), every piece's sides exist,
/// no side has two pieces, every side on the boundary has one, and no
/// piece lies entirely off the boundary.
fn check_domain_pieces(p: &Problem, dom: &Domain, second_in: &[bool]) -> Result<()> {
    let d = p.dim();
    let fail = |why: String| Err(Error::Problem(format!("{}: {why}", p.name)));
    if dom.dim() != d || d < 2 {
        return fail(format!(
            "a non-box domain is 2-D or 3-D like the problem; this one has {} coordinates, the problem {d}",
            dom.dim()
        ));
    }
    let (lo, hi) = dom.bounds();
    if (0..d).any(|i| lo[i] < p.lo[i] || hi[i] > p.hi[i]) {
        return fail(format!(
            "the domain's bounding box {lo:?}..{hi:?} is not inside the box {:?}..{:?}",
            p.lo, p.hi
        ));
    }
    if let Some(i) = second_in.iter().position(|&s| !s) {
        return fail(format!(
            "a non-box domain needs an operator of second order in every coordinate (A_ii != 0), not so in `{}`; time-dependent problems take a box",
            p.vars[i]
        ));
    }
    if dom.volume_fraction() == 0.0 {
        return fail("the domain is empty".into());
    }
    let name = |s: Side| dom.side_name(s, &p.vars);
    let mut owned: Vec<Side> = Vec::new();
    for (k, piece) in p.pieces.iter().enumerate() {
        if piece.sides.is_empty() {
            return fail(format!(
                "boundary piece {k} names no side; on a non-box domain a piece covers sides, not a face"
            ));
        }
        for &s in &piece.sides {
            if !dom.has_side(s) {
                return fail(format!(
                    "boundary piece {k} is on a side {s:?} the domain does not have"
                ));
            }
            if owned.contains(&s) {
                return fail(format!(
                    "two boundary pieces on {}; give each side one condition",
                    name(s)
                ));
            }
            owned.push(s);
        }
        if piece.sides.iter().all(|&s| dom.boundary_fraction(s) == 0.0) {
            let names: Vec<String> = piece.sides.iter().map(|&s| name(s)).collect();
            return fail(format!(
                "boundary piece {k} on {} lies nowhere on the domain's boundary",
                names.join(", ")
            ));
        }
    }
    if let Some(s) = dom
        .sides()
        .into_iter()
        .find(|s| !owned.contains(s) && dom.boundary_fraction(*s) > 0.0)
    {
        return fail(format!(
            "{} is part of the domain's boundary but has no boundary data; add a piece for it",
            name(s)
        ));
    }
    Ok(())
}

/// The error for a domain too small a part of its bounding box to sample.
pub(super) fn too_small(p: &Problem, what: &str) -> Error {
    Error::Problem(format!(
        "{}: too few {what} points landed in the domain; it fills too small a part of its bounding box {:?}..{:?}",
        p.name, p.lo, p.hi
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `c . grad u - f` by central differences.
    fn fd_residual(p: &Problem, u: &ScalarFn, x: &[f64]) -> f64 {
        let h = 1e-5;
        let c = p.c_at(x);
        let mut s = 0.0;
        for i in 0..p.dim() {
            let mut a = x.to_vec();
            let mut b = x.to_vec();
            a[i] += h;
            b[i] -= h;
            s += c[i] * (u(&a) - u(&b)) / (2.0 * h);
        }
        s - (p.f)(x)
    }

    #[test]
    fn exact_solutions_satisfy_their_pdes_and_boundary_data() {
        for p in [
            Problem::transport1d(1.0),
            Problem::transport1d(30.0),
            Problem::transport_inflow(1.0),
            Problem::transport_inflow(0.5),
            Problem::steady1d(),
        ] {
            p.validate().unwrap();
            let u = p.exact.clone().unwrap();
            let d = p.dim();
            let scale = p.c_at(&p.lo).iter().map(|c| c.abs()).fold(1.0, f64::max);
            for k in 0..50 {
                let x: Vec<f64> = (0..d)
                    .map(|i| {
                        let r = ((k * 7 + i * 3) as f64 * 0.618).fract();
                        p.lo[i] + (0.02 + 0.96 * r) * (p.hi[i] - p.lo[i])
                    })
                    .collect();
                let r = fd_residual(&p, &u, &x);
                assert!(
                    r.abs() < 1e-7 * scale * 2.0 * PI,
                    "{}: residual {r} at {x:?}",
                    p.name
                );
                // Boundary data agree with the exact solution on the lower faces.
                for i in 0..d {
                    if !p.periodic[i] {
                        let mut xb = x.clone();
                        xb[i] = p.lo[i];
                        assert!(((p.g)(&xb) - u(&xb)).abs() < 1e-12, "{}", p.name);
                    }
                }
            }
        }
    }

    #[test]
    fn embedding_turns_c_grad_into_a_directional_derivative() {
        let p = Problem::transport1d(3.0);
        // U(e) = e0 * e1 + 2 e2 (any smooth function of the embedding).
        let big_u = |e: &[f64]| e[0] * e[1] + 2.0 * e[2] * e[2];
        let x = [0.7, 0.4];
        let mut e = [0.0; 3];
        let mut v = [0.0; 3];
        p.embed(&x, &mut e, &mut v);
        let grad = [e[1], e[0], 4.0 * e[2]];
        let dir: f64 = grad.iter().zip(&v).map(|(g, v)| g * v).sum();
        let u_of_x = |x: &[f64]| {
            let mut e = [0.0; 3];
            let mut v = [0.0; 3];
            p.embed(x, &mut e, &mut v);
            big_u(&e)
        };
        let h = 1e-6;
        let fd = 3.0 * (u_of_x(&[x[0] + h, x[1]]) - u_of_x(&[x[0] - h, x[1]])) / (2.0 * h)
            + (u_of_x(&[x[0], x[1] + h]) - u_of_x(&[x[0], x[1] - h])) / (2.0 * h);
        assert!((dir - fd).abs() < 1e-8, "{dir} vs {fd}");
        // Periodic exactly: x and x + 2 pi give the same input.
        let mut e2 = [0.0; 3];
        p.embed(&[x[0] + 2.0 * PI, x[1]], &mut e2, &mut v);
        for i in 0..3 {
            assert!((e[i] - e2[i]).abs() < 1e-14);
        }
    }

    #[test]
    fn bad_boxes_are_rejected() {
        let mut p = Problem::transport_inflow(1.0);
        p.hi = vec![1.0];
        assert!(p.validate().unwrap_err().to_string().contains("2 entries"));
        let mut p = Problem::transport_inflow(1.0);
        p.lo[1] = 2.0;
        assert!(p.validate().is_err());
        let mut p = Problem::transport1d(1.0);
        p.periodic = vec![true, true];
        assert!(p.validate().unwrap_err().to_string().contains("empty"));
    }
}
