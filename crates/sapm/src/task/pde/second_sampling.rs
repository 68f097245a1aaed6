//! Points and per-point rows of a second-order problem.
//!
//! Every row is a linear combination, with per-point coefficients, of the
//! network's value, its first derivatives along some input directions and
//! its second derivatives along pairs of them ([`PointOp`]): an interior
//! row is `sum_ij A_ij u_ij + c . grad u + r u` against `f` (one direction
//! per coordinate the operator reads, one pair per nonzero `A_ij`, `i <= j`,
//! coefficient `A_ij + A_ji` off the diagonal); a boundary row is
//! `alpha u + beta n . grad u` against the piece's data (the direction is
//! the outward normal; none when every piece is Dirichlet). Directions are
//! in network coordinates: divided by the half-widths under `pde.scale =
//! "unit"` (`unit_map.rs`), the coefficients unchanged.

use super::boundary::Side;
use super::config::{PdeConfig, Sampling};
use super::domain::Domain;
use super::grid::{per_dim, tensor_grid};
use super::problem::Problem;
use crate::error::{Error, Result};
use faer::Mat;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Per-point linear combination of `u`, first derivatives along `dirs` and
/// second derivatives along `pairs` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct PointOp {
    /// Input directions, `d x N` each.
    pub dirs: Vec<Mat<f64>>,
    /// Pairs `(k, m)`, `k <= m`, of directions.
    pub pairs: Vec<(usize, usize)>,
    /// Coefficient of `u` (`1 x N`), if any.
    pub cu: Option<Mat<f64>>,
    /// Coefficients of the first derivatives, one `1 x N` per direction.
    pub cd: Vec<Mat<f64>>,
    /// Coefficients of the second derivatives, one `1 x N` per pair.
    pub ch: Vec<Mat<f64>>,
}

/// The rows of a second-order problem: interior against `f_int`, boundary
/// against `g_bc` (the pieces' data).
#[derive(Debug, Clone, PartialEq)]
pub struct SecondRows {
    /// Interior rows.
    pub interior: PointOp,
    /// Boundary rows.
    pub boundary: PointOp,
}

fn finite(p: &Problem, what: &str, x: &[f64], v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Problem(format!(
            "{}: {what} is {v} at {x:?}",
            p.name
        )))
    }
}

/// A boundary point: its piece, the point and the outward unit normal.
type BoundaryPoint = (usize, Vec<f64>, Vec<f64>);

