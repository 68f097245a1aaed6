//! The regularised linear least-squares problem of one weight step.
//!
//! For a layer with design columns `p_n` (`k = m_{l-1} + 1` entries, the last
//! is the bias's 1) and targets `t_n` (`m = m_l` entries) we minimise over
//! `W~ = [W, b]` (`m x k`)
//!
//! ```text
//!   sum_g w_g sum_n c_{g,n} |W~ p_{g,n} - t_{g,n}|^2 + lambda |W|_F^2 + rho |W~ - W~_0|_F^2
//! ```
//!
//! where `g` runs over row groups (value rows, derivative rows, boundary rows
//! for PINNs; one group for FNNs), `w_g` is a group weight and `c_{g,n}` an
//! optional per-sample weight. The ridge `lambda` never touches the bias.
//!
//! Two solvers: Householder QR of the stacked system (default: the normal
//! equations square a condition number that reaches 1e10-1e13 in SAPM), and
//! Cholesky on the normal equations (fast, parallel over sample blocks, fine
//! when the system is damped). Both fall back to an SVD pseudo-inverse when the
//! system is numerically singular, and report that they did.

use super::reduce::{Reducer, SampleBlocks};
use super::regularization::Regularization;
use crate::error::{Error, Result};
use faer::linalg::solvers::SolveLstsq;
use faer::{Accum, Mat, MatRef, Par, Side};
use serde::{Deserialize, Serialize};

/// Which factorisation solves a weight step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SolveMethod {
    /// Householder QR of the stacked (weighted, regularised) system.
    #[default]
    Qr,
    /// Cholesky on the normal equations (Gram matrix summed over sample blocks).
    Cholesky,
}

/// One group of rows: columns of `p` (`k x n`) map to columns of `t` (`m x n`).
#[derive(Debug, Clone, Copy)]
pub struct RowGroup<'a> {
    /// Design columns `[s(a); 1]` (or derivative rows with a 0 in the bias slot).
    pub p: MatRef<'a, f64>,
    /// Targets.
    pub t: MatRef<'a, f64>,
    /// Group weight `w_g >= 0`.
    pub weight: f64,
    /// Optional per-sample weights `c_n >= 0` (length `n`).
    pub sample_weights: Option<&'a [f64]>,
}

/// The data of one weight step: a list of row groups sharing `k` and `m`.
#[derive(Debug, Clone, Default)]
pub struct LayerSystem<'a> {
    /// Row groups.
    pub groups: Vec<RowGroup<'a>>,
}

/// What a solve did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SolveInfo {
    /// The factorisation that produced the answer.
    pub method: SolveMethod,
    /// True when the requested factorisation failed or was numerically singular
    /// and the SVD pseudo-inverse was used instead.
    pub fallback: bool,
}

impl<'a> LayerSystem<'a> {
    /// A system with a single unweighted group.
    pub fn single(p: MatRef<'a, f64>, t: MatRef<'a, f64>) -> Self {
        LayerSystem {
            groups: vec![RowGroup {
                p,
                t,
                weight: 1.0,
                sample_weights: None,
            }],
        }
    }

    /// Columns of the design (`k`).
    pub fn k(&self) -> usize {
        self.groups.first().map_or(0, |g| g.p.nrows())
    }

    /// Rows of the target (`m`).
    pub fn m(&self) -> usize {
        self.groups.first().map_or(0, |g| g.t.nrows())
    }

    fn check(&self) -> Result<()> {
        let (k, m) = (self.k(), self.m());
        if self.groups.is_empty() || k == 0 || m == 0 {
            return Err(Error::shape("weight step", "a non-empty system", "no rows"));
        }
        for (i, g) in self.groups.iter().enumerate() {
            if g.p.nrows() != k || g.t.nrows() != m || g.p.ncols() != g.t.ncols() {
                return Err(Error::shape(
                    format!("weight step row group {i}"),
                    format!("{k} x n design and {m} x n target"),
                    format!(
                        "{} x {} design and {} x {} target",
                        g.p.nrows(),
                        g.p.ncols(),
                        g.t.nrows(),
                        g.t.ncols()
                    ),
                ));
            }
            if let Some(c) = g.sample_weights
                && c.len() != g.p.ncols()
            {
                return Err(Error::shape("sample weights", g.p.ncols(), c.len()));
            }
        }
        Ok(())
    }

