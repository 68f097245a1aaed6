//! Exact Jacobian of the regression residual `r = (u(x_n) - y_n) / sqrt(N)`
//! ([`LeastSquares`] for [`LsObjective`]), and the block machinery the PINN
//! Jacobian shares.
//!
//! For output `o` of sample `n`, the row restricted to layer `l` is the outer
//! product `delta_l (x) p_l` (column-major, like the parameters) with
//! `delta_L = scale e_o` and `delta_{l-1} = s'(z_{l-1}) (.) (W_l^T delta_l)`:
//! a row-wise Kronecker (Khatri-Rao) product (design note gauss-newton.md,
//! section 2). The backward pass runs on *transposed* deltas (one row per
//! residual, `rows x m_l`, one GEMM per layer), so that every Jacobian column
//! is the elementwise product of two contiguous vectors.
//!
//! Rows are computed in fixed blocks of [`JAC_BLOCK`] samples counted from
//! sample 0, one block per task: a row has the same bits whatever row range
//! is asked for and however many threads run.

use crate::net::derivs::derivs;
use crate::net::{ForwardCache, Network, col};
use crate::objective::LeastSquares;
use crate::task::regression::LsObjective;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::ops::Range;

/// Samples per Jacobian block.
pub const JAC_BLOCK: usize = 64;

/// Row ranges of fixed blocks of [`JAC_BLOCK`] samples, `per_sample` rows
/// each, for `n` samples whose rows start at `offset`.
pub(crate) fn row_blocks(n: usize, per_sample: usize, offset: usize) -> Vec<Range<usize>> {
    (0..n.div_ceil(JAC_BLOCK))
        .map(|b| {
            let (s0, s1) = (b * JAC_BLOCK, ((b + 1) * JAC_BLOCK).min(n));
            offset + s0 * per_sample..offset + s1 * per_sample
        })
        .collect()
}

