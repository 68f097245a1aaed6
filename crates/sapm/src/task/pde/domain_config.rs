//! `[pde.domain]`: the domain of a custom second-order problem, checked with
//! the key of every bad value named.
//!
//! ```toml
//! [pde.domain]                  # a plate with a hole
//! shape = "difference"
//! parts = [
//!   { shape = "box", lo = [0.0, 0.0], hi = [1.0, 1.0] },        # named "outer"
//!   { shape = "ball", center = [0.5, 0.5], radius = 0.2 },       # named "hole"
//! ]
//! ```
//!
//! `shape` is `box` (`lo`, `hi`; the same as `pde.lo`, `pde.hi`), `ball`
//! (`center`, `radius`; 2-D or 3-D), `union` or `difference` (`parts`:
//! boxes and balls; a difference is the first part minus the others). Parts
//! are named `outer`, `hole` (`hole1`, `hole2`, ... for several) in a
//! difference, `part1`, `part2`, ... in a union, `outer` for a lone ball,
//! unless `name` says otherwise; a boundary piece's `on` selects by these
//! names (see [`Domain::select`]).

use super::domain::{Domain, Part, Shape};
use crate::error::{Error, Result, quoted};
use serde::{Deserialize, Serialize};

/// The shapes `pde.domain.shape` takes.
pub const SHAPES: [&str; 4] = ["box", "ball", "union", "difference"];

/// Most parts of a union or difference.
const MAX_PARTS: usize = 16;

/// `[pde.domain]` or one of its `parts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// `box`, `ball`, `union` or `difference`.
    pub shape: String,
    /// The name pieces select a part (or a lone ball) by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Box: lower corner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lo: Vec<f64>,
    /// Box: upper corner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hi: Vec<f64>,
    /// Ball: centre.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub center: Vec<f64>,
    /// Ball: radius.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<f64>,
    /// Union or difference: the parts (boxes and balls).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<DomainConfig>,
}

/// What a domain config builds: a box (the faces are the boundary's sides,
/// as with `pde.lo`, `pde.hi`) or a non-box [`Domain`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BuiltDomain {
    /// The box `[lo, hi]`.
    Box(Vec<f64>, Vec<f64>),
    /// Anything else.
    Other(Domain),
}

fn not_read(key: &str, leaf: &str, shape: &str) -> Error {
    Error::config(
        format!("{key}.{leaf}"),
        format!("it is not read for shape = {shape:?}"),
    )
}

impl DomainConfig {
    /// The keys given that `shape` does not read.
    fn refuse_unread(&self, key: &str, reads: &[&str]) -> Result<()> {
        let given = [
            ("name", self.name.is_some()),
            ("lo", !self.lo.is_empty()),
            ("hi", !self.hi.is_empty()),
            ("center", !self.center.is_empty()),
            ("radius", self.radius.is_some()),
            ("parts", !self.parts.is_empty()),
        ];
        match given.iter().find(|(k, g)| *g && !reads.contains(k)) {
            Some((leaf, _)) => Err(not_read(key, leaf, &self.shape)),
            None => Ok(()),
        }
    }

    /// A box or a ball (`key` names it in errors).
    fn primitive(&self, key: &str) -> Result<Shape> {
        let dims = |leaf: &str, v: &[f64], lo: usize| -> Result<()> {
            if !(lo..=3).contains(&v.len()) {
                return Err(Error::config(
                    format!("{key}.{leaf}"),
                    format!("needs {lo} to 3 coordinates, got {}", v.len()),
                ));
            }
            if let Some(b) = v.iter().find(|a| !a.is_finite()) {
                return Err(Error::config(
                    format!("{key}.{leaf}"),
                    format!("must be finite, got {b}"),
                ));
            }
            Ok(())
        };
        match self.shape.as_str() {
            "box" => {
                self.refuse_unread(key, &["name", "lo", "hi"])?;
                dims("lo", &self.lo, 1)?;
                dims("hi", &self.hi, 1)?;
                if self.hi.len() != self.lo.len() {
                    return Err(Error::config(
                        format!("{key}.hi"),
                        format!(
                            "needs {} entries like lo, got {}",
                            self.lo.len(),
                            self.hi.len()
                        ),
                    ));
                }
                if let Some(i) = (0..self.lo.len()).find(|&i| self.lo[i] >= self.hi[i]) {
                    return Err(Error::config(
                        format!("{key}.hi"),
                        format!(
                            "needs lo < hi, got [{}, {}] in coordinate {i}",
                            self.lo[i], self.hi[i]
                        ),
                    ));
                }
                Ok(Shape::Box {
                    lo: self.lo.clone(),
                    hi: self.hi.clone(),
                })
            }
            "ball" => {
                self.refuse_unread(key, &["name", "center", "radius"])?;
                dims("center", &self.center, 2)?;
                let radius = self.radius.ok_or_else(|| {
                    Error::config(format!("{key}.radius"), "a ball needs a radius")
                })?;
                if !(radius.is_finite() && radius > 0.0) {
                    return Err(Error::config(
                        format!("{key}.radius"),
                        format!("must be finite and > 0, got {radius}"),
                    ));
                }
                Ok(Shape::Ball {
                    center: self.center.clone(),
                    radius,
                })
            }
            "union" | "difference" => Err(Error::config(
                format!("{key}.shape"),
                "the parts of a union or difference are boxes and balls (no nesting)",
            )),
            other => Err(Error::config(
                format!("{key}.shape"),
                format!(
                    "unknown shape {}; known: {}",
                    quoted(other),
                    SHAPES.join(", ")
                ),
            )),
        }
    }

