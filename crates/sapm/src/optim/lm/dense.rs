//! Dense kernels of the Gauss-Newton solves: Gram matrices and a blocked
//! Cholesky factorisation, parallel over fixed tiles with faer sequential
//! inside each tile. Every entry is computed by the same sequence of
//! operations whatever the thread count, so results are bit-identical on
//! any number of threads.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, MatMut, MatRef, Par, Side};
use rayon::prelude::*;

/// Tile edge of the Gram and Cholesky kernels.
pub const TILE: usize = 128;

/// Row strips of `g`, `tile` high (the last lower), with their first row.
pub(crate) fn row_strips(g: MatMut<'_, f64>, tile: usize) -> Vec<(usize, MatMut<'_, f64>)> {
    let mut out = Vec::new();
    let mut rest = g;
    let mut start = 0;
    while rest.nrows() > 0 {
        let h = tile.min(rest.nrows());
        let (a, b) = rest.split_at_row_mut(h);
        out.push((start, a));
        rest = b;
        start += h;
    }
    out
}

/// Column strips of `g`, `tile` wide (the last narrower), with their first column.
pub(crate) fn col_strips(g: MatMut<'_, f64>, tile: usize) -> Vec<(usize, MatMut<'_, f64>)> {
    row_strips(g.transpose_mut(), tile)
        .into_iter()
        .map(|(start, s)| (start, s.transpose_mut()))
        .collect()
}

pub(crate) fn run_par<T: Send>(items: Vec<T>, f: impl Fn(T) + Sync + Send) {
    if items.len() <= 1 {
        items.into_iter().for_each(f);
    } else {
        items.into_par_iter().for_each(f);
    }
}

/// Lower triangle of `g = j j^T` (`j` is `m x p`), by row strips in parallel.
pub fn gram_rows_lower(j: MatRef<'_, f64>, g: MatMut<'_, f64>) {
    assert_eq!(g.nrows(), j.nrows());
    run_par(row_strips(g, TILE), |(a0, strip)| {
        let h = strip.nrows();
        let end = a0 + h;
        let mut strip = strip;
        let (left, diag) = strip.rb_mut().subcols_mut(0, end).split_at_col_mut(a0);
        matmul(
            left,
            Accum::Replace,
            j.subrows(a0, h),
            j.subrows(0, a0).transpose(),
            1.0,
            Par::Seq,
        );
        triangular::matmul(
            diag,
            BlockStructure::TriangularLower,
            Accum::Replace,
            j.subrows(a0, h),
            BlockStructure::Rectangular,
            j.subrows(a0, h).transpose(),
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
    });
}

/// Lower triangle of `g += alpha j^T j` (`j` is `c x p`, a chunk of rows),
/// by column strips in parallel.
pub fn gram_cols_add_lower(j: MatRef<'_, f64>, g: MatMut<'_, f64>, alpha: f64) {
    let p = g.ncols();
    assert_eq!(p, j.ncols());
    run_par(col_strips(g, TILE), |(b0, strip)| {
        let w = strip.ncols();
        let mut strip = strip.subrows_mut(b0, p - b0);
        let (diag, below) = strip.rb_mut().split_at_row_mut(w);
        triangular::matmul(
            diag,
            BlockStructure::TriangularLower,
            Accum::Add,
            j.subcols(b0, w).transpose(),
            BlockStructure::Rectangular,
            j.subcols(b0, w),
            BlockStructure::Rectangular,
            alpha,
            Par::Seq,
        );
        if b0 + w < p {
            matmul(
                below,
                Accum::Add,
                j.subcols(b0 + w, p - b0 - w).transpose(),
                j.subcols(b0, w),
                alpha,
                Par::Seq,
            );
        }
    });
}

/// Copy the lower triangle of a square matrix onto its upper triangle.
pub fn mirror_lower(mut g: MatMut<'_, f64>) {
    let n = g.nrows();
    for j in 0..n {
        for i in 0..j {
            g[(i, j)] = g[(j, i)];
        }
    }
}

/// Cholesky factor `L` of the lower triangle of `a`, in place (the strict
/// upper triangle is left alone), right-looking by blocks of [`TILE`] with
/// the panel solves and trailing updates parallel over tiles. Fails when a
/// pivot is not positive or is below `eps n` times the largest diagonal
/// entry (numerically singular).
pub fn cholesky_lower(mut a: MatMut<'_, f64>) -> bool {
    let n = a.nrows();
    let diag_max = (0..n).map(|i| a[(i, i)].abs()).fold(0.0, f64::max);
    if !diag_max.is_finite() {
        return false;
    }
    let bs = TILE.min(n.max(1));
    let req = llt::factor::cholesky_in_place_scratch::<f64>(bs, Par::Seq, Default::default());
    let mut mem = MemBuffer::new(req);
    let mut k0 = 0;
    while k0 < n {
        let kb = bs.min(n - k0);
        let (_, right) = a.rb_mut().split_at_col_mut(k0);
        let (panel_cols, trailing_cols) = right.split_at_col_mut(kb);
        let (_, panel_cols) = panel_cols.split_at_row_mut(k0);
        let (mut dblock, mut panel) = panel_cols.split_at_row_mut(kb);
        if llt::factor::cholesky_in_place(
            dblock.rb_mut(),
            Default::default(),
            Par::Seq,
            MemStack::new(&mut mem),
            Default::default(),
        )
        .is_err()
        {
            return false;
        }
        for i in 0..kb {
            let d = dblock[(i, i)];
            if !(d.is_finite() && d * d > diag_max * f64::EPSILON * n as f64) {
                return false;
            }
        }
        let l = dblock.rb();
        // Panel: X = B L^{-T}, i.e. L X^T = B^T, tile rows independently.
        run_par(row_strips(panel.rb_mut(), TILE), |(_, t)| {
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                l,
                t.transpose_mut(),
                Par::Seq,
            );
        });
        // Trailing update of the lower triangle: A22 -= X X^T, column strips.
        let (_, trailing) = trailing_cols.split_at_row_mut(k0 + kb);
        gram_cols_add_lower(panel.rb().transpose(), trailing, -1.0);
        k0 += kb;
    }
    true
}