/// Fill `jac` (rows `rows` of the Jacobian) from the fixed `blocks`, in
/// parallel: `compute(b, dst)` writes block `b`'s rows into `dst`
/// (`blocks[b].len() x P`). A block only partly asked for is computed whole
/// into scratch and the asked-for rows are copied.
pub(crate) fn fill_rows<F>(
    blocks: &[Range<usize>],
    rows: Range<usize>,
    jac: MatMut<'_, f64>,
    compute: F,
) where
    F: Fn(usize, MatMut<'_, f64>) + Sync + Send,
{
    assert_eq!(jac.nrows(), rows.len(), "Jacobian rows");
    let p = jac.ncols();
    let mut tasks: Vec<(usize, usize, MatMut<'_, f64>)> = Vec::new();
    let mut rest = jac;
    for (b, br) in blocks.iter().enumerate() {
        let (lo, hi) = (br.start.max(rows.start), br.end.min(rows.end));
        if lo >= hi {
            continue;
        }
        let (head, tail) = rest.split_at_row_mut(hi - lo);
        tasks.push((b, lo - br.start, head));
        rest = tail;
    }
    let run = |(b, skip, mut dst): (usize, usize, MatMut<'_, f64>)| {
        let len = blocks[b].len();
        if skip == 0 && dst.nrows() == len {
            compute(b, dst);
        } else {
            let mut tmp = Mat::<f64>::zeros(len, p);
            compute(b, tmp.as_mut());
            let n = dst.nrows();
            dst.copy_from(tmp.as_ref().subrows(skip, n));
        }
    };
    if tasks.len() == 1 {
        tasks.into_iter().for_each(run);
    } else {
        tasks.into_par_iter().for_each(run);
    }
}

/// `r` split at the fixed `blocks` (relative to `r`'s start `offset`),
/// `f(b, chunk)` fills block `b`'s residuals and returns their squared sum;
/// the sums are added in block order.
pub(crate) fn fill_residuals<F>(blocks: &[Range<usize>], offset: usize, r: &mut [f64], f: F) -> f64
where
    F: Fn(usize, &mut [f64]) -> f64 + Sync + Send,
{
    let mut chunks: Vec<(usize, &mut [f64])> = Vec::with_capacity(blocks.len());
    let mut rest = r;
    for (b, br) in blocks.iter().enumerate() {
        debug_assert_eq!(
            br.start - offset,
            chunks.iter().map(|c| c.1.len()).sum::<usize>()
        );
        let (head, tail) = rest.split_at_mut(br.len());
        chunks.push((b, head));
        rest = tail;
    }
    let sums: Vec<f64> = if chunks.len() <= 1 {
        chunks.into_iter().map(|(b, c)| f(b, c)).collect()
    } else {
        chunks.into_par_iter().map(|(b, c)| f(b, c)).collect()
    };
    sums.into_iter().sum()
}

/// `jac[:, off + j * a.ncols() + i] (+)= a[:, i] (.) b[:, j]` for every
/// `i`, `j`, plus `a2[:, i] (.) b2[:, j]` when given: the Khatri-Rao columns
/// of one layer (`a` holds the output-side adjoints, `b` the layer input).
pub(crate) fn khatri_rao_into(
    mut jac: MatMut<'_, f64>,
    off: usize,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    second: Option<(MatRef<'_, f64>, MatRef<'_, f64>)>,
) {
    let (rows, na, nb) = (a.nrows(), a.ncols(), b.ncols());
    for j in 0..nb {
        let bj = col(b, j);
        let b2j = second.map(|(_, b2)| col(b2, j));
        for i in 0..na {
            let ai = col(a, i);
            let a2i = second.map(|(a2, _)| col(a2, i));
            let mut col = jac.rb_mut().col_mut(off + j * na + i);
            match col.rb_mut().try_as_col_major_mut() {
                Some(c) => {
                    let c = c.as_slice_mut();
                    match (a2i, b2j) {
                        (Some(a2), Some(b2)) => {
                            for r in 0..rows {
                                c[r] = ai[r] * bj[r] + a2[r] * b2[r];
                            }
                        }
                        _ => {
                            for r in 0..rows {
                                c[r] = ai[r] * bj[r];
                            }
                        }
                    }
                }
                None => {
                    for r in 0..rows {
                        let mut v = ai[r] * bj[r];
                        if let (Some(a2), Some(b2)) = (a2i, b2j) {
                            v += a2[r] * b2[r];
                        }
                        col[r] = v;
                    }
                }
            }
        }
    }
}

/// `m[r, j] = src[j, r / per]`: a layer's input `p_l` (`k x nb`) transposed,
/// each sample's row repeated for its `per` outputs.
pub(crate) fn expand_transpose(src: MatRef<'_, f64>, per: usize) -> Mat<f64> {
    let nb = src.ncols();
    Mat::from_fn(nb * per, src.nrows(), |r, j| src[(j, r / per)])
}

/// One layer's part of a block of Jacobian rows: row `r` restricted to the
/// layer (parameters `off..off + a.ncols() b.ncols()`, column-major) is
/// `a[r, i] b[r, j]`, plus `a2[r, i] b2[r, j]` when `second` is given.
pub(crate) struct LayerFactors<'m> {
    /// Layer index (0-based).
    pub layer: usize,
    /// Offset of the layer's first parameter.
    pub off: usize,
    /// Output-side factor (`rows x m_l`).
    pub a: MatRef<'m, f64>,
    /// Input-side factor (`rows x (m_{l-1} + 1)`).
    pub b: MatRef<'m, f64>,
    /// A second term, if any.
    pub second: Option<(MatRef<'m, f64>, MatRef<'m, f64>)>,
}

/// Write one layer's Khatri-Rao columns into Jacobian rows.
pub(crate) fn write_layer(jac: MatMut<'_, f64>, f: &LayerFactors<'_>) {
    khatri_rao_into(jac, f.off, f.a, f.b, f.second);
}

/// The Jacobian factors of `scale (u(x) - y)` for the samples `x`
/// (`d x nb`), `nb * m_L` rows (sample-major, outputs inner), passed to
/// `sink` layer by layer from the last.
pub(crate) fn value_factors(
    net: &Network,
    x: MatRef<'_, f64>,
    scale: f64,
    sink: &mut dyn FnMut(LayerFactors<'_>),
) {
    let nb = x.ncols();
    let m = net.output_dim();
    let rows = nb * m;
    let act = net.activation();
    let mut fwd = ForwardCache::new(net.widths(), nb);
    net.forward_into(x, &mut fwd);
    let mut dt = Mat::<f64>::zeros(rows, m);
    for n in 0..nb {
        for o in 0..m {
            dt[(n * m + o, o)] = scale;
        }
    }
    let mut off = net.num_params();
    for l in (0..net.depth()).rev() {
        let layer = net.layer(l);
        off -= layer.nrows() * layer.ncols();
        let pt = expand_transpose(fwd.p[l].as_ref(), m);
        sink(LayerFactors {
            layer: l,
            off,
            a: dt.as_ref(),
            b: pt.as_ref(),
            second: None,
        });
        if l > 0 {
            let w = net.widths()[l];
            let mut prev = Mat::<f64>::zeros(rows, w);
            faer::linalg::matmul::matmul(
                prev.as_mut(),
                Accum::Replace,
                dt.as_ref(),
                net.weight(l),
                1.0,
                Par::Seq,
            );
            let (z, s) = (fwd.z[l - 1].as_ref(), fwd.p[l].as_ref());
            for i in 0..w {
                for r in 0..rows {
                    let n = r / m;
                    prev[(r, i)] *= derivs(act, z[(i, n)], s[(i, n)]).0;
                }
            }
            dt = prev;
        }
    }
}

/// Jacobian rows of `scale (u(x) - y)` for the samples `x` (`d x nb`):
/// `nb * m_L` rows (sample-major, outputs inner) of all `P` parameters.
pub(crate) fn value_rows(net: &Network, x: MatRef<'_, f64>, scale: f64, mut jac: MatMut<'_, f64>) {
    value_factors(net, x, scale, &mut |f| write_layer(jac.rb_mut(), &f));
}

/// Residuals `scale (u(x) - y)` of the samples `x` into `r` (sample-major,
/// outputs inner); returns their squared sum.
pub(crate) fn value_residuals(
    net: &Network,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    scale: f64,
    r: &mut [f64],
) -> f64 {
    let mut fwd = ForwardCache::new(net.widths(), x.ncols());
    net.forward_into(x, &mut fwd);
    scaled_residuals(fwd.output(), y, scale, r)
}

/// Residuals `scale (u - y)` into `r` (sample-major, outputs inner);
/// returns their squared sum.
pub(crate) fn scaled_residuals(
    u: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    scale: f64,
    r: &mut [f64],
) -> f64 {
    let m = u.nrows();
    let mut s = 0.0;
    for n in 0..u.ncols() {
        for o in 0..m {
            let v = scale * (u[(o, n)] - y[(o, n)]);
            r[n * m + o] = v;
            s += v * v;
        }
    }
    s
}

impl LeastSquares for LsObjective<'_> {
    fn residual_count(&self) -> usize {
        self.x.ncols() * self.y.nrows()
    }

    fn residuals_into(&mut self, net: &Network, r: &mut [f64]) -> f64 {
        let n = self.x.ncols();
        assert_eq!(r.len(), self.residual_count(), "residual length");
        let m = self.y.nrows();
        let scale = 1.0 / (n.max(1) as f64).sqrt();
        let (x, y) = (self.x, self.y);
        let blocks = row_blocks(n, m, 0);
        fill_residuals(&blocks, 0, r, |b, chunk| {
            let s0 = b * JAC_BLOCK;
            let nb = chunk.len() / m;
            value_residuals(net, x.subcols(s0, nb), y.subcols(s0, nb), scale, chunk)
        })
    }

    fn jacobian_rows_into(&mut self, net: &Network, rows: Range<usize>, jac: MatMut<'_, f64>) {
        let n = self.x.ncols();
        let m = self.y.nrows();
        assert!(rows.end <= n * m, "Jacobian rows out of range");
        assert_eq!(jac.ncols(), net.num_params(), "Jacobian columns");
        let scale = 1.0 / (n.max(1) as f64).sqrt();
        let x = self.x;
        let blocks = row_blocks(n, m, 0);
        fill_rows(&blocks, rows, jac, |b, dst| {
            let s0 = b * JAC_BLOCK;
            let nb = blocks[b].len() / m;
            value_rows(net, x.subcols(s0, nb), scale, dst);
        });
    }
}

/// Finite-difference helpers shared by the Jacobian tests.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Central differences of the residual vector, column by column.
    pub(crate) fn fd_jacobian(
        ls: &mut dyn LeastSquares,
        net: &Network,
        h: f64,
    ) -> (Mat<f64>, Vec<f64>) {
        let (m, p) = (ls.residual_count(), net.num_params());
        let mut r0 = vec![0.0; m];
        ls.residuals_into(net, &mut r0);
        let p0 = net.params();
        let mut work = net.clone();
        let mut jac = Mat::zeros(m, p);
        let (mut rp, mut rm) = (vec![0.0; m], vec![0.0; m]);
        for k in 0..p {
            let mut q = p0.clone();
            q[k] += h;
            work.set_params(&q);
            ls.residuals_into(&work, &mut rp);
            q[k] -= 2.0 * h;
            work.set_params(&q);
            ls.residuals_into(&work, &mut rm);
            for i in 0..m {
                jac[(i, k)] = (rp[i] - rm[i]) / (2.0 * h);
            }
        }
        (jac, r0)
    }

    /// Largest `|a - b| / (floor + |b|)` over all entries.
    pub(crate) fn worst_rel(a: MatRef<'_, f64>, b: MatRef<'_, f64>, floor: f64) -> f64 {
        let mut worst = 0.0f64;
        for k in 0..a.ncols() {
            for i in 0..a.nrows() {
                worst = worst.max((a[(i, k)] - b[(i, k)]).abs() / (floor + b[(i, k)].abs()));
            }
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::objective::Objective;
    use crate::{Activation, NetworkSpec};

    #[test]
    fn regression_jacobian_matches_central_differences_for_every_activation() {
        for act in Activation::ALL {
            for widths in [vec![2, 5, 4, 1], vec![2, 6, 3]] {
                let net = NetworkSpec::new(widths.clone())
                    .with_activation(act)
                    .build(5)
                    .unwrap();
                let n = 70; // two Jacobian blocks, the second partial
                let x = Mat::from_fn(2, n, |i, j| ((3 * i + 5 * j) as f64 * 0.61).sin() * 1.7);
                let mo = net.output_dim();
                let y = Mat::from_fn(mo, n, |i, j| ((i + 2 * j) as f64 * 0.3).cos());
                let mut obj = LsObjective::new(&net, x.as_ref(), y.as_ref());
                let (fd, r0) = fd_jacobian(&mut obj, &net, 1e-6);
                let mut jac = Mat::zeros(n * mo, net.num_params());
                obj.jacobian_rows_into(&net, 0..n * mo, jac.as_mut());
                let worst = worst_rel(jac.as_ref(), fd.as_ref(), 1e-3);
                // ReLU: the points are away from the kinks with overwhelming probability.
                assert!(worst < 1e-6, "{act} {widths:?}: worst {worst:e}");
                // |r|^2 is the objective value.
                let v = obj.value(&net);
                let s: f64 = r0.iter().map(|v| v * v).sum();
                assert!((s - v).abs() <= 1e-14 * v, "{act}: {s} vs {v}");
            }
        }
    }

    #[test]
    fn rows_do_not_depend_on_the_split_or_the_thread_count() {
        let net = NetworkSpec::new(vec![1, 7, 7, 2]).build(3).unwrap();
        let n = 200;
        let x = Mat::from_fn(1, n, |_, j| -3.0 + 6.0 * j as f64 / n as f64);
        let y = Mat::from_fn(2, n, |i, j| (j as f64 * 0.1 + i as f64).sin());
        let mut obj = LsObjective::new(&net, x.as_ref(), y.as_ref());
        let (m, p) = (2 * n, net.num_params());
        let pool = |t: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        };
        let mut whole = Mat::zeros(m, p);
        pool(1).install(|| obj.jacobian_rows_into(&net, 0..m, whole.as_mut()));
        for (threads, splits) in [(2, vec![0, 1, 129, 130, 300, m]), (3, vec![0, 7, m])] {
            let mut parts = Mat::zeros(m, p);
            pool(threads).install(|| {
                for w in splits.windows(2) {
                    let view = parts.as_mut().subrows_mut(w[0], w[1] - w[0]);
                    obj.jacobian_rows_into(&net, w[0]..w[1], view);
                }
            });
            for k in 0..p {
                for i in 0..m {
                    assert_eq!(whole[(i, k)].to_bits(), parts[(i, k)].to_bits());
                }
            }
        }
        // A transposed destination (row-major rows) gets the same values.
        let mut t = Mat::<f64>::zeros(p, m);
        obj.jacobian_rows_into(&net, 0..m, t.as_mut().transpose_mut());
        assert_eq!(t.transpose().to_owned(), whole);
    }
}