    /// Build the domain, refusing bad values (naming `pde.domain...`), a
    /// non-box domain in 1-D and a domain that leaves nothing.
    pub(crate) fn build(&self) -> Result<BuiltDomain> {
        let key = "pde.domain";
        let domain = match self.shape.as_str() {
            "box" => {
                if self.name.is_some() {
                    return Err(Error::config(
                        format!("{key}.name"),
                        "a box domain's pieces select its faces by name (x_lo, x_hi, ...); `name` is for a ball and the parts of a union or difference",
                    ));
                }
                let Shape::Box { lo, hi } = self.primitive(key)? else {
                    unreachable!("shape = box builds a box")
                };
                return Ok(BuiltDomain::Box(lo, hi));
            }
            "ball" => {
                let shape = self.primitive(key)?;
                Domain {
                    parts: vec![Part {
                        name: self.name.clone().unwrap_or_else(|| "outer".into()),
                        shape,
                    }],
                    difference: false,
                }
            }
            "union" | "difference" => {
                self.refuse_unread(key, &["parts"])?;
                let difference = self.shape == "difference";
                let n = self.parts.len();
                if !(2..=MAX_PARTS).contains(&n) {
                    return Err(Error::config(
                        format!("{key}.parts"),
                        format!("a {} needs 2 to {MAX_PARTS} parts, got {n}", self.shape),
                    ));
                }
                let mut parts = Vec::with_capacity(n);
                for (k, p) in self.parts.iter().enumerate() {
                    let at = format!("{key}.parts[{k}]");
                    let shape = p.primitive(&at)?;
                    let default = match (difference, k, n) {
                        (true, 0, _) => "outer".to_string(),
                        (true, _, 2) => "hole".to_string(),
                        (true, _, _) => format!("hole{k}"),
                        (false, _, _) => format!("part{}", k + 1),
                    };
                    parts.push(Part {
                        name: p.name.clone().unwrap_or(default),
                        shape,
                    });
                }
                Domain { parts, difference }
            }
            other => {
                return Err(Error::config(
                    format!("{key}.shape"),
                    format!(
                        "unknown shape {}; known: {}",
                        quoted(other),
                        SHAPES.join(", ")
                    ),
                ));
            }
        };
        check(&domain, self)?;
        Ok(BuiltDomain::Other(domain))
    }
}

/// Dimensions agree and are 2 or 3, names are usable and distinct, and the
/// domain is not empty.
fn check(domain: &Domain, cfg: &DomainConfig) -> Result<()> {
    let key = "pde.domain";
    let d = domain.dim();
    for (k, p) in domain.parts.iter().enumerate() {
        let at = if cfg.parts.is_empty() {
            key.to_string()
        } else {
            format!("{key}.parts[{k}]")
        };
        let pd = match &p.shape {
            Shape::Box { lo, .. } => lo.len(),
            Shape::Ball { center, .. } => center.len(),
        };
        if pd != d || !(2..=3).contains(&pd) {
            return Err(Error::config(
                at,
                format!(
                    "non-box domains are 2-D or 3-D with every part of one dimension; this part has {pd} coordinates, the first {d}"
                ),
            ));
        }
        let good = !p.name.is_empty()
            && p.name != "all"
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !good {
            return Err(Error::config(
                format!("{at}.name"),
                format!(
                    "{} is not a usable name (letters, digits and `_`; not `all`)",
                    quoted(&p.name)
                ),
            ));
        }
        if domain.parts[..k].iter().any(|q| q.name == p.name) {
            return Err(Error::config(
                format!("{at}.name"),
                format!("two parts are named {}", quoted(&p.name)),
            ));
        }
    }
    if domain.volume_fraction() == 0.0 {
        return Err(Error::config(
            key,
            format!(
                "the {} leaves nothing: no probe point of its bounding box is in the domain",
                cfg.shape
            ),
        ));
    }
    Ok(())
}
