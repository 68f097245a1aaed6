//! Collocation, boundary and test points of a PDE problem.

use super::config::{PdeConfig, Sampling};
use super::designs;
use super::grid::{per_dim, tensor_grid};
use super::problem::{Problem, ScalarFn, too_small};
use super::second_sampling::{SecondRows, sample_second};
use crate::error::{Error, Result};
use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sampled points of one PINN run: problem coordinates (`x_*`) and network
/// inputs and directions (`e_*`, `v_int`, the second-order rows), the latter
/// with the domain map of `pde.scale` applied.
#[derive(Debug, Clone)]
pub struct PinnData {
    /// Interior points, `d x N_i` (problem coordinates).
    pub x_int: Mat<f64>,
    /// Their network inputs `e(x)`, `d' x N_i`.
    pub e_int: Mat<f64>,
    /// Directions `v = J_e c`, `d' x N_i`.
    pub v_int: Mat<f64>,
    /// `f` at the interior points, `1 x N_i`.
    pub f_int: Mat<f64>,
    /// Inflow boundary points, `d x N_b`.
    pub x_bc: Mat<f64>,
    /// Their network inputs, `d' x N_b`.
    pub e_bc: Mat<f64>,
    /// `g` at the boundary points, `1 x N_b`.
    pub g_bc: Mat<f64>,
    /// Test grid, `d x N_t`.
    pub x_test: Mat<f64>,
    /// Its network inputs, `d' x N_t`.
    pub e_test: Mat<f64>,
    /// Exact solution on the test grid (`1 x N_t`), if known.
    pub u_test: Option<Mat<f64>>,
    /// Exact solution at the interior points, if known.
    pub u_int: Option<Mat<f64>>,
    /// The rows of a second-order problem (`None` for first order, whose
    /// rows are `v_int` against `f_int` and values against `g_bc`).
    pub second: Option<Box<SecondRows>>,
    /// Interior and boundary points over every process when this holds one
    /// process's shard (the means' divisors); `None`: it holds them all.
    pub totals: Option<(usize, usize)>,
}

impl PinnData {
    /// Sample interior and inflow-boundary points and a test grid; rejects
    /// NaN/Inf in `c`, `f`, `g` or the exact solution (naming the point) and an
    /// empty inflow boundary.
    pub fn sample(p: &Problem, cfg: &PdeConfig, seed: u64) -> Result<PinnData> {
        Self::sample_with(p, cfg, seed, true)
    }

