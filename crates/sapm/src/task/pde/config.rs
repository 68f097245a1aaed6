//! `[pde]`: the problem, its points and the loss weights, and building the
//! [`Problem`] it names.

use super::batch_config::{BatchConfig, BatchMode};
use super::domain_config::{BuiltDomain, DomainConfig};
use super::expr::Expr;
use super::problem::PdeScale;
use super::problem::{Problem, ScalarFn};
pub use super::refine_config::RefineConfig;
use super::second_spec::{BcConfig, SecondSpec, custom_second};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How interior and boundary points are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// Independent uniform points (seeded).
    #[default]
    Random,
    /// Cell-centred tensor grid (`ceil(n^(1/d))` points per coordinate; on
    /// a non-box domain the finest grid of the bounding box with at least
    /// `n` points inside).
    Grid,
    /// Latin hypercube (seeded): each of `n` strata of every coordinate
    /// holds one point (of the bounding box's design, before rejection).
    Lhs,
    /// Owen-scrambled Sobol points (`sobol_burley`, scramble from the seed).
    Sobol,
}

/// `[pde]`: the problem, its points and the loss weights. When present, the
/// run is a PINN and `[data]` is ignored.
///
/// | key | default | meaning |
/// |---|---|---|
/// | `problem` | `transport1d` | `transport1d`, `transport_inflow`, `steady1d`, the second-order `poisson1d`, `poisson2d`, `poisson2d_mixed`, `heat1d`, `helmholtz2d`, `convdiff1d`, `poisson2d_lshape`, `poisson2d_lshape_corner`, `poisson2d_disk`, `poisson2d_hole_robin`, or `custom` |
/// | `beta` | 1.0 | transport speed of `transport1d` / `transport_inflow` |
/// | `k` | 1.0 | wave number of `helmholtz2d` (1..4 in the studies) |
/// | `eps` | 0.01 | diffusion of `convdiff1d` (boundary layer of width `eps`) |
/// | `order` | 1 | custom: 1 (`c . grad u = f`, inflow data `g`) or 2 (`A`, `c`, `r`, `bc`) |
/// | `a` | | custom order 2: `d x d` expressions of the symmetric `A` |
/// | `r` | `"0"` | custom order 2: expression of `r` |
/// | `bc` | | custom order 2: boundary pieces `{ on = "x_lo", kind = "dirichlet" \| "neumann" \| "robin" \| "initial", value = "...", alpha = "...", beta = "..." }` (alpha, beta for robin only; `on` a face, or on a non-box domain `all`, a part's name or `<part>.<face>`; `face` is an alias of `on`) |
/// | `domain` | | custom order 2: `[pde.domain]`, a box, ball, union or difference (`domain_config.rs`); replaces `lo`, `hi` |
/// | `vars` | `["x", "y", "z"][..d]` | custom: variable names (d = len(lo)) |
/// | `lo`, `hi` | | custom: the box |
/// | `periodic` | all false | custom: periodic coordinates |
/// | `c`, `f`, `g`, `exact` | | custom: expressions (`c` has d entries, optional for order 2; `g` for order 1 only; `exact` optional) |
/// | `n_interior`, `n_boundary` | 1000, 200 | collocation points |
/// | `scale` | `unit` for `custom`, `none` for the built-ins | `unit`: the network sees the bounding box mapped to `[-1, 1]^d` (chain rule applied to every row; the model carries the map), `none`: physical coordinates |
/// | `sampling` | `random` | `random`, `grid`, `lhs` or `sobol` (interior and boundary points) |
/// | `n_test` | 101 | test grid points per coordinate (`rel_l2`), lowered to fit `max_test_points` |
/// | `max_test_points` | 50,000 | most points of the test grid in all (101 x 101 fits; 3-D gets 36 per coordinate) |
/// | `alpha`, `beta_bc` | 1.0, 1.0 | weights of the PDE and boundary terms |
/// | `omega_floor` | 1.0 | PM/SAPM-PINN: floor added to `Omega_l^2` |
/// | `omega_deriv` | 1.0 | PM/SAPM-PINN: factor of `sum_j |d_j|^2` in `Omega_l^2` |
/// | `refine` | | `{ rounds, add, candidates }`: residual-based adaptive refinement (second order) |
/// | `curriculum` | `[]` | transport problems: speeds trained before `beta`, each with the `[train]` budget |
/// | `time_windows` | 1 | time marching: `K > 1` trains `K` networks on consecutive windows of `t` |
/// | `window_local_time` | true | time marching: each window's network sees `s = (t - t_k) / h` in `[0, 1]` |
/// | `batch` | | with `train.batch_size`: `{ mode = "subset" \| "resample", boundary = n }`, how collocation batches are drawn (`batch.rs`) |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PdeConfig {
    /// Problem name.
    pub problem: String,
    /// Transport speed of the built-in transport problems.
    pub beta: f64,
    /// Wave number of `helmholtz2d`.
    #[serde(skip_serializing_if = "is_unit")]
    pub k: f64,
    /// Diffusion of `convdiff1d`.
    #[serde(skip_serializing_if = "is_default_eps")]
    pub eps: f64,
    /// Custom: the operator's order (1 or 2).
    #[serde(skip_serializing_if = "is_one")]
    pub order: usize,
    /// Custom order 2: the matrix `A`, `d` rows of `d` expressions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub a: Vec<Vec<String>>,
    /// Custom order 2: `r(x)`.
    #[serde(skip_serializing_if = "is_zero_text")]
    pub r: String,
    /// Custom order 2: the boundary pieces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bc: Vec<BcConfig>,
    /// Custom order 2: a non-box domain (or a box), instead of `lo`, `hi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainConfig>,
    /// Custom: variable names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<String>,
    /// Custom: lower corner.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lo: Vec<f64>,
    /// Custom: upper corner.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hi: Vec<f64>,
    /// Custom: periodic coordinates (default all false).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub periodic: Vec<bool>,
    /// Custom: `c(x)`, one expression per coordinate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub c: Vec<String>,
    /// Custom: `f(x)`.
    pub f: String,
    /// Custom: `g(x)` on the inflow boundary.
    pub g: String,
    /// Custom: exact solution (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Interior collocation points.
    pub n_interior: usize,
    /// Boundary points (on the inflow part).
    pub n_boundary: usize,
    /// Point placement.
    pub sampling: Sampling,
    /// The domain map (`None`: the problem's default, [`PdeConfig::scale_kind`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<PdeScale>,
    /// Test grid points per coordinate (at most `max_test_points` in all).
    pub n_test: usize,
    /// Most points of the test grid: `n_test` per coordinate is lowered to
    /// the largest `k` with `k^d <= max_test_points` (at least 2), so a 3-D
    /// problem does not evaluate 101^3 = 1.03 M points by default.
    #[serde(skip_serializing_if = "is_default_test_points")]
    pub max_test_points: usize,
    /// Weight of `mean(PDE residual^2)`.
    pub alpha: f64,
    /// Weight of `mean(boundary residual^2)`.
    pub beta_bc: f64,
    /// PM/SAPM-PINN: `Omega_{l,n}^2 = omega_floor + sum_{j >= l} |d_{j,n}|^2`.
    pub omega_floor: f64,
    /// PM/SAPM-PINN: factor of the derivative sum in `Omega_{l,n}^2` (0 = unit rows).
    pub omega_deriv: f64,
    /// Residual-based adaptive refinement: `rounds` more stages, each adding
    /// the `add` interior points of largest residual among `candidates`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refine: Option<RefineConfig>,
    /// Curriculum in `beta` (transport problems): train on each of these speeds
    /// in turn, each for the `[train]` budget, before the final `beta`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curriculum: Vec<f64>,
    /// Time marching: split the coordinate `t` into this many equal windows and
    /// train one network per window, each window's initial data being the
    /// previous window's network at its end (1 = one network, no marching).
    /// The counts, weights and `[train]` budget apply to every window.
    #[serde(skip_serializing_if = "is_one")]
    pub time_windows: usize,
    /// Time marching: each window's network takes the local time
    /// `s = (t - t_k) / h in [0, 1]` (the window's PDE multiplied by `h`),
    /// rather than `t` itself.
    #[serde(skip_serializing_if = "is_true")]
    pub window_local_time: bool,
    /// Mini-batches (`train.batch_size`): subset or resampled points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchConfig>,
}