/// Solve `L L^T x = b` in place with the factor from [`cholesky_lower`].
pub fn cholesky_solve(l: MatRef<'_, f64>, b: &mut [f64]) {
    let n = b.len();
    let mut mem = MemBuffer::new(llt::solve::solve_in_place_scratch::<f64>(n, 1, Par::Seq));
    let rhs = MatMut::from_column_major_slice_mut(b, n, 1);
    llt::solve::solve_in_place(l, rhs, Par::Seq, MemStack::new(&mut mem));
}

/// `y = a x` for a dense `a` (sequential).
pub fn gemv(a: MatRef<'_, f64>, x: &[f64], y: &mut [f64]) {
    let xv = MatRef::from_column_major_slice(x, x.len(), 1);
    let yv = MatMut::from_column_major_slice_mut(y, a.nrows(), 1);
    matmul(yv, Accum::Replace, a, xv, 1.0, Par::Seq);
}

/// `y += alpha a x` (sequential).
pub fn gemv_add(a: MatRef<'_, f64>, x: &[f64], alpha: f64, y: &mut [f64]) {
    let xv = MatRef::from_column_major_slice(x, x.len(), 1);
    let yv = MatMut::from_column_major_slice_mut(y, a.nrows(), 1);
    matmul(yv, Accum::Add, a, xv, alpha, Par::Seq);
}

/// Eigen-decomposition of a symmetric matrix (lower triangle read) for the
/// rare ill-conditioned solves: `(G + lambda I)^{-1} b` for any `lambda`
/// with eigenvalues clipped at 0.
pub struct EigenSolver {
    u: faer::Mat<f64>,
    e: Vec<f64>,
}

impl EigenSolver {
    /// Decompose `g` (symmetric; its lower triangle is used).
    pub fn new(g: MatRef<'_, f64>) -> Option<EigenSolver> {
        let evd = g.self_adjoint_eigen(Side::Lower).ok()?;
        let s = evd.S().column_vector();
        let e = (0..s.nrows()).map(|i| s[i].max(0.0)).collect();
        Some(EigenSolver {
            u: evd.U().to_owned(),
            e,
        })
    }

