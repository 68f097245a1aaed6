//! Non-box domains: a ball, or the union or difference of boxes and balls
//! (an L-shape is a box minus a box, a plate with a hole a box minus a
//! ball). Membership, the sides of the boundary with their measure, points
//! on them and outward normals.
//!
//! A side is one face of a box part or the sphere of a ball part. Its
//! outward normal as a boundary of the domain is the part's own outward
//! normal, reversed for a subtracted part (it points into the hole). A point
//! of a side lies on the domain's boundary where a small step against that
//! normal stays in the domain and a step along it leaves: a union drops the
//! sides inside another part, a difference the outer sides inside a hole and
//! the hole's sides outside the outer part, with no case analysis per shape.

use super::boundary::{Face, Side};
use std::f64::consts::PI;

/// A primitive shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// The box `[lo, hi]`.
    Box {
        /// Lower corner.
        lo: Vec<f64>,
        /// Upper corner.
        hi: Vec<f64>,
    },
    /// The ball `|x - center| <= radius`.
    Ball {
        /// Centre.
        center: Vec<f64>,
        /// Radius (> 0).
        radius: f64,
    },
}

/// A named part of a domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The name boundary pieces select it by (`outer`, `hole`, ...).
    pub name: String,
    /// Its shape.
    pub shape: Shape,
}

/// The union of `parts`, or (`difference`) the first part minus the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// The parts (at least one).
    pub parts: Vec<Part>,
    /// `parts[0]` minus the rest, rather than their union.
    pub difference: bool,
}

/// Relative size of the step that tells whether a side's point is on the
/// boundary (times the bounding box's diagonal).
const STEP: f64 = 1e-7;

/// Probe points per coordinate of a side (boundary fractions) and of the
/// bounding box (volume fraction).
const PROBES: usize = 64;

impl Shape {
    fn dim(&self) -> usize {
        match self {
            Shape::Box { lo, .. } => lo.len(),
            Shape::Ball { center, .. } => center.len(),
        }
    }

    fn contains(&self, x: &[f64]) -> bool {
        match self {
            Shape::Box { lo, hi } => (0..x.len()).all(|i| lo[i] <= x[i] && x[i] <= hi[i]),
            Shape::Ball { center, radius } => {
                let r2: f64 = x.iter().zip(center).map(|(a, c)| (a - c) * (a - c)).sum();
                r2 <= radius * radius
            }
        }
    }

    fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Shape::Box { lo, hi } => (lo.clone(), hi.clone()),
            Shape::Ball { center, radius } => (
                center.iter().map(|c| c - radius).collect(),
                center.iter().map(|c| c + radius).collect(),
            ),
        }
    }
}

impl Domain {
    /// The box `[lo, hi]` as a one-part domain (part `box`).
    pub fn boxed(lo: &[f64], hi: &[f64]) -> Domain {
        Domain {
            parts: vec![Part {
                name: "box".into(),
                shape: Shape::Box {
                    lo: lo.to_vec(),
                    hi: hi.to_vec(),
                },
            }],
            difference: false,
        }
    }

    /// Spatial dimension.
    pub fn dim(&self) -> usize {
        self.parts.first().map_or(0, |p| p.shape.dim())
    }

    /// Whether `x` is in the closed domain (a difference removes the closed
    /// holes).
    pub fn contains(&self, x: &[f64]) -> bool {
        let mut parts = self.parts.iter().map(|p| p.shape.contains(x));
        if self.difference {
            parts.next().unwrap_or(false) && !parts.any(|inside| inside)
        } else {
            parts.any(|inside| inside)
        }
    }