    /// `sum_g w_g sum_n c_n |p_n|^2`, the trace of the Gram matrix (used to scale
    /// relative ridge and proximal terms).
    pub fn gram_trace(&self) -> f64 {
        let mut tr = 0.0;
        for g in &self.groups {
            for j in 0..g.p.ncols() {
                let c = g.sample_weights.map_or(1.0, |c| c[j]);
                let mut s = 0.0;
                for i in 0..g.p.nrows() {
                    s += g.p[(i, j)] * g.p[(i, j)];
                }
                tr += g.weight * c * s;
            }
        }
        tr
    }

    /// Gram matrix `G = sum w c p p^T` (`k x k`) and `R = sum w c p t^T` (`k x m`),
    /// summed over sample blocks in a fixed order and then over processes.
    pub fn normal_equations(
        &self,
        block: usize,
        reducer: &dyn Reducer,
    ) -> Result<(Mat<f64>, Mat<f64>)> {
        self.check()?;
        let (k, m) = (self.k(), self.m());
        let mut g = Mat::<f64>::zeros(k, k);
        let mut r = Mat::<f64>::zeros(k, m);
        for grp in &self.groups {
            let blocks = SampleBlocks::new(grp.p.ncols(), block);
            let parts = blocks.map(|range| {
                let p = grp.p.subcols(range.start, range.len());
                let t = grp.t.subcols(range.start, range.len());
                let mut gp = Mat::<f64>::zeros(k, k);
                let mut rp = Mat::<f64>::zeros(k, m);
                // With sample weights c the left factor is p scaled column-wise.
                let pc = grp.sample_weights.map(|c| {
                    let c = &c[range.clone()];
                    Mat::from_fn(k, p.ncols(), |i, j| p[(i, j)] * c[j])
                });
                let lhs = pc.as_ref().map_or(p, |pc| pc.as_ref());
                for (out, rhs) in [(gp.as_mut(), p), (rp.as_mut(), t)] {
                    faer::linalg::matmul::matmul(
                        out,
                        Accum::Replace,
                        lhs,
                        rhs.transpose(),
                        grp.weight,
                        Par::Seq,
                    );
                }
                (gp, rp)
            });
            for (gp, rp) in parts {
                g += gp;
                r += rp;
            }
        }
        // One packed buffer per weight step goes through the reducer.
        let mut buf = Vec::with_capacity(k * k + k * m);
        for j in 0..k {
            buf.extend_from_slice(g.col_as_slice(j));
        }
        for j in 0..m {
            buf.extend_from_slice(r.col_as_slice(j));
        }
        reducer.all_reduce_sum(&mut buf)?;
        let g = Mat::from_fn(k, k, |i, j| buf[j * k + i]);
        let r = Mat::from_fn(k, m, |i, j| buf[k * k + j * k + i]);
        Ok((g, r))
    }

    /// The stacked system `A X = B` (`X = W~^T`, `k x m`) including regularisation rows.
    pub fn stacked(&self, reg: &Regularization<'_>) -> Result<(Mat<f64>, Mat<f64>)> {
        self.check()?;
        let (k, m) = (self.k(), self.m());
        let n: usize = self.groups.iter().map(|g| g.p.ncols()).sum();
        let extra = reg.extra_rows(k);
        let mut a = Mat::<f64>::zeros(n + extra, k);
        let mut b = Mat::<f64>::zeros(n + extra, m);
        let mut row = 0;
        for g in &self.groups {
            for j in 0..g.p.ncols() {
                let s = (g.weight * g.sample_weights.map_or(1.0, |c| c[j])).sqrt();
                for i in 0..k {
                    a[(row, i)] = s * g.p[(i, j)];
                }
                for i in 0..m {
                    b[(row, i)] = s * g.t[(i, j)];
                }
                row += 1;
            }
        }
        reg.write_rows(a.as_mut(), b.as_mut(), row)?;
        Ok((a, b))
    }
}

