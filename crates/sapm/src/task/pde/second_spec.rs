//! A custom second-order problem from `[pde]` (`order = 2`): the matrix `A`,
//! the vector `c`, `r`, `f` and the boundary pieces as expressions.
//!
//! ```toml
//! [pde]
//! problem = "custom"
//! order = 2
//! vars = ["x", "t"]
//! lo = [0.0, 0.0]
//! hi = [1.0, 1.0]
//! a = [["-0.1", "0"], ["0", "0"]]      # u_t - 0.1 u_xx = 0
//! c = ["0", "1"]
//! f = "0"
//! bc = [
//!   { on = "x_lo", kind = "dirichlet", value = "0" },
//!   { on = "x_hi", kind = "neumann", value = "-pi*exp(-0.1*pi^2*t)" },
//!   { on = "t_lo", kind = "initial", value = "sin(pi*x)" },
//! ]
//! ```
//!
//! On a non-box domain (`[pde.domain]`) a piece's `on` is `all`, a part's
//! name (`outer`, `hole`: every side of it that is on the boundary) or
//! `<part>.<var>_lo|hi` (one face of a box part); every side on the
//! boundary needs exactly one piece.

use super::boundary::{BoundaryPiece, Face};
use super::domain::Domain;
use super::expr::Expr;
use super::operator::{Operator, ScalarFn, SecondOrder};
use super::problem::PdeScale;
use super::problem::Problem;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

fn scalar(e: Expr) -> ScalarFn {
    Arc::new(move |x| e.eval(x))
}

/// The kind of a `[[pde.bc]]` piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BcKindConfig {
    /// `u = value`.
    Dirichlet,
    /// `n . grad u = value` (`n` the outward normal).
    Neumann,
    /// `alpha u + beta n . grad u = value`.
    Robin,
    /// Initial data `u = value` on the lower face of a time coordinate
    /// (a Dirichlet piece there).
    Initial,
}

/// One boundary piece of a custom second-order problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BcConfig {
    /// Where the piece holds: a box face `<var>_lo` / `<var>_hi`, or on a
    /// non-box domain `all`, a part's name or `<part>.<var>_lo|hi`
    /// (`face` is accepted for it).
    #[serde(alias = "face")]
    pub on: String,
    /// Dirichlet, Neumann, Robin or initial data.
    pub kind: BcKindConfig,
    /// The data `g` or `h` (expression).
    pub value: String,
    /// Robin: `alpha(x)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<String>,
    /// Robin: `beta(x)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<String>,
}

/// The fields of `[pde]` that a custom second-order problem reads.
pub(crate) struct SecondSpec<'a> {
    /// `A` as rows of expressions.
    pub a: &'a [Vec<String>],
    /// `c` (one expression per coordinate, or none).
    pub c: &'a [String],
    /// `r`.
    pub r: &'a str,
    /// `f`.
    pub f: &'a str,
    /// The exact solution, if given.
    pub exact: Option<&'a str>,
    /// The boundary pieces.
    pub bc: &'a [BcConfig],
    /// Lower corner of the box.
    pub lo: &'a [f64],
    /// Upper corner of the box (the bounding box of a non-box domain).
    pub hi: &'a [f64],
    /// A non-box domain, if any.
    pub domain: Option<Domain>,
}