    /// [`PinnData::sample`] without the test grid (`test = false`): the
    /// fresh collocation batches of `pde.batch.mode = "resample"`.
    pub(super) fn sample_with(
        p: &Problem,
        cfg: &PdeConfig,
        seed: u64,
        test: bool,
    ) -> Result<PinnData> {
        p.validate()?;
        let d = p.dim();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5_EED0_F9DE);
        let interior = interior_points(p, cfg, &mut rng)?;
        let test = if test {
            test_points(p, cfg)
        } else {
            Vec::new()
        };
        if p.op.is_second_order() {
            return second_order(p, cfg, interior, test, &mut rng);
        }
        let boundary = sample_boundary(p, cfg, &mut rng)?;
        if boundary.is_empty() {
            return Err(Error::Problem(format!(
                "{}: the inflow boundary (faces where c . n < 0) is empty; check the signs of c",
                p.name
            )));
        }
        let de = p.embedded_dim();
        let to_mat = |pts: &[Vec<f64>]| Mat::from_fn(d, pts.len(), |i, j| pts[j][i]);
        let mut e_int = Mat::zeros(de, interior.len());
        let mut v_int = Mat::zeros(de, interior.len());
        let (mut e, mut v) = (vec![0.0; de], vec![0.0; de]);
        for (j, x) in interior.iter().enumerate() {
            p.network_input(x, &mut e, &mut v);
            for i in 0..de {
                e_int[(i, j)] = e[i];
                v_int[(i, j)] = v[i];
            }
            if let Some(bad) = v.iter().find(|a| !a.is_finite()) {
                return Err(Error::Problem(format!(
                    "{}: c is {bad} at interior point {x:?}",
                    p.name
                )));
            }
        }
        let eval = |what: &str, fun: &ScalarFn, pts: &[Vec<f64>]| eval_at(p, what, fun, pts);
        Ok(PinnData {
            f_int: eval("f", &p.f, &interior)?,
            g_bc: eval("g", &p.g, &boundary)?,
            u_test: p
                .exact
                .as_ref()
                .map(|u| eval("exact", u, &test))
                .transpose()?,
            u_int: p
                .exact
                .as_ref()
                .map(|u| eval("exact", u, &interior))
                .transpose()?,
            x_int: to_mat(&interior),
            e_int,
            v_int,
            e_bc: p.network_inputs(&boundary),
            x_bc: to_mat(&boundary),
            e_test: p.network_inputs(&test),
            x_test: to_mat(&test),
            second: None,
            totals: None,
        })
    }

    /// Number of interior points.
    pub fn n_interior(&self) -> usize {
        self.e_int.ncols()
    }
    /// Number of boundary points.
    pub fn n_boundary(&self) -> usize {
        self.e_bc.ncols()
    }
    /// Interior points over every process (the PDE mean's divisor).
    pub fn n_interior_total(&self) -> usize {
        self.totals.map_or(self.n_interior(), |t| t.0)
    }
    /// Boundary points over every process (the boundary mean's divisor).
    pub fn n_boundary_total(&self) -> usize {
        self.totals.map_or(self.n_boundary(), |t| t.1)
    }
}

/// A second-order problem's points: the rows and data come from
/// `second_sampling`; the network inputs are the (mapped) points themselves.
fn second_order(
    p: &Problem,
    cfg: &PdeConfig,
    interior: Vec<Vec<f64>>,
    test: Vec<Vec<f64>>,
    rng: &mut ChaCha8Rng,
) -> Result<PinnData> {
    let d = p.dim();
    let s = sample_second(p, cfg, &interior, rng)?;
    let to_mat = |pts: &[Vec<f64>]| Mat::from_fn(d, pts.len(), |i, j| pts[j][i]);
    let exact = |pts: &[Vec<f64>]| {
        p.exact
            .as_ref()
            .map(|u| eval_at(p, "exact", u, pts))
            .transpose()
    };
    Ok(PinnData {
        f_int: s.f_int,
        u_int: exact(&interior)?,
        u_test: exact(&test)?,
        x_int: to_mat(&interior),
        e_int: p.network_inputs(&interior),
        v_int: Mat::zeros(0, interior.len()),
        x_bc: to_mat(&s.boundary),
        e_bc: p.network_inputs(&s.boundary),
        g_bc: s.g_bc,
        x_test: to_mat(&test),
        e_test: p.network_inputs(&test),
        second: Some(Box::new(s.rows)),
        totals: None,
    })
}

/// `fun` at every point, `1 x N`; NaN/Inf is an error naming `what` and the point.
pub(super) fn eval_at(
    p: &Problem,
    what: &str,
    fun: &ScalarFn,
    pts: &[Vec<f64>],
) -> Result<Mat<f64>> {
    let mut m = Mat::zeros(1, pts.len());
    for (j, x) in pts.iter().enumerate() {
        let y = fun(x);
        if !y.is_finite() {
            return Err(Error::Problem(format!(
                "{}: {what} is {y} at {x:?}",
                p.name
            )));
        }
        m[(0, j)] = y;
    }
    Ok(m)
}