/// Default `pde.max_test_points`: 101 x 101 = 10,201 fits, so 1-D and 2-D
/// grids are as before; a 3-D grid gets 36^3 = 46,656 points.
pub const DEFAULT_MAX_TEST_POINTS: usize = 50_000;

/// Largest `pde.max_test_points` (and test grid), as `data.n_test`.
pub const MAX_TEST_POINTS: usize = 1 << 24;

fn is_default_test_points(n: &usize) -> bool {
    *n == DEFAULT_MAX_TEST_POINTS
}

fn is_one(k: &usize) -> bool {
    *k == 1
}

fn is_unit(k: &f64) -> bool {
    *k == 1.0
}

fn is_default_eps(e: &f64) -> bool {
    *e == DEFAULT_EPS
}

fn is_zero_text(t: &str) -> bool {
    t == "0"
}

/// Default `pde.eps` of `convdiff1d`.
pub const DEFAULT_EPS: f64 = 1e-2;

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for PdeConfig {
    fn default() -> Self {
        PdeConfig {
            problem: "transport1d".into(),
            beta: 1.0,
            k: 1.0,
            eps: DEFAULT_EPS,
            order: 1,
            a: Vec::new(),
            r: "0".into(),
            bc: Vec::new(),
            domain: None,
            vars: Vec::new(),
            lo: Vec::new(),
            hi: Vec::new(),
            periodic: Vec::new(),
            c: Vec::new(),
            f: "0".into(),
            g: "0".into(),
            exact: None,
            n_interior: 1000,
            n_boundary: 200,
            sampling: Sampling::Random,
            scale: None,
            n_test: 101,
            max_test_points: DEFAULT_MAX_TEST_POINTS,
            alpha: 1.0,
            beta_bc: 1.0,
            omega_floor: 1.0,
            omega_deriv: 1.0,
            refine: None,
            curriculum: Vec::new(),
            time_windows: 1,
            window_local_time: true,
            batch: None,
        }
    }
}

