//! The PINN loss of a second-order problem, its gradient and its Jacobian:
//! `alpha mean |L u - f|^2 + beta_bc mean |B u - g|^2` with every row a
//! [`PointOp`] (per-point combination of `u`, first derivatives along
//! directions `v_k` and second derivatives along pairs `(k, m)`).
//!
//! Reverse pass through `net/second.rs`'s forward pass, on transposed
//! adjoints (one row per sample): seeds `Zb_L = w cu`, `Db_{L,k} = w cd_k`,
//! `Hb_{L,km} = w ch_km` (`w` a per-sample weight); the row restricted to
//! layer `l` is `Zb_l (x) p_l + sum_k Db_{l,k} (x) q_{l,k} + sum_km Hb_{l,km} (x) h_{l,km}`;
//! with `pb = Zb W_l`, `qb_k = Db_k W_l`, `hb_km = Hb_km W_l` and `z`, `D`,
//! `H` the previous layer's pre-activations and derivatives:
//!
//! ```text
//! Zb   = s' pb + sum_k s'' D_k qb_k + sum_km (s''' D_k D_m + s'' H_km) hb_km
//! Db_k = s' qb_k + sum_{km or mk} s'' D_m hb_km      Hb_km = s' hb_km
//! ```
//!
//! The gradient takes `w` = `2 weight / N` times the residual and sums the
//! rows (one GEMM per term); the Jacobian takes `w = sqrt(weight / N)`.

use super::sampling::PinnData;
use super::second_sampling::{PointOp, SecondRows};
use crate::net::Network;
use crate::net::second::{SecondCache, derivs3, second_forward_into};
use crate::objective::{LeastSquares, Objective};
use crate::task::regression_jacobian::{
    JAC_BLOCK, expand_transpose, fill_residuals, fill_rows, row_blocks,
};
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::ops::Range;

/// One layer's Khatri-Rao terms: `(adjoint nb x m_l, input nb x (m_{l-1} + 1))`.
type Terms<'m> = [(MatRef<'m, f64>, MatRef<'m, f64>)];

/// One set of rows: points, their operator, targets and `sqrt(weight / N)`.
#[derive(Clone, Copy)]
struct OpSet<'a> {
    x: MatRef<'a, f64>,
    op: &'a PointOp,
    target: MatRef<'a, f64>,
    scale: f64,
}

