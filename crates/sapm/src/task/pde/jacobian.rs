//! Exact Jacobian of the first-order PINN residual ([`LeastSquares`] for
//! [`PinnObjective`]): `N_i` PDE rows `sqrt(alpha / N_i) (grad u . v - f)`,
//! then `N_b` boundary rows `sqrt(beta_bc / N_b) (u - g)`.
//!
//! A PDE row is the reverse pass of `task/pde/loss.rs` run with one adjoint
//! per sample instead of their sum: seeds `Zb_L = 0`, `Db_L = scale`, then
//! `pb = W_l^T Zb_l`, `qb = W_l^T Db_l`, `Db_{l-1} = s'(z) (.) qb`,
//! `Zb_{l-1} = s'(z) (.) pb + s''(z) (.) dz (.) qb`, and the row restricted
//! to layer `l` is `Zb_l (x) p_l + Db_l (x) q_l` (two Khatri-Rao products).
//! As for regression the pass runs on transposed adjoints, in fixed blocks.

use crate::net::Network;
use crate::net::derivs::{DirCache, derivs, dir_forward_into};
use crate::objective::LeastSquares;
use crate::task::pde::PinnData;
use crate::task::pde::loss::PinnObjective;
use crate::task::regression_jacobian::{
    JAC_BLOCK, LayerFactors, expand_transpose, fill_residuals, fill_rows, row_blocks,
    scaled_residuals, value_factors, value_residuals, write_layer,
};
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use std::ops::Range;

/// The Jacobian factors of `scale (grad u(x) . v - f)` for the samples `x`,
/// `v`, passed to `sink` layer by layer from the last: `(Db, q)` alone for
/// the output layer, `(Zb, p)` and `(Db, q)` below it.
pub(crate) fn directional_factors(
    net: &Network,
    x: MatRef<'_, f64>,
    v: MatRef<'_, f64>,
    scale: f64,
    sink: &mut dyn FnMut(LayerFactors<'_>),
) {
    let nb = x.ncols();
    let act = net.activation();
    let mut c = DirCache::new(net.widths(), nb);
    dir_forward_into(net, x, v, &mut c);
    let depth = net.depth();
    // Transposed adjoints, one row per sample; Zb_L = 0 (the PDE row does not see u).
    let mut zb = Mat::<f64>::zeros(nb, net.output_dim());
    let mut db = Mat::<f64>::from_fn(nb, net.output_dim(), |_, _| scale);
    let mut off = net.num_params();
    for l in (0..depth).rev() {
        let layer = net.layer(l);
        off -= layer.nrows() * layer.ncols();
        let pt = expand_transpose(c.p[l].as_ref(), 1);
        let qt = expand_transpose(c.q[l].as_ref(), 1);
        if l + 1 == depth {
            sink(LayerFactors {
                layer: l,
                off,
                a: db.as_ref(),
                b: qt.as_ref(),
                second: None,
            });
        } else {
            sink(LayerFactors {
                layer: l,
                off,
                a: zb.as_ref(),
                b: pt.as_ref(),
                second: Some((db.as_ref(), qt.as_ref())),
            });
        }
        if l > 0 {
            let w = net.widths()[l];
            let mut pb = Mat::<f64>::zeros(nb, w);
            let mut qb = Mat::<f64>::zeros(nb, w);
            let wl = net.weight(l);
            if l + 1 < depth {
                faer::linalg::matmul::matmul(
                    pb.as_mut(),
                    Accum::Replace,
                    zb.as_ref(),
                    wl,
                    1.0,
                    Par::Seq,
                );
            }
            faer::linalg::matmul::matmul(
                qb.as_mut(),
                Accum::Replace,
                db.as_ref(),
                wl,
                1.0,
                Par::Seq,
            );
            let (z, dz, s) = (c.z[l - 1].as_ref(), c.dz[l - 1].as_ref(), c.p[l].as_ref());
            for i in 0..w {
                for n in 0..nb {
                    let (s1, s2) = derivs(act, z[(i, n)], s[(i, n)]);
                    let q = qb[(n, i)];
                    pb[(n, i)] = s1 * pb[(n, i)] + s2 * dz[(i, n)] * q;
                    qb[(n, i)] = s1 * q;
                }
            }
            zb = pb;
            db = qb;
        }
    }
}

impl PinnObjective<'_> {
    pub(crate) fn scales(&self) -> (f64, f64) {
        let d = self.data;
        (
            (self.alpha / d.n_interior_total().max(1) as f64).sqrt(),
            (self.beta_bc / d.n_boundary_total().max(1) as f64).sqrt(),
        )
    }

    /// The residual's fixed row blocks.
    pub(crate) fn blocks(&self) -> PinnBlocks<'_> {
        let d = self.data;
        let (ni, nbc) = (d.n_interior(), d.n_boundary());
        let mut rows = row_blocks(ni, 1, 0);
        let n_int = rows.len();
        rows.extend(row_blocks(nbc, 1, ni));
        PinnBlocks {
            data: d,
            scales: self.scales(),
            n_int,
            rows,
        }
    }
}

/// The row blocks of the PINN residual (one row a point): [`JAC_BLOCK`]
/// interior points at a time, then the boundary points.
pub(crate) struct PinnBlocks<'a> {
    data: &'a PinnData,
    scales: (f64, f64),
    /// Interior blocks (they come first).
    n_int: usize,
    /// Rows of every block.
    pub(crate) rows: Vec<Range<usize>>,
}