/// Built-in problem names: three first-order ones, the second-order ones,
/// then `custom`.
pub const PROBLEMS: [&str; 14] = [
    "transport1d",
    "transport_inflow",
    "steady1d",
    "poisson1d",
    "poisson2d",
    "poisson2d_mixed",
    "heat1d",
    "helmholtz2d",
    "convdiff1d",
    "poisson2d_lshape",
    "poisson2d_lshape_corner",
    "poisson2d_disk",
    "poisson2d_hole_robin",
    "custom",
];

/// The built-in second-order problems (the middle of [`PROBLEMS`]).
const SECOND_ORDER_PROBLEMS: &[&str] = PROBLEMS.split_at(3).1.split_at(10).0;

impl PdeConfig {
    /// Whether the problem is second order (a second-order built-in, or
    /// `custom` with `order = 2`).
    pub fn is_second_order(&self) -> bool {
        SECOND_ORDER_PROBLEMS.contains(&self.problem.as_str())
            || (self.problem == "custom" && self.order == 2)
    }

    /// The domain map in force: `pde.scale`, or by default `unit` for a
    /// user-written (`custom`) problem and `none` for the built-ins, whose
    /// boxes are already of unit size and whose documented figures stay.
    pub fn scale_kind(&self) -> PdeScale {
        self.scale.unwrap_or(if self.problem == "custom" {
            PdeScale::Unit
        } else {
            PdeScale::None
        })
    }