impl OpSet<'_> {
    fn n(&self) -> usize {
        self.x.ncols()
    }

    /// The forward pass over the samples `cols`.
    fn forward(&self, net: &Network, cols: &Range<usize>) -> SecondCache {
        let (s0, nb) = (cols.start, cols.len());
        let dirs: Vec<MatRef<'_, f64>> = self
            .op
            .dirs
            .iter()
            .map(|v| v.as_ref().subcols(s0, nb))
            .collect();
        let mut c = SecondCache::new(net.widths(), dirs.len(), &self.op.pairs, nb);
        second_forward_into(net, self.x.subcols(s0, nb), &dirs, &mut c);
        c
    }

    /// Unscaled residuals `L u - target` of the samples `cols`.
    fn residuals(&self, c: &SecondCache, cols: &Range<usize>) -> Vec<f64> {
        let top = c.z.len() - 1;
        let op = self.op;
        cols.clone()
            .enumerate()
            .map(|(n, j)| {
                let mut v = op
                    .cu
                    .as_ref()
                    .map_or(0.0, |cu| cu[(0, j)] * c.z[top][(0, n)]);
                for (cd, dz) in op.cd.iter().zip(&c.dz[top]) {
                    v += cd[(0, j)] * dz[(0, n)];
                }
                for (ch, d2z) in op.ch.iter().zip(&c.d2z[top]) {
                    v += ch[(0, j)] * d2z[(0, n)];
                }
                v - self.target[(0, j)]
            })
            .collect()
    }

    /// The reverse pass over the samples `cols` with per-sample seeds `w`:
    /// `sink(offset, terms)` per layer from the last, `terms` the
    /// `(adjoint nb x m_l, input nb x (m_{l-1} + 1))` pairs.
    fn backward(
        &self,
        net: &Network,
        c: &SecondCache,
        cols: &Range<usize>,
        w: &[f64],
        sink: &mut dyn FnMut(usize, &Terms<'_>),
    ) {
        let (s0, nb) = (cols.start, cols.len());
        let op = self.op;
        let act = net.activation();
        let seed = |m: Option<&Mat<f64>>| {
            Mat::from_fn(nb, 1, |n, _| m.map_or(0.0, |m| w[n] * m[(0, s0 + n)]))
        };
        let mut zb = seed(op.cu.as_ref());
        let mut db: Vec<Mat<f64>> = op.cd.iter().map(|m| seed(Some(m))).collect();
        let mut hb: Vec<Mat<f64>> = op.ch.iter().map(|m| seed(Some(m))).collect();
        let mut off = net.num_params();
        for l in (0..net.depth()).rev() {
            let layer = net.layer(l);
            off -= layer.nrows() * layer.ncols();
            let pt = expand_transpose(c.p[l].as_ref(), 1);
            let qt: Vec<Mat<f64>> = c.q[l]
                .iter()
                .map(|q| expand_transpose(q.as_ref(), 1))
                .collect();
            let ht: Vec<Mat<f64>> = c.h[l]
                .iter()
                .map(|h| expand_transpose(h.as_ref(), 1))
                .collect();
            let mut terms = vec![(zb.as_ref(), pt.as_ref())];
            terms.extend(db.iter().zip(&qt).map(|(a, b)| (a.as_ref(), b.as_ref())));
            terms.extend(hb.iter().zip(&ht).map(|(a, b)| (a.as_ref(), b.as_ref())));
            sink(off, &terms);
            if l == 0 {
                break;
            }
            let wl = net.weight(l);
            let back = |a: &Mat<f64>| {
                let mut out = Mat::<f64>::zeros(nb, wl.ncols());
                faer::linalg::matmul::matmul(
                    out.as_mut(),
                    Accum::Replace,
                    a.as_ref(),
                    wl,
                    1.0,
                    Par::Seq,
                );
                out
            };
            let pb = back(&zb);
            let qb: Vec<Mat<f64>> = db.iter().map(back).collect();
            let hbb: Vec<Mat<f64>> = hb.iter().map(back).collect();
            let (z, s) = (c.z[l - 1].as_ref(), c.p[l].as_ref());
            let (dz, d2z) = (&c.dz[l - 1], &c.d2z[l - 1]);
            let wp = wl.ncols();
            zb = Mat::zeros(nb, wp);
            db = (0..qb.len()).map(|_| Mat::zeros(nb, wp)).collect();
            hb = (0..hbb.len()).map(|_| Mat::zeros(nb, wp)).collect();
            for i in 0..wp {
                for n in 0..nb {
                    let (s1, s2, s3) = derivs3(act, z[(i, n)], s[(i, n)]);
                    let mut zbar = s1 * pb[(n, i)];
                    for (k, qbk) in qb.iter().enumerate() {
                        zbar += s2 * dz[k][(i, n)] * qbk[(n, i)];
                        db[k][(n, i)] = s1 * qbk[(n, i)];
                    }
                    for (t, &(k, m)) in op.pairs.iter().enumerate() {
                        let (dk, dm) = (dz[k][(i, n)], dz[m][(i, n)]);
                        let hv = hbb[t][(n, i)];
                        zbar += (s3 * dk * dm + s2 * d2z[t][(i, n)]) * hv;
                        db[k][(n, i)] += s2 * dm * hv;
                        db[m][(n, i)] += s2 * dk * hv;
                        hb[t][(n, i)] = s1 * hv;
                    }
                    zb[(n, i)] = zbar;
                }
            }
        }
    }
}

/// Row `r`, entry `(i, j)` of the layer at `off`: `sum_t a_t[r, i] b_t[r, j]`.
fn write_terms(mut jac: MatMut<'_, f64>, off: usize, terms: &Terms<'_>) {
    let (na, nbc) = (terms[0].0.ncols(), terms[0].1.ncols());
    for j in 0..nbc {
        for i in 0..na {
            let mut col = jac.rb_mut().col_mut(off + j * na + i);
            for r in 0..col.nrows() {
                col[r] = terms.iter().map(|(a, b)| a[(r, i)] * b[(r, j)]).sum();
            }
        }
    }
}

