//! Jacobians of networks as sums of row-wise Kronecker (Khatri-Rao)
//! products, layer by layer (design note gauss-newton.md, section 2).
//!
//! Row `r` of `J` restricted to layer `l` is `sum_t vec(b_{t,r} a_{t,r}^T)`,
//! i.e. entry `(i, j)` of the layer's column-major parameters is
//! `sum_t a_t[r, i] b_t[r, j]`, with `a_t` the output-side adjoints and `b_t`
//! the layer inputs. Regression has one term (`delta_l`, `p_l`), the PINN's
//! PDE rows two (`Zb_l`, `p_l`) and (`Db_l`, `q_l`). These factors are
//! `O(M (m_l + m_{l-1}))` per layer instead of `O(M m_l m_{l-1})` for `J`,
//! and give `J J^T = sum_l sum_{t,s} (A_t A_s^T) (.) (B_t B_s^T)`, `J^T y` and
//! `J w` by GEMMs without forming `J`.

use crate::net::Network;
use crate::objective::LeastSquares;
use crate::task::pde::loss::PinnObjective;
use crate::task::regression::LsObjective;
use crate::task::regression_jacobian::{JAC_BLOCK, LayerFactors, row_blocks, value_factors};
use faer::Mat;
use rayon::prelude::*;
use std::ops::Range;

/// One layer's factors over all `M` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct KrLayer {
    /// Offset of the layer's first parameter.
    pub offset: usize,
    /// Terms `(a, b)`: `a` is `M x m_l`, `b` is `M x (m_{l-1} + 1)`.
    pub terms: Vec<(Mat<f64>, Mat<f64>)>,
}

impl KrLayer {
    /// Number of parameters of the layer.
    pub fn params(&self) -> usize {
        self.terms.first().map_or(0, |(a, b)| a.ncols() * b.ncols())
    }
}

/// The factors of every layer, in layer order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KrFactors {
    /// Layers `0..L`.
    pub layers: Vec<KrLayer>,
}

impl KrFactors {
    /// Buffers for `rows` rows of `net`'s Jacobian with `terms` terms per layer.
    fn ensure(&mut self, net: &Network, rows: usize, terms: usize) {
        let w = net.widths();
        let ok = self.layers.len() == net.depth()
            && self.layers.iter().enumerate().all(|(l, k)| {
                k.terms.len() == terms
                    && k.terms.iter().all(|(a, b)| {
                        a.nrows() == rows && a.ncols() == w[l + 1] && b.ncols() == w[l] + 1
                    })
            });
        if ok {
            return;
        }
        let mut off = 0;
        self.layers = (0..net.depth())
            .map(|l| {
                let k = KrLayer {
                    offset: off,
                    terms: (0..terms)
                        .map(|_| (Mat::zeros(rows, w[l + 1]), Mat::zeros(rows, w[l] + 1)))
                        .collect(),
                };
                off += w[l + 1] * (w[l] + 1);
                k
            })
            .collect();
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| &l.terms)
            .map(|(a, b)| 8 * (a.nrows() * a.ncols() + b.nrows() * b.ncols()))
            .sum()
    }
}

/// A residual whose Jacobian comes as Khatri-Rao factors.
pub trait KhatriRao: LeastSquares {
    /// Terms per layer (regression 1, first-order PINN 2).
    fn kr_terms(&self) -> usize;
    /// The factors of all `M` rows at `net` into `f` (reusing its buffers).
    fn kr_factors_into(&mut self, net: &Network, f: &mut KrFactors);
}

type OwnedLayer = (usize, Mat<f64>, Mat<f64>, Option<(Mat<f64>, Mat<f64>)>);