    /// `x = (G + lambda I)^{-1} b` (in place).
    pub fn solve(&self, lambda: f64, b: &mut [f64]) {
        let n = b.len();
        let mut t = vec![0.0; n];
        gemv(self.u.transpose(), b, &mut t);
        for (ti, ei) in t.iter_mut().zip(&self.e) {
            let d = ei + lambda;
            *ti = if d > 0.0 { *ti / d } else { 0.0 };
        }
        gemv(self.u.as_ref(), &t, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn pool(t: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
    }

    /// A zero eigenvalue with no damping is skipped (the pseudo-inverse), not
    /// divided by.
    #[test]
    fn eigen_solve_of_a_singular_matrix_is_the_pseudo_inverse() {
        // G = Q diag(4, 0) Q^T with Q a rotation by 30 degrees.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let g = Mat::from_fn(2, 2, |i, j| {
            let q = [[c, -s], [s, c]];
            4.0 * q[i][0] * q[j][0]
        });
        let e = EigenSolver::new(g.as_ref()).unwrap();
        let mut b = vec![2.0 * c + 3.0 * -s, 2.0 * s + 3.0 * c];
        e.solve(0.0, &mut b);
        // Only the range component 2 q_0 survives, divided by 4.
        assert!(
            (b[0] - 0.5 * c).abs() < 1e-14 && (b[1] - 0.5 * s).abs() < 1e-14,
            "{b:?}"
        );
        let mut b = vec![c, s];
        e.solve(1.0, &mut b);
        assert!(
            (b[0] - c / 5.0).abs() < 1e-14 && (b[1] - s / 5.0).abs() < 1e-14,
            "{b:?}"
        );
    }

    #[test]
    fn grams_and_cholesky_match_faer_and_do_not_depend_on_threads() {
        let (m, p) = (300, 170);
        let j = Mat::from_fn(m, p, |i, k| ((i * 7 + k * 13) as f64 * 0.37).sin());
        let want_rows = &j * j.transpose();
        let want_cols = j.transpose() * &j;
        let mut bits = Vec::new();
        for threads in [1, 2, 3] {
            let (g, h, l) = pool(threads).install(|| {
                let mut g = Mat::zeros(m, m);
                gram_rows_lower(j.as_ref(), g.as_mut());
                mirror_lower(g.as_mut());
                let mut h = Mat::zeros(p, p);
                for c in [0..100, 100..101, 101..300] {
                    gram_cols_add_lower(j.subrows(c.start, c.len()), h.as_mut(), 1.0);
                }
                mirror_lower(h.as_mut());
                let mut l = h.clone();
                for i in 0..p {
                    l[(i, i)] += 1e-3;
                }
                assert!(cholesky_lower(l.as_mut()));
                (g, h, l)
            });
            assert!((&g - &want_rows).norm_max() < 1e-11);
            assert!((&h - &want_cols).norm_max() < 1e-11);
            let mut x = vec![1.0; p];
            cholesky_solve(l.as_ref(), &mut x);
            let mut a = want_cols.clone();
            for i in 0..p {
                a[(i, i)] += 1e-3;
            }
            let mut ax = vec![0.0; p];
            gemv(a.as_ref(), &x, &mut ax);
            assert!(ax.iter().all(|v| (v - 1.0).abs() < 1e-8), "{:?}", &ax[..3]);
            bits.push((g, h, l));
        }
        assert!(bits.windows(2).all(|w| w[0] == w[1]));
        // A singular matrix is refused; the eigen solver handles it.
        let mut s = Mat::from_fn(3, 3, |i, j| ((i + 1) * (j + 1)) as f64);
        let e = EigenSolver::new(s.as_ref()).unwrap();
        assert!(!cholesky_lower(s.as_mut()));
        let mut b = vec![1.0, 2.0, 3.0];
        e.solve(1.0, &mut b);
        // (v v^T + I) x = v with v = (1, 2, 3): x = v / 15.
        assert!((b[2] - 0.2).abs() < 1e-12, "{b:?}");
    }
}