/// The points of one block.
enum Points<'a> {
    /// Interior points `x`, directions `v` and right-hand side `f`, with the
    /// PDE rows' scale.
    Interior(MatRef<'a, f64>, MatRef<'a, f64>, MatRef<'a, f64>, f64),
    /// Boundary points `x` and data `g`, with the boundary rows' scale.
    Boundary(MatRef<'a, f64>, MatRef<'a, f64>, f64),
}

impl PinnBlocks<'_> {
    fn points(&self, b: usize) -> Points<'_> {
        let (d, (si, sb), len) = (self.data, self.scales, self.rows[b].len());
        if b < self.n_int {
            let s0 = b * JAC_BLOCK;
            Points::Interior(
                d.e_int.subcols(s0, len),
                d.v_int.subcols(s0, len),
                d.f_int.subcols(s0, len),
                si,
            )
        } else {
            let s0 = (b - self.n_int) * JAC_BLOCK;
            Points::Boundary(d.e_bc.subcols(s0, len), d.g_bc.subcols(s0, len), sb)
        }
    }

    /// Block `b`'s residuals into `r` (`scale (grad u . v - f)` or
    /// `scale (u - g)`); returns their squared sum.
    fn residuals(&self, net: &Network, b: usize, r: &mut [f64]) -> f64 {
        match self.points(b) {
            Points::Interior(x, v, f, s) => {
                let mut c = DirCache::new(net.widths(), x.ncols());
                dir_forward_into(net, x, v, &mut c);
                scaled_residuals(c.dz[net.depth() - 1].as_ref(), f, s, r)
            }
            Points::Boundary(x, g, s) => value_residuals(net, x, g, s, r),
        }
    }

    /// Block `b`'s Jacobian factors, passed to `sink` layer by layer from the last.
    pub(crate) fn factors(&self, net: &Network, b: usize, sink: &mut dyn FnMut(LayerFactors<'_>)) {
        match self.points(b) {
            Points::Interior(x, v, _, s) => directional_factors(net, x, v, s, sink),
            Points::Boundary(x, _, s) => value_factors(net, x, s, sink),
        }
    }
}

impl LeastSquares for PinnObjective<'_> {
    fn residual_count(&self) -> usize {
        self.data.n_interior() + self.data.n_boundary()
    }

    fn residuals_into(&mut self, net: &Network, r: &mut [f64]) -> f64 {
        assert_eq!(r.len(), self.residual_count(), "residual length");
        assert_eq!(net.output_dim(), 1, "PINN networks have one output");
        let blocks = self.blocks();
        let ni = self.data.n_interior();
        let (ri, rb) = r.split_at_mut(ni);
        let (int, bc) = blocks.rows.split_at(blocks.n_int);
        let pde = fill_residuals(int, 0, ri, |b, chunk| blocks.residuals(net, b, chunk));
        let bc = fill_residuals(bc, ni, rb, |b, chunk| {
            blocks.residuals(net, blocks.n_int + b, chunk)
        });
        pde + bc
    }

    fn jacobian_rows_into(&mut self, net: &Network, rows: Range<usize>, jac: MatMut<'_, f64>) {
        assert!(
            rows.end <= self.residual_count(),
            "Jacobian rows out of range"
        );
        assert_eq!(jac.ncols(), net.num_params(), "Jacobian columns");
        assert_eq!(net.output_dim(), 1, "PINN networks have one output");
        let blocks = self.blocks();
        fill_rows(&blocks.rows, rows, jac, |b, mut dst| {
            blocks.factors(net, b, &mut |f| write_layer(dst.rb_mut(), &f));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Objective;
    use crate::task::pde::{PdeConfig, PinnData, Problem};
    use crate::task::regression_jacobian::testutil::{fd_jacobian, worst_rel};
    use crate::{Activation, NetworkSpec};

    #[test]
    fn pinn_jacobian_matches_central_differences_for_every_smooth_activation() {
        for (problem, ni) in [
            (Problem::transport1d(3.0), 70),
            (Problem::transport_inflow(1.0), 23),
        ] {
            let cfg = PdeConfig {
                n_interior: ni,
                n_boundary: 9,
                ..PdeConfig::default()
            };
            let data = PinnData::sample(&problem, &cfg, 1).unwrap();
            let d = data.e_int.nrows();
            for act in Activation::smooth() {
                let net = NetworkSpec::new(vec![d, 5, 4, 1])
                    .with_activation(act)
                    .build(2)
                    .unwrap();
                let mut obj = PinnObjective::new(&net, &data, 0.7, 1.3);
                let (fd, r0) = fd_jacobian(&mut obj, &net, 1e-6);
                let m = obj.residual_count();
                let mut jac = Mat::zeros(m, net.num_params());
                obj.jacobian_rows_into(&net, 0..m, jac.as_mut());
                let worst = worst_rel(jac.as_ref(), fd.as_ref(), 1e-3);
                assert!(worst < 1e-6, "{} {act}: worst {worst:e}", problem.name);
                let v = obj.value(&net);
                let s: f64 = r0.iter().map(|v| v * v).sum();
                assert!((s - v).abs() <= 1e-13 * v, "{act}: {s} vs {v}");
                // Any split of the rows gives the same bits.
                let mut parts = Mat::zeros(m, net.num_params());
                let mut cuts = vec![0, 3, 64, 65, ni + 2, m];
                cuts.retain(|&c| c <= m);
                cuts.sort();
                cuts.dedup();
                for w in cuts.windows(2) {
                    let view = parts.as_mut().subrows_mut(w[0], w[1] - w[0]);
                    obj.jacobian_rows_into(&net, w[0]..w[1], view);
                }
                assert_eq!(parts, jac);
            }
        }
    }
}