/// Compute every block's factors in parallel (`compute(b, sink)`), then copy
/// them into `f` at the blocks' rows; a missing second term is zero.
fn collect(
    blocks: &[Range<usize>],
    f: &mut KrFactors,
    compute: impl Fn(usize, &mut dyn FnMut(LayerFactors<'_>)) + Sync + Send,
) {
    let parts: Vec<Vec<OwnedLayer>> = blocks
        .par_iter()
        .enumerate()
        .map(|(b, _)| {
            let mut out = Vec::new();
            compute(b, &mut |lf: LayerFactors<'_>| {
                out.push((
                    lf.layer,
                    lf.a.to_owned(),
                    lf.b.to_owned(),
                    lf.second.map(|(a, b)| (a.to_owned(), b.to_owned())),
                ));
            });
            out
        })
        .collect();
    for (r, part) in blocks.iter().zip(parts) {
        for (l, a, b, second) in part {
            let terms = &mut f.layers[l].terms;
            let n = r.len();
            terms[0].0.as_mut().subrows_mut(r.start, n).copy_from(&a);
            terms[0].1.as_mut().subrows_mut(r.start, n).copy_from(&b);
            if let Some(t) = terms.get_mut(1) {
                match &second {
                    Some((a2, b2)) => {
                        t.0.as_mut().subrows_mut(r.start, n).copy_from(a2);
                        t.1.as_mut().subrows_mut(r.start, n).copy_from(b2);
                    }
                    None => {
                        t.0.as_mut().subrows_mut(r.start, n).fill(0.0);
                        t.1.as_mut().subrows_mut(r.start, n).fill(0.0);
                    }
                }
            }
        }
    }
}

impl KhatriRao for LsObjective<'_> {
    fn kr_terms(&self) -> usize {
        1
    }
    fn kr_factors_into(&mut self, net: &Network, f: &mut KrFactors) {
        let (n, m) = (self.x.ncols(), self.y.nrows());
        f.ensure(net, n * m, 1);
        let scale = 1.0 / (n.max(1) as f64).sqrt();
        let x = self.x;
        let blocks = row_blocks(n, m, 0);
        collect(&blocks, f, |b, sink| {
            let s0 = b * JAC_BLOCK;
            let nb = blocks[b].len() / m;
            value_factors(net, x.subcols(s0, nb), scale, sink);
        });
    }
}

impl KhatriRao for PinnObjective<'_> {
    fn kr_terms(&self) -> usize {
        2
    }
    fn kr_factors_into(&mut self, net: &Network, f: &mut KrFactors) {
        let d = self.data;
        f.ensure(net, d.n_interior() + d.n_boundary(), 2);
        let blocks = self.blocks();
        collect(&blocks.rows, f, |b, sink| blocks.factors(net, b, sink));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NetworkSpec;
    use crate::task::pde::{PdeConfig, PinnData, Problem};

    /// The explicit Jacobian rebuilt from the factors.
    fn rebuild(f: &KrFactors, m: usize, p: usize) -> Mat<f64> {
        let mut j = Mat::zeros(m, p);
        for layer in &f.layers {
            for (a, b) in &layer.terms {
                for jj in 0..b.ncols() {
                    for i in 0..a.ncols() {
                        for r in 0..m {
                            j[(r, layer.offset + jj * a.ncols() + i)] += a[(r, i)] * b[(r, jj)];
                        }
                    }
                }
            }
        }
        j
    }

    #[test]
    fn factors_rebuild_the_jacobian() {
        let net = NetworkSpec::new(vec![2, 5, 4, 3]).build(1).unwrap();
        let n = 70;
        let x = Mat::from_fn(2, n, |i, j| ((i + 3 * j) as f64 * 0.7).sin());
        let y = Mat::from_fn(3, n, |i, j| ((i * j) as f64 * 0.1).cos());
        let mut obj = LsObjective::new(&net, x.as_ref(), y.as_ref());
        let m = obj.residual_count();
        let mut jac = Mat::zeros(m, net.num_params());
        obj.jacobian_rows_into(&net, 0..m, jac.as_mut());
        let mut f = KrFactors::default();
        obj.kr_factors_into(&net, &mut f);
        assert!((rebuild(&f, m, net.num_params()) - &jac).norm_max() < 1e-14);

        let cfg = PdeConfig {
            n_interior: 70,
            n_boundary: 9,
            ..PdeConfig::default()
        };
        let data = PinnData::sample(&Problem::transport_inflow(1.0), &cfg, 1).unwrap();
        let net = NetworkSpec::new(vec![2, 5, 4, 1]).build(1).unwrap();
        let mut obj = PinnObjective::new(&net, &data, 0.5, 2.0);
        let m = obj.residual_count();
        let mut jac = Mat::zeros(m, net.num_params());
        obj.jacobian_rows_into(&net, 0..m, jac.as_mut());
        obj.kr_factors_into(&net, &mut f);
        assert!((rebuild(&f, m, net.num_params()) - &jac).norm_max() < 1e-14);
    }
}