/// Minimise the weight-step objective; returns `W~` (`m x k`).
///
/// ```
/// use faer::Mat;
/// use sapm::linalg::{solve_layer, LayerSystem, LocalReducer, Regularization, SolveMethod};
/// // Recover t = 2 x - 1 from exact data.
/// let p = Mat::from_fn(2, 5, |i, j| if i == 0 { j as f64 } else { 1.0 });
/// let t = Mat::from_fn(1, 5, |_, j| 2.0 * j as f64 - 1.0);
/// let sys = LayerSystem::single(p.as_ref(), t.as_ref());
/// let (w, info) = solve_layer(&sys, &Regularization::default(), SolveMethod::Qr, 64, &LocalReducer).unwrap();
/// assert!((w[(0, 0)] - 2.0).abs() < 1e-12 && (w[(0, 1)] + 1.0).abs() < 1e-12);
/// assert!(!info.fallback);
/// ```
pub fn solve_layer(
    sys: &LayerSystem<'_>,
    reg: &Regularization<'_>,
    method: SolveMethod,
    block: usize,
    reducer: &dyn Reducer,
) -> Result<(Mat<f64>, SolveInfo)> {
    check_reg(reg, sys.k(), sys.m())?;
    match method {
        SolveMethod::Qr if reducer.size() == 1 => {
            let (a, b) = sys.stacked(reg)?;
            let (x, fallback) = lstsq_qr(a.as_ref(), b.as_ref())?;
            Ok((x.transpose().to_owned(), SolveInfo { method, fallback }))
        }
        _ => {
            // Multi-process runs always reduce Gram matrices (the QR path would
            // need the stacked rows of every process).
            let (g, r) = sys.normal_equations(block, reducer)?;
            let (x, fallback) = solve_normal(g.as_ref(), r.as_ref(), reg)?;
            Ok((
                x.transpose().to_owned(),
                SolveInfo {
                    method: SolveMethod::Cholesky,
                    fallback,
                },
            ))
        }
    }
}

pub(super) fn check_reg(reg: &Regularization<'_>, k: usize, m: usize) -> Result<()> {
    if !(reg.lambda >= 0.0 && reg.lambda.is_finite() && reg.rho >= 0.0 && reg.rho.is_finite()) {
        return Err(Error::numerical(
            "weight step",
            format!(
                "regularisation must be finite and >= 0 (lambda {}, rho {})",
                reg.lambda, reg.rho
            ),
        ));
    }
    if let Some(c) = reg.center
        && (c.nrows() != m || c.ncols() != k)
    {
        return Err(Error::shape(
            "proximal centre",
            format!("{m} x {k}"),
            format!("{} x {}", c.nrows(), c.ncols()),
        ));
    }
    Ok(())
}

/// Solve `(G + lambda D + rho I) X = R + rho W~_0^T` by Cholesky (`D` = identity
/// without the bias entry), falling back to an SVD pseudo-inverse. Returns `X`
/// (`k x m`) and whether the fallback was used.
pub fn solve_normal(
    g: MatRef<'_, f64>,
    r: MatRef<'_, f64>,
    reg: &Regularization<'_>,
) -> Result<(Mat<f64>, bool)> {
    let k = g.nrows();
    let mut a = g.to_owned();
    let mut b = r.to_owned();
    reg.add_to_diagonal(a.as_mut());
    reg.add_to_rhs(b.as_mut(), "weight step")?;
    if let Ok(llt) = a.llt(Side::Lower) {
        use faer::linalg::solvers::Solve;
        let x = llt.solve(&b);
        // Reject a "successful" factorisation of a numerically singular matrix.
        let diag_max = (0..k).map(|i| a[(i, i)].abs()).fold(0.0, f64::max);
        let l = llt.L();
        let piv_min = (0..k)
            .map(|i| l[(i, i)] * l[(i, i)])
            .fold(f64::INFINITY, f64::min);
        if all_finite(x.as_ref()) && piv_min > diag_max * f64::EPSILON * k as f64 {
            return Ok((x, false));
        }
    }
    let x = pinv_solve(a.as_ref(), b.as_ref())?;
    Ok((x, true))
}