/// Boundary points of the faces (or sides of a non-box domain) that carry
/// pieces, with the piece index and the outward normal.
fn boundary_points(
    p: &Problem,
    cfg: &PdeConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<BoundaryPoint>> {
    let d = p.dim();
    if let Some(dom) = &p.domain {
        let claimed: Vec<(Side, usize)> = (0..p.pieces.len())
            .flat_map(|k| p.pieces[k].sides.iter().map(move |&s| (s, k)))
            .collect();
        return side_points(p, dom, &claimed, cfg, rng);
    }
    if d > 1 && matches!(cfg.sampling, Sampling::Lhs | Sampling::Sobol) {
        let dom = Domain::boxed(&p.lo, &p.hi);
        let claimed: Vec<(Side, usize)> = (0..p.pieces.len())
            .map(|k| {
                let face = Some(p.pieces[k].face);
                (Side { part: 0, face }, k)
            })
            .collect();
        return side_points(p, &dom, &claimed, cfg, rng);
    }
    let normal = |k: usize| -> Vec<f64> {
        let f = p.pieces[k].face;
        (0..d)
            .map(|j| if j == f.coord { f.sign() } else { 0.0 })
            .collect()
    };
    let with_normal = |(k, x): (usize, Vec<f64>)| (k, x, normal(k));
    Ok(box_points(p, cfg, rng)
        .into_iter()
        .map(with_normal)
        .collect())
}

/// Points on the sides `claimed` (each with its piece) where they are on the
/// domain's boundary: random, LHS or Sobol candidates (the first coordinate
/// picks a side by its measure, the others place the point on it) until
/// `n_boundary` are kept, or per side a grid sized so the kept points are
/// about `n_boundary` in all at one spacing.
fn side_points(
    p: &Problem,
    dom: &Domain,
    claimed: &[(Side, usize)],
    cfg: &PdeConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<BoundaryPoint>> {
    let d = p.dim();
    let measure: Vec<f64> = claimed.iter().map(|&(s, _)| dom.measure(s)).collect();
    let at = |(s, k): (Side, usize), u: &[f64]| -> Option<BoundaryPoint> {
        let x = dom.point_on(s, u);
        dom.on_boundary(s, &x).then(|| {
            let n = dom.normal(s, &x);
            (k, x, n)
        })
    };
    if cfg.sampling == Sampling::Grid {
        let frac: Vec<f64> = claimed
            .iter()
            .map(|&(s, _)| dom.boundary_fraction(s))
            .collect();
        let on: f64 = measure.iter().zip(&frac).map(|(m, f)| m * f).sum();
        let mut out = Vec::new();
        for (j, &c) in claimed.iter().enumerate() {
            if frac[j] == 0.0 {
                continue;
            }
            let want = (cfg.n_boundary as f64 * measure[j] / on).round().max(1.0) as usize;
            let per = per_dim(want, d - 1);
            let grid = tensor_grid(&vec![per; d - 1], |_, i, k| (i as f64 + 0.5) / k as f64);
            out.extend(grid.iter().filter_map(|u| at(c, u)));
        }
        return Ok(out);
    }
    let total: f64 = measure.iter().sum();
    super::designs::draw(cfg.sampling, cfg.n_boundary, d, rng, |u| {
        let mut r = u[0] * total;
        let mut j = claimed.len() - 1;
        for (cand, m) in measure.iter().enumerate() {
            if r < *m {
                j = cand;
                break;
            }
            r -= m;
        }
        at(claimed[j], &u[1..])
    })
    .ok_or_else(|| super::problem::too_small(p, "boundary"))
}

/// Boundary points of the box faces that carry pieces, with the piece index
/// (random or grid).
fn box_points(p: &Problem, cfg: &PdeConfig, rng: &mut ChaCha8Rng) -> Vec<(usize, Vec<f64>)> {
    let d = p.dim();
    let on_face = |k: usize, u: &[f64]| -> Vec<f64> {
        let f = p.pieces[k].face;
        let mut it = u.iter();
        (0..d)
            .map(|j| {
                if j == f.coord {
                    if f.upper { p.hi[j] } else { p.lo[j] }
                } else {
                    let t = it.next().copied().unwrap_or(0.0);
                    p.lo[j] + t * (p.hi[j] - p.lo[j])
                }
            })
            .collect()
    };
    if d == 1 {
        return (0..p.pieces.len()).map(|k| (k, on_face(k, &[]))).collect();
    }
    match cfg.sampling {
        Sampling::Random | Sampling::Lhs | Sampling::Sobol => {
            let area = |k: usize| -> f64 {
                let i = p.pieces[k].face.coord;
                (0..d)
                    .filter(|&j| j != i)
                    .map(|j| p.hi[j] - p.lo[j])
                    .product()
            };
            let total: f64 = (0..p.pieces.len()).map(area).sum();
            (0..cfg.n_boundary)
                .map(|_| {
                    let mut r = rng.random_range(0.0..total);
                    let mut k = p.pieces.len() - 1;
                    for cand in 0..p.pieces.len() {
                        if r < area(cand) {
                            k = cand;
                            break;
                        }
                        r -= area(cand);
                    }
                    let u: Vec<f64> = (0..d - 1).map(|_| rng.random_range(0.0..1.0)).collect();
                    (k, on_face(k, &u))
                })
                .collect()
        }
        Sampling::Grid => {
            let per = per_dim(cfg.n_boundary.div_ceil(p.pieces.len().max(1)), d - 1);
            let grid = tensor_grid(&vec![per; d - 1], |_, j, k| (j as f64 + 0.5) / k as f64);
            (0..p.pieces.len())
                .flat_map(|k| grid.iter().map(move |u| (k, u.clone())))
                .map(|(k, u)| (k, on_face(k, &u)))
                .collect()
        }
    }
}

/// The interior rows at `pts`.
pub(super) fn interior_rows(p: &Problem, pts: &[Vec<f64>]) -> Result<PointOp> {
    let s = p.op.second.as_ref().expect("a second-order operator");
    let d = p.dim();
    let n = pts.len();
    let (dirs, pairs) = p.op.second_channels();
    // Unit directions of the problem, in network coordinates (domain map).
    let h = p.direction_scale();
    let mut op = PointOp {
        dirs: dirs
            .iter()
            .map(|&i| Mat::from_fn(d, n, |r, _| if r == i { 1.0 / h[i] } else { 0.0 }))
            .collect(),
        pairs: pairs.clone(),
        cu: s.has_r.then(|| Mat::zeros(1, n)),
        cd: dirs.iter().map(|_| Mat::zeros(1, n)).collect(),
        ch: pairs.iter().map(|_| Mat::zeros(1, n)).collect(),
    };
    let (mut a, mut c) = (vec![0.0; d * d], vec![0.0; d]);
    for (j, x) in pts.iter().enumerate() {
        (s.a)(x, &mut a);
        p.op.c_at(x, &mut c);
        for (t, &(k, m)) in pairs.iter().enumerate() {
            let (i1, i2) = (dirs[k], dirs[m]);
            let v = if i1 == i2 {
                a[i1 * d + i1]
            } else {
                a[i1 * d + i2] + a[i2 * d + i1]
            };
            op.ch[t][(0, j)] = finite(p, "A", x, v)?;
        }
        for (k, &i) in dirs.iter().enumerate() {
            op.cd[k][(0, j)] = finite(p, "c", x, c[i])?;
        }
        if let Some(cu) = &mut op.cu {
            cu[(0, j)] = finite(p, "r", x, (s.r)(x))?;
        }
    }
    Ok(op)
}

/// The boundary rows at `pts` (with their piece indices and outward
/// normals) and their data.
fn boundary_rows(p: &Problem, pts: &[BoundaryPoint]) -> Result<(PointOp, Mat<f64>)> {
    let d = p.dim();
    let n = pts.len();
    let normal = p
        .pieces
        .iter()
        .any(|q| q.kind != super::boundary::BcKind::Dirichlet);
    let mut op = PointOp {
        dirs: Vec::new(),
        pairs: Vec::new(),
        cu: Some(Mat::zeros(1, n)),
        cd: Vec::new(),
        ch: Vec::new(),
    };
    if normal {
        op.dirs.push(Mat::zeros(d, n));
        op.cd.push(Mat::zeros(1, n));
    }
    let mut g = Mat::zeros(1, n);
    let h = p.direction_scale();
    for (j, (k, x, nrm)) in pts.iter().enumerate() {
        let q = &p.pieces[*k];
        let what = |w: &str| match &p.domain {
            Some(dom) => format!(
                "{w} of boundary piece {k} ({})",
                dom.side_name(q.sides[0], &p.vars)
            ),
            None => format!("{w} of the piece on {}", q.face.name(&p.vars)),
        };
        if let Some(cu) = &mut op.cu {
            cu[(0, j)] = finite(p, &what("alpha"), x, (q.alpha)(x))?;
        }
        let beta = finite(p, &what("beta"), x, (q.beta)(x))?;
        if normal {
            // The normal in network coordinates (domain map).
            for (i, &v) in nrm.iter().enumerate() {
                op.dirs[0][(i, j)] = v / h[i];
            }
            op.cd[0][(0, j)] = beta;
        }
        g[(0, j)] = finite(p, &what("the data"), x, (q.value)(x))?;
    }
    Ok((op, g))
}

/// What a second-order problem samples beyond its interior points.
pub struct SecondSample {
    /// Boundary points, on the faces with pieces.
    pub boundary: Vec<Vec<f64>>,
    /// `f` at the interior points, `1 x N_i`.
    pub f_int: Mat<f64>,
    /// The boundary data, `1 x N_b`.
    pub g_bc: Mat<f64>,
    /// The operator rows at the interior and boundary points.
    pub rows: SecondRows,
}

/// Sample the boundary points of a second-order problem and evaluate its
/// rows and data at them and at the given `interior` points.
pub(super) fn sample_second(
    p: &Problem,
    cfg: &PdeConfig,
    interior: &[Vec<f64>],
    rng: &mut ChaCha8Rng,
) -> Result<SecondSample> {
    let bpts = boundary_points(p, cfg, rng)?;
    let mut f_int = Mat::zeros(1, interior.len());
    for (j, x) in interior.iter().enumerate() {
        f_int[(0, j)] = finite(p, "f", x, (p.f)(x))?;
    }
    let interior_op = interior_rows(p, interior)?;
    let (boundary_op, g_bc) = boundary_rows(p, &bpts)?;
    Ok(SecondSample {
        boundary: bpts.into_iter().map(|(_, x, _)| x).collect(),
        f_int,
        g_bc,
        rows: SecondRows {
            interior: interior_op,
            boundary: boundary_op,
        },
    })
}