/// Interior points: uniform random, a cell-centred grid, a Latin hypercube
/// or Sobol points of the box, kept where they are in a non-box domain
/// (random, LHS and Sobol until `n_interior` are; the grid refined until at
/// least that many are).
pub(super) fn interior_points(
    p: &Problem,
    cfg: &PdeConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<f64>>> {
    let d = p.dim();
    let n = cfg.n_interior;
    let inside = |x: &[f64]| p.domain.as_ref().is_none_or(|dom| dom.contains(x));
    let grid = |k: usize| {
        tensor_grid(&vec![k; d], |i, j, k| {
            p.lo[i] + (j as f64 + 0.5) / k as f64 * (p.hi[i] - p.lo[i])
        })
    };
    match (cfg.sampling, &p.domain) {
        (Sampling::Random, None) => Ok((0..n)
            .map(|_| (0..d).map(|i| rng.random_range(p.lo[i]..p.hi[i])).collect())
            .collect()),
        (Sampling::Grid, None) => Ok(grid(per_dim(n, d))),
        (Sampling::Grid, Some(_)) => {
            let k0 = per_dim(n, d);
            for k in k0..=k0 * 64 {
                let pts: Vec<Vec<f64>> = grid(k).into_iter().filter(|x| inside(x)).collect();
                if pts.len() >= n {
                    return Ok(pts);
                }
            }
            Err(too_small(p, "interior"))
        }
        (s, _) => designs::draw(s, n, d, rng, |u| {
            let x: Vec<f64> = (0..d)
                .map(|i| p.lo[i] + u[i] * (p.hi[i] - p.lo[i]))
                .collect();
            inside(&x).then_some(x)
        })
        .ok_or_else(|| too_small(p, "interior")),
    }
}

/// The test grid (faces included), without the points outside a non-box
/// domain.
pub(super) fn test_points(p: &Problem, cfg: &PdeConfig) -> Vec<Vec<f64>> {
    let d = p.dim();
    let mut pts = tensor_grid(&vec![cfg.test_per_axis(d); d], |i, j, k| {
        p.lo[i] + j as f64 / (k - 1) as f64 * (p.hi[i] - p.lo[i])
    });
    if let Some(dom) = &p.domain {
        pts.retain(|x| dom.contains(x));
    }
    pts
}

/// Points on the inflow part of the non-periodic faces.
fn sample_boundary(p: &Problem, cfg: &PdeConfig, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<f64>>> {
    let d = p.dim();
    // Faces: (coordinate, upper side?).
    let faces: Vec<(usize, bool)> = (0..d)
        .filter(|&i| !p.periodic[i])
        .flat_map(|i| [(i, false), (i, true)])
        .collect();
    let inflow = |x: &[f64], (i, upper): (usize, bool)| -> Result<bool> {
        let c = p.c_at(x);
        if c.iter().any(|v| !v.is_finite()) {
            return Err(Error::Problem(format!(
                "{}: c is not finite at boundary point {x:?}",
                p.name
            )));
        }
        // Outward normal is -e_i on the lower face, +e_i on the upper one.
        Ok(if upper { c[i] < 0.0 } else { c[i] > 0.0 })
    };
    let face_point = |(i, upper): (usize, bool), u: &[f64]| -> Vec<f64> {
        let mut k = 0;
        (0..d)
            .map(|j| {
                if j == i {
                    if upper { p.hi[j] } else { p.lo[j] }
                } else {
                    let t = u[k];
                    k += 1;
                    p.lo[j] + t * (p.hi[j] - p.lo[j])
                }
            })
            .collect()
    };
    let mut out = Vec::new();
    if d == 1 {
        // Faces are single points: one row each.
        for f in faces {
            let x = face_point(f, &[]);
            if inflow(&x, f)? {
                out.push(x);
            }
        }
        return Ok(out);
    }
    // The area of face `i` (the box's extent in the other coordinates).
    let area = |i: usize| -> f64 {
        (0..d)
            .filter(|&j| j != i)
            .map(|j| p.hi[j] - p.lo[j])
            .product()
    };
    let total: f64 = faces.iter().map(|&(i, _)| area(i)).sum();
    match cfg.sampling {
        Sampling::Random => {
            let max_tries = 1000 * cfg.n_boundary;
            let mut tries = 0;
            while out.len() < cfg.n_boundary && tries < max_tries {
                tries += 1;
                let mut r = rng.random_range(0.0..total);
                let mut f = faces[faces.len() - 1];
                for &cand in &faces {
                    let a = area(cand.0);
                    if r < a {
                        f = cand;
                        break;
                    }
                    r -= a;
                }
                let u: Vec<f64> = (0..d - 1).map(|_| rng.random_range(0.0..1.0)).collect();
                let x = face_point(f, &u);
                if inflow(&x, f)? {
                    out.push(x);
                }
            }
        }
        Sampling::Lhs | Sampling::Sobol => {
            // First coordinate picks the face by area, the others place the
            // point on it; kept where the face is inflow.
            let mut bad = None;
            out = designs::draw(cfg.sampling, cfg.n_boundary, d, rng, |u| {
                let mut r = u[0] * total;
                let mut f = faces[faces.len() - 1];
                for &cand in &faces {
                    if r < area(cand.0) {
                        f = cand;
                        break;
                    }
                    r -= area(cand.0);
                }
                let x = face_point(f, &u[1..]);
                match inflow(&x, f) {
                    Ok(true) => Some(x),
                    Ok(false) => None,
                    Err(e) => {
                        // Accepted, so the draw ends soon; the error is returned.
                        bad.get_or_insert(e);
                        Some(x)
                    }
                }
            })
            .unwrap_or_default();
            if let Some(e) = bad {
                return Err(e);
            }
        }
        Sampling::Grid => {
            let k = per_dim(cfg.n_boundary.div_ceil(faces.len().max(1)), d - 1);
            for &f in &faces {
                for u in tensor_grid(&vec![k; d - 1], |_, j, k| (j as f64 + 0.5) / k as f64) {
                    let x = face_point(f, &u);
                    if inflow(&x, f)? {
                        out.push(x);
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::pde::DEFAULT_MAX_TEST_POINTS;

    fn custom(c: &[&str]) -> PdeConfig {
        PdeConfig {
            problem: "custom".into(),
            lo: vec![0.0, 0.0],
            hi: vec![1.0, 1.0],
            c: c.iter().map(|s| s.to_string()).collect(),
            f: "0".into(),
            g: "sin(2*pi*x)".into(),
            exact: Some("sin(2*pi*(x - 2*y))".into()),
            n_interior: 50,
            n_boundary: 20,
            ..PdeConfig::default()
        }
    }

    #[test]
    fn custom_expressions_match_the_closures() {
        let cfg = custom(&["2.0", "1.0"]);
        let p = cfg.problem().unwrap();
        assert_eq!(p.c_at(&[0.3, 0.1]), vec![2.0, 1.0]);
        let u = p.exact.as_ref().unwrap();
        assert!((u(&[0.3, 0.1]) - (2.0 * std::f64::consts::PI * 0.1).sin()).abs() < 1e-14);
        for s in [
            Sampling::Random,
            Sampling::Grid,
            Sampling::Lhs,
            Sampling::Sobol,
        ] {
            let data = PinnData::sample(
                &p,
                &PdeConfig {
                    sampling: s,
                    ..cfg.clone()
                },
                3,
            )
            .unwrap();
            assert!(data.n_interior() >= 50 && data.n_boundary() >= 1);
            // c = (2, 1) > 0: inflow faces are x = 0 and y = 0 only.
            for j in 0..data.n_boundary() {
                let (x, y) = (data.x_bc[(0, j)], data.x_bc[(1, j)]);
                assert!(x == 0.0 || y == 0.0, "{x} {y}");
            }
        }
        // Seeded: same seed, same points.
        let a = PinnData::sample(&p, &cfg, 9).unwrap();
        let b = PinnData::sample(&p, &cfg, 9).unwrap();
        assert_eq!(a.x_int, b.x_int);
        assert_eq!(a.x_bc, b.x_bc);
    }

    #[test]
    fn bad_specs_are_rejected_with_their_key() {
        let e = custom(&["1.0"]).problem().unwrap_err().to_string();
        assert!(
            e.contains("pde.c") && e.contains("needs one expression"),
            "{e}"
        );
        let e = custom(&["1.0", "cos(x"]).problem().unwrap_err().to_string();
        assert!(e.contains("pde.c[1]"), "{e}");
        let mut c = custom(&["1.0", "1.0"]);
        c.g = "q".into();
        assert!(c.problem().unwrap_err().to_string().contains("pde.g"));
        let mut c = custom(&["1.0", "1.0"]);
        c.problem = "heat".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("pde.problem")
        );
        let mut c = custom(&["1.0", "1.0"]);
        c.n_interior = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("pde.n_interior")
        );
        // c = 0 everywhere: no face has c . n < 0.
        let c = custom(&["0", "0"]);
        let p = c.problem().unwrap();
        let e = PinnData::sample(&p, &c, 0).unwrap_err().to_string();
        assert!(e.contains("inflow boundary") && e.contains("empty"), "{e}");
        // NaN in the data: g = ln(x - 1) is NaN on the inflow face x = 0.
        let mut c = custom(&["1.0", "1.0"]);
        c.g = "ln(x - 1)".into();
        let p = c.problem().unwrap();
        let e = PinnData::sample(&p, &c, 0).unwrap_err().to_string();
        assert!(e.contains("g is NaN"), "{e}");
        let mut c = custom(&["1.0", "sqrt(-1 - x)"]);
        c.g = "0".into();
        let p = c.problem().unwrap();
        assert!(
            PinnData::sample(&p, &c, 0)
                .unwrap_err()
                .to_string()
                .contains("not finite")
        );
    }

    /// The 3-D default grid was 101^3 = 1.03 M points (21.8 s, 1.75 GB of
    /// final evaluation); a total budget caps it, 1-D and 2-D unchanged.
    #[test]
    fn default_test_grids_fit_a_total_point_budget() {
        let c = PdeConfig::default();
        assert_eq!(c.test_per_axis(1), 101);
        assert_eq!(c.test_per_axis(2), 101);
        assert_eq!(c.test_per_axis(3), 36);
        assert!(
            36usize.pow(3) <= DEFAULT_MAX_TEST_POINTS && 37usize.pow(3) > DEFAULT_MAX_TEST_POINTS
        );
        assert_eq!(c.test_per_axis(20), 2);
        let big = PdeConfig {
            max_test_points: 101 * 101 * 101,
            ..PdeConfig::default()
        };
        assert_eq!(big.test_per_axis(3), 101);
        let small = PdeConfig {
            max_test_points: 100,
            ..PdeConfig::default()
        };
        assert_eq!(small.test_per_axis(2), 10);
        assert!(
            PdeConfig {
                max_test_points: 1,
                ..PdeConfig::default()
            }
            .validate()
            .is_err()
        );
        let p = custom(&["0.0", "0.0", "0.0"]);
        let p = PdeConfig {
            lo: vec![0.0; 3],
            hi: vec![1.0; 3],
            c: vec!["1".into(); 3],
            vars: Vec::new(),
            ..p
        };
        let data = PinnData::sample(&p.problem().unwrap(), &p, 0).unwrap();
        assert_eq!(data.x_test.ncols(), 36 * 36 * 36);
    }

    #[test]
    fn steady1d_has_one_boundary_point_and_a_full_test_grid() {
        let cfg = PdeConfig {
            problem: "steady1d".into(),
            n_test: 11,
            ..PdeConfig::default()
        };
        let p = cfg.problem().unwrap();
        let data = PinnData::sample(&p, &cfg, 0).unwrap();
        assert_eq!(data.n_boundary(), 1);
        assert_eq!(data.x_bc[(0, 0)], 0.0);
        assert_eq!(data.x_test.ncols(), 11);
        assert_eq!(data.x_test[(0, 10)], 1.0);
    }
}