/// The PINN loss of a second-order problem as an objective and a residual.
pub struct SecondObjective<'a> {
    data: &'a PinnData,
    rows: &'a SecondRows,
    alpha: f64,
    beta_bc: f64,
}

impl<'a> SecondObjective<'a> {
    /// The loss on `data` (which must hold second-order rows) with weights
    /// `alpha`, `beta_bc`; `None` for first-order data.
    pub fn new(data: &'a PinnData, alpha: f64, beta_bc: f64) -> Option<Self> {
        let rows = data.second.as_deref()?;
        Some(SecondObjective {
            data,
            rows,
            alpha,
            beta_bc,
        })
    }

    fn sets(&self) -> [OpSet<'a>; 2] {
        let d = self.data;
        let sc = |w: f64, n: usize| (w / n.max(1) as f64).sqrt();
        [
            OpSet {
                x: d.e_int.as_ref(),
                op: &self.rows.interior,
                target: d.f_int.as_ref(),
                scale: sc(self.alpha, d.n_interior_total()),
            },
            OpSet {
                x: d.e_bc.as_ref(),
                op: &self.rows.boundary,
                target: d.g_bc.as_ref(),
                scale: sc(self.beta_bc, d.n_boundary_total()),
            },
        ]
    }

    /// `(set, sample range)` of every block, interior first.
    fn blocks(&self) -> Vec<(usize, Range<usize>)> {
        let sets = self.sets();
        (0..2)
            .flat_map(|s| {
                row_blocks(sets[s].n(), 1, 0)
                    .into_iter()
                    .map(move |r| (s, r))
            })
            .collect()
    }

    /// `mean |L u - f|^2` and `mean |B u - g|^2` (on a shard, this
    /// process's shares: the means divide by the counts of every process).
    pub fn parts(&self, net: &Network) -> (f64, f64) {
        let sets = self.sets();
        let sums: Vec<(usize, f64)> = self
            .blocks()
            .into_par_iter()
            .map(|(s, r)| {
                let c = sets[s].forward(net, &r);
                (s, sets[s].residuals(&c, &r).iter().map(|v| v * v).sum())
            })
            .collect();
        let mut out = [0.0; 2];
        for (s, v) in sums {
            out[s] += v;
        }
        let d = self.data;
        (
            out[0] / d.n_interior_total().max(1) as f64,
            out[1] / d.n_boundary_total().max(1) as f64,
        )
    }
}

/// `(mean |L u - f|^2, mean |B u - g|^2)` of a second-order problem (`None`
/// for first-order data).
pub fn second_loss_parts(
    net: &Network,
    data: &PinnData,
    alpha: f64,
    beta_bc: f64,
) -> Option<(f64, f64)> {
    Some(SecondObjective::new(data, alpha, beta_bc)?.parts(net))
}

impl Objective for SecondObjective<'_> {
    fn value(&mut self, net: &Network) -> f64 {
        let (pde, bc) = self.parts(net);
        self.alpha * pde + self.beta_bc * bc
    }

    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
        let sets = self.sets();
        let p = net.num_params();
        let parts: Vec<(f64, Vec<f64>)> = self
            .blocks()
            .into_par_iter()
            .map(|(s, r)| {
                let set = sets[s];
                let c = set.forward(net, &r);
                let res = set.residuals(&c, &r);
                let sq = set.scale * set.scale;
                let w: Vec<f64> = res.iter().map(|v| 2.0 * sq * v).collect();
                let mut g = vec![0.0; p];
                set.backward(net, &c, &r, &w, &mut |off, terms| {
                    let (na, nbc) = (terms[0].0.ncols(), terms[0].1.ncols());
                    let mut gl =
                        MatMut::from_column_major_slice_mut(&mut g[off..off + na * nbc], na, nbc);
                    for (a, b) in terms {
                        faer::linalg::matmul::matmul(
                            gl.as_mut(),
                            Accum::Add,
                            a.transpose(),
                            *b,
                            1.0,
                            Par::Seq,
                        );
                    }
                });
                (sq * res.iter().map(|v| v * v).sum::<f64>(), g)
            })
            .collect();
        grad.fill(0.0);
        let mut loss = 0.0;
        for (l, g) in parts {
            loss += l;
            for (a, b) in grad.iter_mut().zip(&g) {
                *a += b;
            }
        }
        loss
    }
}

