//! The allocation-free weight-step solves used in the hot loop: in-place
//! Cholesky on a Gram matrix, a solve from the R factor of a tall-skinny QR,
//! and the block QR behind the TSQR, each with a workspace sized once.

use super::lstsq::{all_finite, check_reg, pinv_solve, pinv_solve_rows};
use super::regularization::Regularization;
use crate::error::Result;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::qr::no_pivoting::factor as qr_factor;
use faer::{Mat, MatMut, MatRef, Par};

/// Reusable buffers for [`qr_r_into`]: Householder QR of `rows x cols` matrices
/// without allocating.
pub struct QrWs {
    h: Mat<f64>,
    mem: MemBuffer,
    rows: usize,
    cols: usize,
}

impl QrWs {
    /// Buffers for matrices of at most `rows` rows and exactly `cols` columns.
    pub fn new(rows: usize, cols: usize) -> Self {
        let bs = qr_factor::recommended_block_size::<f64>(rows.max(1), cols.max(1));
        let req =
            qr_factor::qr_in_place_scratch::<f64>(rows, cols, bs, Par::Seq, Default::default());
        QrWs {
            h: Mat::zeros(bs, cols.min(rows).max(1)),
            mem: MemBuffer::new(req),
            rows,
            cols,
        }
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        mat_bytes(&self.h) + self.mem.len()
    }
}

impl std::fmt::Debug for QrWs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QrWs({} x {})", self.rows, self.cols)
    }
}

/// Householder QR of `a` (`rows x cols`, overwritten) and its upper-triangular
/// factor into `r` (`cols x cols`, zero below the diagonal, and zero rows past
/// `rows` when `a` is wide). Allocation-free; `ws` must fit the shape.
///
/// This is the building block of the tall-skinny QR (TSQR) used by weight
/// steps: the R factor of stacked row blocks is the R factor of the stacked
/// R factors of the blocks.
pub fn qr_r_into(mut a: MatMut<'_, f64>, mut r: MatMut<'_, f64>, ws: &mut QrWs) {
    let (rows, cols) = (a.nrows(), a.ncols());
    assert!(rows <= ws.rows && cols == ws.cols, "QR workspace shape");
    assert!(r.nrows() == cols && r.ncols() == cols, "R factor shape");
    let size = rows.min(cols);
    r.fill(0.0);
    if size == 0 {
        return;
    }
    let bs = ws.h.nrows().min(size);
    householder(a.as_mut(), ws, bs, size);
    for j in 0..cols {
        for i in 0..=j.min(size - 1) {
            r[(i, j)] = a[(i, j)];
        }
    }
}

/// Reusable buffers for one layer's small solves ([`solve_gram_into`],
/// [`solve_qr_factor_into`]): `k` design columns, `m` targets.
pub struct LayerSolveWs {
    k: usize,
    m: usize,
    a: Mat<f64>,
    b: Mat<f64>,
    s: Mat<f64>,
    qr: QrWs,
    mem: MemBuffer,
}

impl LayerSolveWs {
    /// Buffers for `k` design columns and `m` targets.
    pub fn new(k: usize, m: usize) -> Self {
        let req = llt::factor::cholesky_in_place_scratch::<f64>(k, Par::Seq, Default::default())
            .or(llt::solve::solve_in_place_scratch::<f64>(k, m, Par::Seq));
        LayerSolveWs {
            k,
            m,
            a: Mat::zeros(k, k),
            b: Mat::zeros(k, m),
            s: Mat::zeros(3 * k, k + m),
            qr: QrWs::new(3 * k, k + m),
            mem: MemBuffer::new(req),
        }
    }

    /// `(k, m)` after checking `reg` and the solution's shape (`m x k`).
    fn check(&self, reg: &Regularization<'_>, out: MatRef<'_, f64>) -> Result<(usize, usize)> {
        let (k, m) = (self.k, self.m);
        check_reg(reg, k, m)?;
        assert!(out.nrows() == m && out.ncols() == k, "solution shape");
        Ok((k, m))
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        mat_bytes(&self.a)
            + mat_bytes(&self.b)
            + mat_bytes(&self.s)
            + self.qr.bytes()
            + self.mem.len()
    }
}

impl std::fmt::Debug for LayerSolveWs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LayerSolveWs(k = {}, m = {})", self.k, self.m)
    }
}

/// Heap bytes of a matrix (including faer's column padding).
pub fn mat_bytes(m: &Mat<f64>) -> usize {
    m.col_stride().unsigned_abs() * m.ncols() * 8
}