/// Build the custom second-order problem of `cfg` (variables `vars`).
pub(crate) fn custom_second(
    cfg: SecondSpec<'_>,
    vars: Vec<String>,
    periodic: Vec<bool>,
) -> Result<Problem> {
    let d = vars.len();
    if cfg.a.len() != d || cfg.a.iter().any(|row| row.len() != d) {
        return Err(Error::config(
            "pde.a",
            format!(
                "a second-order problem needs A as {d} rows of {d} expressions (variables {}), got {} rows",
                vars.join(", "),
                cfg.a.len()
            ),
        ));
    }
    let a: Vec<Expr> = (0..d * d)
        .map(|k| {
            let (i, j) = (k / d, k % d);
            Expr::parse(&format!("pde.a[{i}][{j}]"), &cfg.a[i][j], &vars)
        })
        .collect::<Result<_>>()?;
    for i in 0..d {
        for j in 0..i {
            if a[i * d + j].is_constant_zero() != a[j * d + i].is_constant_zero() {
                return Err(Error::config(
                    "pde.a",
                    format!(
                        "A is not symmetric: a[{i}][{j}] = {:?} but a[{j}][{i}] = {:?}",
                        cfg.a[i][j], cfg.a[j][i]
                    ),
                ));
            }
        }
    }
    let c_text: Vec<String> = if cfg.c.is_empty() {
        vec!["0".into(); d]
    } else {
        cfg.c.to_vec()
    };
    if c_text.len() != d {
        return Err(Error::config(
            "pde.c",
            format!(
                "needs one expression per coordinate ({d}: {}), got {}",
                vars.join(", "),
                c_text.len()
            ),
        ));
    }
    let c: Vec<Expr> = c_text
        .iter()
        .enumerate()
        .map(|(i, t)| Expr::parse(&format!("pde.c[{i}]"), t, &vars))
        .collect::<Result<_>>()?;
    let r = Expr::parse("pde.r", cfg.r, &vars)?;
    let f = Expr::parse("pde.f", cfg.f, &vars)?;
    let exact = cfg
        .exact
        .map(|t| Expr::parse("pde.exact", t, &vars))
        .transpose()?;
    let a_pairs = (0..d)
        .flat_map(|i| (i..d).map(move |j| (i, j)))
        .filter(|&(i, j)| !a[i * d + j].is_constant_zero())
        .collect();
    let c_dirs = (0..d).filter(|&i| !c[i].is_constant_zero()).collect();
    let has_r = !r.is_constant_zero();
    let second = SecondOrder {
        a: Arc::new(move |x, out| {
            for (o, e) in out.iter_mut().zip(&a) {
                *o = e.eval(x);
            }
        }),
        r: scalar(r),
        a_pairs,
        c_dirs,
        has_r,
    };
    let op = Operator::second_order(
        Arc::new(move |x, out| {
            for (o, e) in out.iter_mut().zip(&c) {
                *o = e.eval(x);
            }
        }),
        second,
    );
    let mut pieces = Vec::with_capacity(cfg.bc.len());
    for (k, b) in cfg.bc.iter().enumerate() {
        let key = |leaf: &str| format!("pde.bc[{k}].{leaf}");
        let (face, sides) = match &cfg.domain {
            None => {
                let face = Face::parse(&b.on, &vars).ok_or_else(|| {
                    let names: Vec<String> = vars
                        .iter()
                        .flat_map(|v| [format!("{v}_lo"), format!("{v}_hi")])
                        .collect();
                    Error::config(
                        key("on"),
                        format!(
                            "unknown face {:?}; the faces are {}",
                            b.on,
                            names.join(", ")
                        ),
                    )
                })?;
                (face, Vec::new())
            }
            Some(dom) => {
                let sides = dom.select(&b.on, &vars).ok_or_else(|| {
                    Error::config(
                        key("on"),
                        format!(
                            "no boundary part is named {:?}; this domain's are {}",
                            b.on,
                            dom.selector_names(&vars).join(", ")
                        ),
                    )
                })?;
                if b.kind == BcKindConfig::Initial {
                    return Err(Error::config(
                        key("kind"),
                        "initial data needs a box with a time coordinate, not a non-box domain",
                    ));
                }
                (
                    Face {
                        coord: 0,
                        upper: false,
                    },
                    sides,
                )
            }
        };
        let value = scalar(Expr::parse(&key("value"), &b.value, &vars)?);
        let robin = b.kind == BcKindConfig::Robin;
        for (leaf, given) in [("alpha", &b.alpha), ("beta", &b.beta)] {
            if robin != given.is_some() {
                let why = if robin {
                    "a robin piece needs alpha and beta"
                } else {
                    "it is only read for kind = \"robin\""
                };
                return Err(Error::config(key(leaf), why));
            }
        }
        let piece = match b.kind {
            BcKindConfig::Dirichlet => BoundaryPiece::dirichlet(face, value),
            BcKindConfig::Initial if face.upper => {
                return Err(Error::config(
                    key("kind"),
                    format!(
                        "initial data goes on the lower face of the time coordinate ({}_lo), not on {}",
                        vars[face.coord], b.on
                    ),
                ));
            }
            BcKindConfig::Initial => BoundaryPiece::dirichlet(face, value),
            BcKindConfig::Neumann => BoundaryPiece::neumann(face, value),
            BcKindConfig::Robin => {
                let parse = |leaf: &str, t: &Option<String>| {
                    Expr::parse(&key(leaf), t.as_deref().unwrap_or("0"), &vars).map(scalar)
                };
                BoundaryPiece::robin(
                    face,
                    parse("alpha", &b.alpha)?,
                    parse("beta", &b.beta)?,
                    value,
                )
            }
        };
        pieces.push(piece.on_sides(sides));
    }
    Ok(Problem {
        name: "custom".into(),
        lo: cfg.lo.to_vec(),
        hi: cfg.hi.to_vec(),
        periodic,
        op,
        f: scalar(f),
        g: Arc::new(|_| 0.0),
        pieces,
        domain: cfg.domain,
        exact: exact.map(scalar),
        vars,
        scale: PdeScale::None,
    })
}