    /// Check counts and weights (the problem itself is checked by [`PdeConfig::problem`]).
    pub fn validate(&self) -> Result<()> {
        if !(1..=2).contains(&self.order) {
            return Err(Error::config(
                "pde.order",
                format!(
                    "operators of order {} are not supported; orders 1 (c . grad u) and 2 (A : Hess u + c . grad u + r u) are",
                    self.order
                ),
            ));
        }
        for (key, v) in [("pde.k", self.k), ("pde.eps", self.eps)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::config(
                    key,
                    format!("must be finite and > 0, got {v}"),
                ));
            }
        }
        if !PROBLEMS.contains(&self.problem.as_str()) {
            return Err(Error::config(
                "pde.problem",
                format!(
                    "unknown problem {}; known: {}",
                    crate::error::quoted(&self.problem),
                    PROBLEMS.join(", ")
                ),
            ));
        }
        for (k, v) in [
            ("pde.n_interior", self.n_interior),
            ("pde.n_boundary", self.n_boundary),
        ] {
            if v == 0 {
                return Err(Error::config(k, "must be >= 1, got 0"));
            }
        }
        if self.n_test < 2 {
            return Err(Error::config(
                "pde.n_test",
                format!("must be >= 2, got {}", self.n_test),
            ));
        }
        if !(2..=MAX_TEST_POINTS).contains(&self.max_test_points) {
            return Err(Error::config(
                "pde.max_test_points",
                format!(
                    "must be in 2..={MAX_TEST_POINTS}, got {}",
                    self.max_test_points
                ),
            ));
        }
        for (k, v) in [
            ("pde.alpha", self.alpha),
            ("pde.beta_bc", self.beta_bc),
            ("pde.beta", self.beta),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::config(k, format!("must be finite and > 0, got {v}")));
            }
        }
        if !self.curriculum.is_empty() {
            if !self.problem.starts_with("transport") {
                return Err(Error::config(
                    "pde.curriculum",
                    format!("only for transport problems, not {:?}", self.problem),
                ));
            }
            if let Some(b) = self
                .curriculum
                .iter()
                .find(|b| !(b.is_finite() && **b > 0.0))
            {
                return Err(Error::config(
                    "pde.curriculum",
                    format!("speeds must be finite and > 0, got {b}"),
                ));
            }
        }
        crate::task::pde::window::check_windows(self.time_windows)?;
        if let Some(r) = &self.refine {
            r.check_counts()?;
            self.check_refinable()?;
        }
        if let Some(b) = &self.batch {
            self.check_batch(b)?;
        }
        if self.time_windows > 1 && !self.curriculum.is_empty() {
            return Err(Error::config(
                "pde.time_windows",
                "time marching cannot be combined with pde.curriculum",
            ));
        }
        for (k, v) in [
            ("pde.omega_floor", self.omega_floor),
            ("pde.omega_deriv", self.omega_deriv),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(
                    k,
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        Ok(())
    }

    /// Test grid points per coordinate for a `d`-dimensional problem:
    /// `n_test`, lowered so the grid has at most `max_test_points` points
    /// (never below 2).
    pub fn test_per_axis(&self, d: usize) -> usize {
        let fits = |k: usize| {
            (0..d.max(1))
                .try_fold(1usize, |acc, _| acc.checked_mul(k))
                .is_some_and(|n| n <= self.max_test_points)
        };
        let mut k = self.n_test;
        // A root estimate, then exact integer steps.
        let root = (self.max_test_points as f64).powf(1.0 / d.max(1) as f64) as usize;
        k = k.min(root + 1);
        while k > 2 && !fits(k) {
            k -= 1;
        }
        k.max(2)
    }

    /// Build the problem (parsing expressions for `custom`).
    pub fn problem(&self) -> Result<Problem> {
        self.validate()?;
        let p = match self.problem.as_str() {
            "transport1d" => Problem::transport1d(self.beta),
            "transport_inflow" => Problem::transport_inflow(self.beta),
            "steady1d" => Problem::steady1d(),
            "poisson1d" => Problem::poisson1d(),
            "poisson2d" => Problem::poisson2d(),
            "poisson2d_mixed" => Problem::poisson2d_mixed(),
            "heat1d" => Problem::heat1d(),
            "helmholtz2d" => Problem::helmholtz2d(self.k),
            "convdiff1d" => Problem::convdiff1d(self.eps),
            "poisson2d_lshape" => Problem::poisson2d_lshape(),
            "poisson2d_lshape_corner" => Problem::poisson2d_lshape_corner(),
            "poisson2d_disk" => Problem::poisson2d_disk(),
            "poisson2d_hole_robin" => Problem::poisson2d_hole_robin(),
            _ => self.custom()?,
        };
        let p = Problem {
            scale: self.scale_kind(),
            ..p
        };
        p.validate()?;
        Ok(p)
    }

    fn custom(&self) -> Result<Problem> {
        let (lo, hi, domain) = match &self.domain {
            None => (self.lo.clone(), self.hi.clone(), None),
            Some(dc) => {
                if let Some(k) = [("pde.lo", &self.lo), ("pde.hi", &self.hi)]
                    .iter()
                    .find(|(_, v)| !v.is_empty())
                {
                    return Err(Error::config(
                        k.0,
                        "`pde.domain` gives the domain and its bounding box; leave out pde.lo and pde.hi",
                    ));
                }
                match dc.build()? {
                    BuiltDomain::Box(lo, hi) => (lo, hi, None),
                    BuiltDomain::Other(dom) => {
                        if self.order != 2 {
                            return Err(Error::config(
                                "pde.domain",
                                "non-box domains are for second-order problems (pde.order = 2)",
                            ));
                        }
                        let (lo, hi) = dom.bounds();
                        (lo, hi, Some(dom))
                    }
                }
            }
        };
        let d = lo.len();
        if d == 0 || d > 3 {
            return Err(Error::config(
                "pde.lo",
                format!("custom problems need 1 to 3 coordinates, got {d}"),
            ));
        }
        if hi.len() != d {
            return Err(Error::config(
                "pde.hi",
                format!("needs {d} entries like pde.lo, got {}", hi.len()),
            ));
        }
        let vars: Vec<String> = if self.vars.is_empty() {
            ["x", "y", "z"][..d].iter().map(|s| s.to_string()).collect()
        } else {
            self.vars.clone()
        };
        if vars.len() != d {
            return Err(Error::config(
                "pde.vars",
                format!("needs {d} names like pde.lo, got {:?}", vars),
            ));
        }
        let periodic = if self.periodic.is_empty() {
            vec![false; d]
        } else {
            self.periodic.clone()
        };
        if periodic.len() != d {
            return Err(Error::config(
                "pde.periodic",
                format!("needs {d} entries like pde.lo, got {}", periodic.len()),
            ));
        }
        if self.order == 2 {
            let spec = SecondSpec {
                a: &self.a,
                c: &self.c,
                r: &self.r,
                f: &self.f,
                exact: self.exact.as_deref(),
                bc: &self.bc,
                lo: &lo,
                hi: &hi,
                domain,
            };
            return custom_second(spec, vars, periodic);
        }
        if self.c.len() != d {
            return Err(Error::config(
                "pde.c",
                format!(
                    "needs one expression per coordinate ({d}: {}), got {}",
                    vars.join(", "),
                    self.c.len()
                ),
            ));
        }
        let c: Vec<Expr> = self
            .c
            .iter()
            .enumerate()
            .map(|(i, t)| Expr::parse(&format!("pde.c[{i}]"), t, &vars))
            .collect::<Result<_>>()?;
        let f = Expr::parse("pde.f", &self.f, &vars)?;
        let g = Expr::parse("pde.g", &self.g, &vars)?;
        let exact = self
            .exact
            .as_ref()
            .map(|t| Expr::parse("pde.exact", t, &vars))
            .transpose()?;
        Ok(Problem {
            name: "custom".into(),
            vars,
            lo,
            hi,
            periodic,
            op: super::operator::Operator::transport(Arc::new(move |x, out| {
                for (o, e) in out.iter_mut().zip(&c) {
                    *o = e.eval(x);
                }
            })),
            f: Arc::new(move |x| f.eval(x)),
            g: Arc::new(move |x| g.eval(x)),
            pieces: Vec::new(),
            domain: None,
            exact: exact.map(|e| Arc::new(move |x: &[f64]| e.eval(x)) as ScalarFn),
            scale: PdeScale::None,
        })
    }
}

impl PdeConfig {
    /// `pde.refine` needs a second-order problem on one stage.
    fn check_refinable(&self) -> Result<()> {
        if !self.is_second_order() {
            return Err(Error::config(
                "pde.refine",
                "adaptive refinement is for second-order problems",
            ));
        }
        if !self.curriculum.is_empty() || self.time_windows > 1 {
            return Err(Error::config(
                "pde.refine",
                "adaptive refinement cannot be combined with pde.curriculum or pde.time_windows",
            ));
        }
        Ok(())
    }

    /// Check that the points can be batched as `b` says.
    fn check_batch(&self, b: &BatchConfig) -> Result<()> {
        if b.mode == BatchMode::Resample {
            if self.sampling == Sampling::Grid {
                return Err(Error::config(
                    "pde.batch.mode",
                    "\"resample\" draws fresh points every step, but pde.sampling = \"grid\" gives the same grid every time; use \"random\", \"lhs\" or \"sobol\", or mode \"subset\"",
                ));
            }
            if self.refine.is_some() {
                return Err(Error::config(
                    "pde.batch.mode",
                    "\"resample\" does not train on the fixed points that pde.refine adds to; use mode \"subset\" with refinement",
                ));
            }
        }
        Ok(())
    }
}