/// Least squares `min |A X - B|` by Householder QR, with an SVD fallback when
/// `A` is numerically rank deficient. Returns `X` and whether it fell back.
pub fn lstsq_qr(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<(Mat<f64>, bool)> {
    let k = a.ncols();
    if a.nrows() >= k {
        let qr = a.qr();
        let rf = qr.thin_R();
        let dmax = (0..k).map(|i| rf[(i, i)].abs()).fold(0.0, f64::max);
        let dmin = (0..k)
            .map(|i| rf[(i, i)].abs())
            .fold(f64::INFINITY, f64::min);
        if dmax > 0.0 && dmin > dmax * f64::EPSILON * (a.nrows().max(k) as f64) {
            let x = qr.solve_lstsq(b);
            if all_finite(x.as_ref()) {
                return Ok((x, false));
            }
        }
    }
    Ok((pinv_solve(a, b)?, true))
}

/// Minimum-norm least squares through the SVD with the usual cut-off
/// `s_i > eps * max(n, k) * s_max` (as LAPACK's gelsd with default rcond).
pub fn pinv_solve(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<Mat<f64>> {
    pinv_solve_rows(a, b, a.nrows())
}

/// [`pinv_solve`] with the cut-off of a system of `rows` rows: `a` may be the
/// triangular factor of a taller system (same singular values and solution).
pub(super) fn pinv_solve_rows(
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    rows: usize,
) -> Result<Mat<f64>> {
    let svd = a
        .thin_svd()
        .map_err(|e| Error::numerical("weight step SVD", format!("{e:?}")))?;
    let (u, s, v) = (svd.U(), svd.S().column_vector(), svd.V());
    let smax = (0..s.nrows()).map(|i| s[i]).fold(0.0, f64::max);
    let cut = smax * f64::EPSILON * (rows.max(a.ncols()) as f64);
    // X = V S^+ U^T B
    let mut utb = u.transpose() * b;
    for i in 0..utb.nrows() {
        let inv = if s[i] > cut { 1.0 / s[i] } else { 0.0 };
        for j in 0..utb.ncols() {
            utb[(i, j)] *= inv;
        }
    }
    let x = v * utb;
    if !all_finite(x.as_ref()) {
        return Err(Error::numerical(
            "weight step",
            "SVD solution is not finite",
        ));
    }
    Ok(x)
}

/// 2-norm condition number `s_max / s_min` of a matrix (`inf` when singular).
pub fn condition_number(a: MatRef<'_, f64>) -> f64 {
    match a.singular_values() {
        Ok(s) if !s.is_empty() => {
            let max = s.iter().cloned().fold(0.0, f64::max);
            let min = s.iter().cloned().fold(f64::INFINITY, f64::min);
            if min > 0.0 { max / min } else { f64::INFINITY }
        }
        _ => f64::NAN,
    }
}

pub(super) fn all_finite(x: MatRef<'_, f64>) -> bool {
    (0..x.ncols()).all(|j| (0..x.nrows()).all(|i| x[(i, j)].is_finite()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::LocalReducer;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_mat(rng: &mut ChaCha8Rng, r: usize, c: usize) -> Mat<f64> {
        Mat::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0))
    }

    /// Objective value for a candidate `W~`.
    fn objective(sys: &LayerSystem<'_>, reg: &Regularization<'_>, w: MatRef<'_, f64>) -> f64 {
        let mut f = 0.0;
        for g in &sys.groups {
            let res = w * g.p - g.t;
            for j in 0..res.ncols() {
                let c = g.sample_weights.map_or(1.0, |c| c[j]);
                for i in 0..res.nrows() {
                    f += g.weight * c * res[(i, j)] * res[(i, j)];
                }
            }
        }
        let k = w.ncols();
        f += reg.lambda * w.subcols(0, k - 1).squared_norm_l2();
        if let Some(c) = reg.center {
            f += reg.rho * (w - c).squared_norm_l2();
        }
        f
    }

    /// Brute-force solution: dense normal equations in a naive loop, solved by
    /// Gaussian elimination; compared with both solvers.
    fn direct(sys: &LayerSystem<'_>, reg: &Regularization<'_>) -> Mat<f64> {
        let (k, m) = (sys.k(), sys.m());
        let mut g = vec![vec![0.0; k + m]; k];
        for grp in &sys.groups {
            for n in 0..grp.p.ncols() {
                let c = grp.weight * grp.sample_weights.map_or(1.0, |c| c[n]);
                for i in 0..k {
                    for j in 0..k {
                        g[i][j] += c * grp.p[(i, n)] * grp.p[(j, n)];
                    }
                    for o in 0..m {
                        g[i][k + o] += c * grp.p[(i, n)] * grp.t[(o, n)];
                    }
                }
            }
        }
        for i in 0..k {
            if i + 1 < k {
                g[i][i] += reg.lambda;
            }
            g[i][i] += reg.rho;
            if let Some(c) = reg.center {
                for o in 0..m {
                    g[i][k + o] += reg.rho * c[(o, i)];
                }
            }
        }
        for col in 0..k {
            let piv = (col..k)
                .max_by(|&a, &b| g[a][col].abs().total_cmp(&g[b][col].abs()))
                .unwrap();
            g.swap(col, piv);
            for r in 0..k {
                if r != col {
                    let f = g[r][col] / g[col][col];
                    for c in col..k + m {
                        g[r][c] -= f * g[col][c];
                    }
                }
            }
        }
        Mat::from_fn(m, k, |o, i| g[i][k + o] / g[i][i])
    }

    #[test]
    fn both_solvers_solve_the_least_squares_problem() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (k, m, n, lambda, rho, weighted) in [
            (3, 2, 20, 0.0, 0.0, false),
            (6, 4, 50, 0.3, 0.0, false),
            (5, 1, 40, 0.0, 0.7, true),
            (8, 3, 100, 1e-3, 1e-2, true),
        ] {
            let mut p = rand_mat(&mut rng, k, n);
            p.as_mut().row_mut(k - 1).fill(1.0);
            let t = rand_mat(&mut rng, m, n);
            let p2 = rand_mat(&mut rng, k, n / 2);
            let t2 = rand_mat(&mut rng, m, n / 2);
            let c: Vec<f64> = (0..n / 2).map(|_| rng.random_range(0.1..2.0)).collect();
            let center = rand_mat(&mut rng, m, k);
            let mut sys = LayerSystem::single(p.as_ref(), t.as_ref());
            if weighted {
                sys.groups.push(RowGroup {
                    p: p2.as_ref(),
                    t: t2.as_ref(),
                    weight: 0.37,
                    sample_weights: Some(&c),
                });
            }
            let reg = Regularization {
                lambda,
                rho,
                center: Some(center.as_ref()),
            };
            let want = direct(&sys, &reg);
            for method in [SolveMethod::Qr, SolveMethod::Cholesky] {
                for block in [7, 1000] {
                    let (w, info) = solve_layer(&sys, &reg, method, block, &LocalReducer).unwrap();
                    assert!(!info.fallback);
                    let err = (&w - &want).norm_l2() / want.norm_l2();
                    assert!(err < 1e-10, "{method:?} k={k} err {err}");
                    // Optimality: small perturbations never lower the objective.
                    let f0 = objective(&sys, &reg, w.as_ref());
                    for _ in 0..5 {
                        let d = rand_mat(&mut rng, m, k) * faer::Scale(1e-4);
                        assert!(objective(&sys, &reg, (&w + &d).as_ref()) >= f0 - 1e-12 * f0.abs());
                    }
                }
            }
        }
    }

    #[test]
    fn rank_deficient_systems_fall_back_to_the_pseudo_inverse() {
        // Two identical design rows: singular Gram, min-norm solution splits the weight.
        let p = Mat::from_fn(3, 10, |i, j| if i < 2 { j as f64 } else { 1.0 });
        let t = Mat::from_fn(1, 10, |_, j| 4.0 * j as f64);
        let sys = LayerSystem::single(p.as_ref(), t.as_ref());
        for method in [SolveMethod::Qr, SolveMethod::Cholesky] {
            let (w, info) =
                solve_layer(&sys, &Regularization::default(), method, 64, &LocalReducer).unwrap();
            assert!(info.fallback, "{method:?}");
            assert!(
                (w[(0, 0)] - 2.0).abs() < 1e-8 && (w[(0, 1)] - 2.0).abs() < 1e-8,
                "{w:?}"
            );
        }
    }

    #[test]
    fn condition_number_of_a_diagonal() {
        let a = Mat::from_fn(3, 3, |i, j| if i == j { [1.0, 10.0, 1e-3][i] } else { 0.0 });
        assert!((condition_number(a.as_ref()) - 1e4).abs() < 1e-6);
    }
}
