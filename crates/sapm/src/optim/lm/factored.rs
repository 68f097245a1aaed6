//! Gauss-Newton products from Khatri-Rao factors (see
//! [`crate::task::khatri_rao`]), without forming `J`:
//! `J J^T = sum_l sum_{t,s} (A_t A_s^T) (.) (B_t B_s^T)`, `J^T y` and `J w`
//! by GEMMs. The Gram matrix costs `M^2 sum_l (m_l + m_{l-1} + 1)` per term
//! pair instead of `M^2 P`.

use super::dense::{row_strips, run_par};
use crate::net::col_mut;
use crate::task::khatri_rao::{KrFactors, KrLayer};
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Row-strip height of the Gram kernel for `m` rows: at least 8 strips
/// (so two threads balance) of 32 to 128 rows. Depends on `m` only.
fn strip_rows(m: usize) -> usize {
    (m.div_ceil(8).div_ceil(16) * 16).clamp(32, 128)
}

/// Lower triangle (with the diagonal blocks' upper parts) of `g = J J^T`
/// over the first `nl` layers.
pub fn gram_lower(f: &KrFactors, nl: usize, g: MatMut<'_, f64>) {
    let m = g.nrows();
    let layers = &f.layers[..nl];
    run_par(row_strips(g, strip_rows(m)), |(a0, strip)| {
        let h = strip.nrows();
        let end = a0 + h;
        let mut out = strip.subcols_mut(0, end);
        out.fill(0.0);
        let mut x = Mat::<f64>::zeros(h, end);
        let mut y = Mat::<f64>::zeros(h, end);
        for layer in layers {
            for (at, bt) in &layer.terms {
                for (as_, bs) in &layer.terms {
                    for (dst, u, v) in [(&mut x, at, as_), (&mut y, bt, bs)] {
                        matmul(
                            dst.as_mut(),
                            Accum::Replace,
                            u.subrows(a0, h),
                            v.subrows(0, end).transpose(),
                            1.0,
                            Par::Seq,
                        );
                    }
                    for j in 0..end {
                        let o = col_mut(out.rb_mut(), j);
                        let (xc, yc) = (x.col_as_slice(j), y.col_as_slice(j));
                        for i in 0..h {
                            o[i] += xc[i] * yc[i];
                        }
                    }
                }
            }
        }
    });
}

fn layer_block<'v>(layer: &KrLayer, v: &'v mut [f64]) -> MatMut<'v, f64> {
    let (a, b) = &layer.terms[0];
    let (mo, k) = (a.ncols(), b.ncols());
    MatMut::from_column_major_slice_mut(&mut v[layer.offset..layer.offset + mo * k], mo, k)
}

/// `out = J^T y` over the first `nl` layers (`out` has their parameters).
pub fn jt_vec(f: &KrFactors, nl: usize, y: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    for layer in &f.layers[..nl] {
        for (a, b) in &layer.terms {
            let yb = Mat::from_fn(b.nrows(), b.ncols(), |r, j| y[r] * b[(r, j)]);
            matmul(
                layer_block(layer, out),
                Accum::Add,
                a.transpose(),
                yb.as_ref(),
                1.0,
                Par::Seq,
            );
        }
    }
}

/// `out = J w` over the first `nl` layers.
pub fn j_vec(f: &KrFactors, nl: usize, w: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    for layer in &f.layers[..nl] {
        let (a0, b0) = &layer.terms[0];
        let (mo, k) = (a0.ncols(), b0.ncols());
        let wl = MatRef::from_column_major_slice(&w[layer.offset..layer.offset + mo * k], mo, k);
        let mut t = Mat::<f64>::zeros(a0.nrows(), k);
        for (a, b) in &layer.terms {
            matmul(t.as_mut(), Accum::Replace, a.as_ref(), wl, 1.0, Par::Seq);
            for j in 0..k {
                let (tc, bc) = (t.col_as_slice(j), b.col_as_slice(j));
                for (o, (x, y)) in out.iter_mut().zip(tc.iter().zip(bc)) {
                    *o += x * y;
                }
            }
        }
    }
}

/// Largest diagonal entry of `J^T J` over the first `nl` layers:
/// `diag = sum_{t,s} (A_t (.) A_s)^T (B_t (.) B_s)`, reshaped.
pub fn jtj_diag_max(f: &KrFactors, nl: usize) -> f64 {
    let mut best = 0.0f64;
    for layer in &f.layers[..nl] {
        let (a0, b0) = &layer.terms[0];
        let (mo, k) = (a0.ncols(), b0.ncols());
        let mut d = Mat::<f64>::zeros(mo, k);
        for (at, bt) in &layer.terms {
            for (as_, bs) in &layer.terms {
                let aa = Mat::from_fn(at.nrows(), mo, |r, i| at[(r, i)] * as_[(r, i)]);
                let bb = Mat::from_fn(bt.nrows(), k, |r, j| bt[(r, j)] * bs[(r, j)]);
                matmul(
                    d.as_mut(),
                    Accum::Add,
                    aa.transpose(),
                    bb.as_ref(),
                    1.0,
                    Par::Seq,
                );
            }
        }
        for j in 0..k {
            for i in 0..mo {
                best = best.max(d[(i, j)]);
            }
        }
    }
    best
}