impl LeastSquares for SecondObjective<'_> {
    fn residual_count(&self) -> usize {
        self.data.n_interior() + self.data.n_boundary()
    }

    fn residuals_into(&mut self, net: &Network, r: &mut [f64]) -> f64 {
        assert_eq!(r.len(), self.residual_count(), "residual length");
        let sets = self.sets();
        let ni = sets[0].n();
        let (ri, rb) = r.split_at_mut(ni);
        let mut total = 0.0;
        for (s, out, offset) in [(0, ri, 0), (1, rb, ni)] {
            let set = sets[s];
            total += fill_residuals(&row_blocks(set.n(), 1, offset), offset, out, |b, chunk| {
                let cols = b * JAC_BLOCK..b * JAC_BLOCK + chunk.len();
                let c = set.forward(net, &cols);
                let mut sum = 0.0;
                for (o, v) in chunk.iter_mut().zip(set.residuals(&c, &cols)) {
                    *o = set.scale * v;
                    sum += *o * *o;
                }
                sum
            });
        }
        total
    }

    fn jacobian_rows_into(&mut self, net: &Network, rows: Range<usize>, jac: MatMut<'_, f64>) {
        assert_eq!(jac.ncols(), net.num_params(), "Jacobian columns");
        self.fill_blocks(net, rows, jac, |set, cols, c, mut dst| {
            let w = vec![set.scale; cols.len()];
            set.backward(net, c, cols, &w, &mut |off, terms| {
                write_terms(dst.rb_mut(), off, terms);
            });
        });
    }

    /// The output-layer columns from the forward pass alone: the rows are
    /// linear in `u` and `u = W_L p_L`, so the row restricted to the output
    /// layer is `scale (cu p_L + sum_k cd_k q_{L,k} + sum_km ch_km h_{L,km})`
    /// (the last layer's terms of [`OpSet::backward`]).
    fn output_columns_into(
        &mut self,
        net: &Network,
        rows: Range<usize>,
        dst: MatMut<'_, f64>,
    ) -> bool {
        let l = net.depth() - 1;
        assert_eq!(net.widths()[l + 1], 1, "one output");
        assert_eq!(dst.ncols(), net.widths()[l] + 1, "output-layer columns");
        self.fill_blocks(net, rows, dst, |set, cols, c, mut dst| {
            let op = set.op;
            for (n, j) in cols.clone().enumerate() {
                for i in 0..dst.ncols() {
                    let mut v = op.cu.as_ref().map_or(0.0, |cu| cu[(0, j)] * c.p[l][(i, n)]);
                    for (cd, q) in op.cd.iter().zip(&c.q[l]) {
                        v += cd[(0, j)] * q[(i, n)];
                    }
                    for (ch, h) in op.ch.iter().zip(&c.h[l]) {
                        v += ch[(0, j)] * h[(i, n)];
                    }
                    dst[(n, i)] = set.scale * v;
                }
            }
        });
        true
    }
}

impl SecondObjective<'_> {
    /// Rows `rows` of a per-row quantity into `dst`, block by block in
    /// parallel: `compute(set, samples, forward cache, block rows)`.
    fn fill_blocks<F>(&self, net: &Network, rows: Range<usize>, dst: MatMut<'_, f64>, compute: F)
    where
        F: Fn(OpSet<'_>, &Range<usize>, &SecondCache, MatMut<'_, f64>) + Sync + Send,
    {
        assert!(
            rows.end <= self.residual_count(),
            "Jacobian rows out of range"
        );
        let sets = self.sets();
        let ni = sets[0].n();
        let mut blocks = row_blocks(ni, 1, 0);
        let n_int = blocks.len();
        blocks.extend(row_blocks(sets[1].n(), 1, ni));
        let blocks_ref = &blocks;
        fill_rows(blocks_ref, rows, dst, |b, dst| {
            let (set, start) = if b < n_int {
                (sets[0], 0)
            } else {
                (sets[1], ni)
            };
            let cols = blocks_ref[b].start - start..blocks_ref[b].end - start;
            let c = set.forward(net, &cols);
            compute(set, &cols, &c, dst);
        });
    }
}

#[cfg(test)]
#[path = "second_loss_tests.rs"]
mod tests;