/// The allocation-free form of [`solve_normal`]: `(G + lambda D + rho I) X =
/// R + rho W~_0^T` by an in-place Cholesky, with `G` given by its **lower
/// triangle** (the upper one is not read). Writes `W~ = X^T` (`m x k`) into `out`
/// and returns whether the SVD fallback (which allocates) was needed.
pub fn solve_gram_into(
    g: MatRef<'_, f64>,
    r: MatRef<'_, f64>,
    reg: &Regularization<'_>,
    ws: &mut LayerSolveWs,
    mut out: MatMut<'_, f64>,
) -> Result<bool> {
    let (k, m) = ws.check(reg, out.as_ref())?;
    assert!(g.nrows() == k && g.ncols() == k && r.nrows() == k && r.ncols() == m);
    for j in 0..k {
        for i in j..k {
            ws.a[(i, j)] = g[(i, j)];
        }
    }
    reg.add_to_diagonal(ws.a.as_mut());
    ws.b.copy_from(r);
    reg.add_to_rhs(ws.b.as_mut(), "weight step")?;
    let diag_max = (0..k).map(|i| ws.a[(i, i)].abs()).fold(0.0, f64::max);
    let factored = llt::factor::cholesky_in_place(
        ws.a.as_mut(),
        Default::default(),
        Par::Seq,
        MemStack::new(&mut ws.mem),
        Default::default(),
    );
    if factored.is_ok() {
        // Reject a "successful" factorisation of a numerically singular matrix.
        let piv_min = (0..k)
            .map(|i| ws.a[(i, i)] * ws.a[(i, i)])
            .fold(f64::INFINITY, f64::min);
        if piv_min > diag_max * f64::EPSILON * k as f64 {
            llt::solve::solve_in_place(
                ws.a.as_ref(),
                ws.b.as_mut(),
                Par::Seq,
                MemStack::new(&mut ws.mem),
            );
            if all_finite(ws.b.as_ref()) {
                out.copy_from(ws.b.transpose());
                return Ok(false);
            }
        }
    }
    // Rare path: rebuild the full regularised system and use the SVD.
    let full = Mat::from_fn(k, k, |i, j| {
        let v = if i >= j { g[(i, j)] } else { g[(j, i)] };
        let mut d = 0.0;
        if i == j {
            if i + 1 < k {
                d += reg.lambda;
            }
            d += reg.rho;
        }
        v + d
    });
    let mut rhs = r.to_owned();
    reg.add_to_rhs(rhs.as_mut(), "weight step")?;
    let x = pinv_solve(full.as_ref(), rhs.as_ref())?;
    out.copy_from(x.transpose());
    Ok(true)
}

/// Solve the weight step from the R factor of the stacked data `[P^T T^T]`
/// (`(k + m) x (k + m)`, upper triangle read), i.e. the output of a TSQR over
/// `n_rows` data rows: the regularisation rows are appended to `[R_A C]`, a
/// small QR follows, then a triangular solve. The same answer as Householder
/// QR of the full stacked system, with the same singularity test (diagonal of
/// R against `eps * max(rows, k)`) and SVD fallback (which allocates).
pub fn solve_qr_factor_into(
    rf: MatRef<'_, f64>,
    n_rows: usize,
    reg: &Regularization<'_>,
    ws: &mut LayerSolveWs,
    mut out: MatMut<'_, f64>,
) -> Result<bool> {
    let (k, m) = ws.check(reg, out.as_ref())?;
    assert!(rf.nrows() == k + m && rf.ncols() == k + m, "R factor shape");
    let extra = reg.extra_rows(k);
    let rows = k + extra;
    {
        let mut s = ws.s.as_mut().subrows_mut(0, rows);
        s.fill(0.0);
        for j in 0..k + m {
            for i in 0..=j.min(k - 1) {
                s[(i, j)] = rf[(i, j)];
            }
        }
        let (sa, sb) = s.split_at_col_mut(k);
        reg.write_rows(sa, sb, k)?;
    }
    if extra > 0 {
        // Re-triangularise [R_A C; regularisation rows]; the factor lands in the top rows.
        qr_in_place_top(ws.s.as_mut().subrows_mut(0, rows), &mut ws.qr);
    }
    let total_rows = n_rows + extra;
    let rfac = ws.s.as_ref().submatrix(0, 0, k, k);
    let dmax = (0..k).map(|i| rfac[(i, i)].abs()).fold(0.0, f64::max);
    let dmin = (0..k)
        .map(|i| rfac[(i, i)].abs())
        .fold(f64::INFINITY, f64::min);
    if total_rows >= k && dmax > 0.0 && dmin > dmax * f64::EPSILON * (total_rows.max(k) as f64) {
        ws.b.copy_from(ws.s.as_ref().submatrix(0, k, k, m));
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(
            ws.s.as_ref().submatrix(0, 0, k, k),
            ws.b.as_mut(),
            Par::Seq,
        );
        if all_finite(ws.b.as_ref()) {
            out.copy_from(ws.b.transpose());
            return Ok(false);
        }
    }
    // Rare path: the pseudo-inverse of the small system equals that of the
    // full one (same singular values and right singular vectors).
    let a = ws.s.as_ref().submatrix(0, 0, rows, k).to_owned();
    let b = ws.s.as_ref().submatrix(0, k, rows, m).to_owned();
    let x = pinv_solve_rows(a.as_ref(), b.as_ref(), total_rows)?;
    out.copy_from(x.transpose());
    Ok(true)
}

/// faer's sequential in-place Householder QR of `a` (`size` = min(rows,
/// cols) reflectors, in blocks of `bs` rows of the workspace's factor).
fn householder(a: MatMut<'_, f64>, ws: &mut QrWs, bs: usize, size: usize) {
    let h = ws.h.as_mut().submatrix_mut(0, 0, bs, size);
    qr_factor::qr_in_place(
        a,
        h,
        Par::Seq,
        MemStack::new(&mut ws.mem),
        Default::default(),
    );
}

/// In-place Householder QR of `s`, leaving R in its upper triangle (the part
/// below is zeroed so `s` reads as `[R; 0]`).
fn qr_in_place_top(mut s: MatMut<'_, f64>, ws: &mut QrWs) {
    let (rows, cols) = (s.nrows(), s.ncols());
    let size = rows.min(cols);
    let bs = ws.h.nrows().min(size).max(1);
    householder(s.as_mut(), ws, bs, size);
    for j in 0..cols {
        for i in (j + 1)..rows {
            s[(i, j)] = 0.0;
        }
    }
}