    /// The bounding box `(lo, hi)`: the first part's for a difference, the
    /// parts' together for a union.
    pub fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
        let (mut lo, mut hi) = self.parts[0].shape.bounds();
        if !self.difference {
            for p in &self.parts[1..] {
                let (l, h) = p.shape.bounds();
                for i in 0..lo.len() {
                    lo[i] = lo[i].min(l[i]);
                    hi[i] = hi[i].max(h[i]);
                }
            }
        }
        (lo, hi)
    }

    /// Every side: the faces of a box part (`x_lo, x_hi, y_lo, ...`), the
    /// sphere of a ball part; parts in order.
    pub fn sides(&self) -> Vec<Side> {
        let d = self.dim();
        let mut v = Vec::new();
        for (part, p) in self.parts.iter().enumerate() {
            match p.shape {
                Shape::Box { .. } => {
                    for coord in 0..d {
                        for upper in [false, true] {
                            let face = Some(Face { coord, upper });
                            v.push(Side { part, face });
                        }
                    }
                }
                Shape::Ball { .. } => v.push(Side { part, face: None }),
            }
        }
        v
    }

    /// Whether `s` names a side of this domain.
    pub fn has_side(&self, s: Side) -> bool {
        self.sides().contains(&s)
    }

    /// The side's name: `<part>` for a ball, `<part>.<var>_lo` for a face.
    pub fn side_name(&self, s: Side, vars: &[String]) -> String {
        let part = self.parts.get(s.part).map_or("?", |p| p.name.as_str());
        match s.face {
            Some(f) => format!("{part}.{}", f.name(vars)),
            None => part.to_string(),
        }
    }

    /// The sides a boundary piece's `on` text selects: `all`, a part's name
    /// (all its sides) or `<part>.<var>_lo|hi` (one face of a box part).
    pub fn select(&self, on: &str, vars: &[String]) -> Option<Vec<Side>> {
        if on == "all" {
            return Some(self.sides());
        }
        let (name, face) = match on.split_once('.') {
            Some((n, f)) => (n, Some(f)),
            None => (on, None),
        };
        let part = self.parts.iter().position(|p| p.name == name)?;
        let sides: Vec<Side> = self
            .sides()
            .into_iter()
            .filter(|s| s.part == part)
            .collect();
        match face {
            None => Some(sides),
            Some(f) => {
                let face = Face::parse(f, vars)?;
                let s = Side {
                    part,
                    face: Some(face),
                };
                sides.contains(&s).then(|| vec![s])
            }
        }
    }

    /// Every text [`Domain::select`] accepts, for error messages.
    pub fn selector_names(&self, vars: &[String]) -> Vec<String> {
        let mut v = vec!["all".to_string()];
        for (k, p) in self.parts.iter().enumerate() {
            v.push(p.name.clone());
            if matches!(p.shape, Shape::Box { .. }) {
                for s in self.sides().into_iter().filter(|s| s.part == k) {
                    v.push(self.side_name(s, vars));
                }
            }
        }
        v
    }

    /// The side's full measure (length in 2-D, area in 3-D), whether or not
    /// all of it is on the domain's boundary.
    pub fn measure(&self, s: Side) -> f64 {
        match (&self.parts[s.part].shape, s.face) {
            (Shape::Box { lo, hi }, Some(f)) => (0..lo.len())
                .filter(|&j| j != f.coord)
                .map(|j| hi[j] - lo[j])
                .product(),
            (Shape::Ball { radius, center }, _) => match center.len() {
                2 => 2.0 * PI * radius,
                3 => 4.0 * PI * radius * radius,
                _ => 2.0,
            },
            (Shape::Box { .. }, None) => 0.0,
        }
    }

    /// The point of side `s` at parameters `u` in `[0, 1)^(d-1)`; uniform
    /// `u` gives points uniform on the side (the sphere's map keeps area).
    pub fn point_on(&self, s: Side, u: &[f64]) -> Vec<f64> {
        match (&self.parts[s.part].shape, s.face) {
            (Shape::Box { lo, hi }, Some(f)) => {
                let mut it = u.iter();
                (0..lo.len())
                    .map(|j| {
                        if j == f.coord {
                            if f.upper { hi[j] } else { lo[j] }
                        } else {
                            lo[j] + it.next().copied().unwrap_or(0.0) * (hi[j] - lo[j])
                        }
                    })
                    .collect()
            }
            (Shape::Ball { center, radius }, _) => {
                let dir: Vec<f64> = match center.len() {
                    2 => {
                        let (s, c) = (2.0 * PI * u[0]).sin_cos();
                        vec![c, s]
                    }
                    _ => {
                        // Archimedes: z uniform in [-1, 1] and the angle
                        // uniform give points uniform on the sphere.
                        let z = 1.0 - 2.0 * u[0];
                        let rho = (1.0 - z * z).max(0.0).sqrt();
                        let (s, c) = (2.0 * PI * u[1]).sin_cos();
                        vec![rho * c, rho * s, z]
                    }
                };
                center
                    .iter()
                    .zip(&dir)
                    .map(|(c, n)| c + radius * n)
                    .collect()
            }
            (Shape::Box { lo, .. }, None) => lo.clone(),
        }
    }

    /// The domain's outward unit normal at `x` on side `s` (into the hole
    /// for a subtracted part).
    pub fn normal(&self, s: Side, x: &[f64]) -> Vec<f64> {
        let sign = if self.difference && s.part > 0 {
            -1.0
        } else {
            1.0
        };
        match (&self.parts[s.part].shape, s.face) {
            (Shape::Box { lo, .. }, Some(f)) => (0..lo.len())
                .map(|j| if j == f.coord { sign * f.sign() } else { 0.0 })
                .collect(),
            (Shape::Ball { center, .. }, _) => {
                let v: Vec<f64> = x.iter().zip(center).map(|(a, c)| a - c).collect();
                let len = v.iter().map(|a| a * a).sum::<f64>().sqrt();
                v.iter().map(|a| sign * a / len).collect()
            }
            (Shape::Box { lo, .. }, None) => vec![0.0; lo.len()],
        }
    }

    /// Whether `x`, a point of side `s`, is on the domain's boundary: a small
    /// step against the outward normal is in the domain, one along it is not.
    pub fn on_boundary(&self, s: Side, x: &[f64]) -> bool {
        let n = self.normal(s, x);
        let (lo, hi) = self.bounds();
        let diag = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| (h - l) * (h - l))
            .sum::<f64>()
            .sqrt();
        let h = STEP * diag;
        let step = |t: f64| -> Vec<f64> { x.iter().zip(&n).map(|(a, b)| a + t * b).collect() };
        self.contains(&step(-h)) && !self.contains(&step(h))
    }

    /// Fraction of side `s` on the domain's boundary, from a probe grid of
    /// cell centres on it.
    pub fn boundary_fraction(&self, s: Side) -> f64 {
        let k = self.dim().saturating_sub(1);
        let per = if k <= 1 { PROBES * PROBES / 4 } else { PROBES };
        let grid = super::grid::tensor_grid(&vec![per; k], |_, j, m| (j as f64 + 0.5) / m as f64);
        let hits = grid
            .iter()
            .filter(|u| self.on_boundary(s, &self.point_on(s, u)))
            .count();
        hits as f64 / grid.len().max(1) as f64
    }

    /// Fraction of the bounding box in the domain, from a probe grid of cell
    /// centres (0 for an empty domain).
    pub fn volume_fraction(&self) -> f64 {
        let (lo, hi) = self.bounds();
        let d = self.dim();
        let per = if d <= 2 { PROBES * 2 } else { PROBES / 2 };
        let grid = super::grid::tensor_grid(&vec![per; d], |i, j, m| {
            lo[i] + (j as f64 + 0.5) / m as f64 * (hi[i] - lo[i])
        });
        let hits = grid.iter().filter(|x| self.contains(x)).count();
        hits as f64 / grid.len().max(1) as f64
    }
}

#[cfg(test)]
#[path = "domain_tests.rs"]
mod tests;
