//! The least-squares loss `J_LS` and its gradient by backpropagation.
//!
//! `J_LS(theta) = (1/N) sum_n |u(x_n) - y_n|^2` (squared Euclidean norm over
//! outputs, mean over samples; for one output this is the usual MSE).
//! Backpropagation is written as matrix products per block of samples:
//! `delta_L = (2/N)(U - Y)`, `grad W~_l = delta_l P_{l-1}^T`,
//! `delta_{l-1} = s'(Z_{l-1}) (.) (W_l^T delta_l)`.

use crate::linalg::SampleBlocks;
use crate::net::{ForwardCache, Network};
use crate::train::Objective;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Default number of samples per block for sample-parallel kernels.
pub const DEFAULT_BLOCK: usize = 2048;

/// `J_LS` of `net` on inputs `x` (`d x N`) and targets `y` (`m x N`).
pub fn mse(net: &Network, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> f64 {
    let n = x.ncols();
    if n == 0 {
        return 0.0;
    }
    let blocks = SampleBlocks::new(n, DEFAULT_BLOCK);
    let s = blocks.sum(|r| {
        let mut cache = ForwardCache::new(net.widths(), r.len());
        net.forward_into(x.subcols(r.start, r.len()), &mut cache);
        sq_diff(cache.output(), y.subcols(r.start, r.len()))
    });
    s / n as f64
}

/// `sum |a - b|^2` over all entries.
pub fn sq_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let d = a[(i, j)] - b[(i, j)];
            s += d * d;
        }
    }
    s
}

/// Reusable buffers for [`LsGrad::loss_grad`]: one forward cache, one set of
/// deltas and one gradient per sample block.
#[derive(Debug, Clone)]
pub struct LsGrad {
    blocks: SampleBlocks,
    ws: Vec<BlockWs>,
    n: usize,
}

#[derive(Debug, Clone)]
struct BlockWs {
    fwd: ForwardCache,
    delta: Vec<Mat<f64>>,
    grad: Vec<f64>,
    loss: f64,
}

impl LsGrad {
    /// Buffers for `net`'s shape and `n` samples in blocks of `block`.
    pub fn new(net: &Network, n: usize, block: usize) -> Self {
        let blocks = SampleBlocks::new(n, block);
        let w = net.widths();
        let ws = blocks
            .ranges()
            .iter()
            .map(|r| BlockWs {
                fwd: ForwardCache::new(w, r.len()),
                delta: (1..w.len()).map(|l| Mat::zeros(w[l], r.len())).collect(),
                grad: vec![0.0; net.num_params()],
                loss: 0.0,
            })
            .collect();
        LsGrad { blocks, ws, n }
    }

    /// `J_LS` and its gradient (flat, in [`Network::params`] order) written into `grad`.
    pub fn loss_grad(
        &mut self,
        net: &Network,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        grad: &mut [f64],
    ) -> f64 {
        assert_eq!(x.ncols(), self.n, "sample count changed");
        let scale = 2.0 / self.n as f64;
        let ranges = self.blocks.ranges();
        let work = |(r, ws): (&std::ops::Range<usize>, &mut BlockWs)| {
            backprop_block(
                net,
                x.subcols(r.start, r.len()),
                y.subcols(r.start, r.len()),
                scale,
                ws,
            );
        };
        if self.ws.len() == 1 {
            work((&ranges[0], &mut self.ws[0]));
        } else {
            ranges.par_iter().zip(self.ws.par_iter_mut()).for_each(work);
        }
        grad.fill(0.0);
        let mut loss = 0.0;
        for ws in &self.ws {
            loss += ws.loss;
            for (g, b) in grad.iter_mut().zip(&ws.grad) {
                *g += b;
            }
        }
        loss / self.n as f64
    }
}

fn backprop_block(
    net: &Network,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    scale: f64,
    ws: &mut BlockWs,
) {
    net.forward_into(x, &mut ws.fwd);
    let depth = net.depth();
    let out = ws.fwd.output();
    let last = &mut ws.delta[depth - 1];
    let mut loss = 0.0;
    for j in 0..out.ncols() {
        for i in 0..out.nrows() {
            let d = out[(i, j)] - y[(i, j)];
            loss += d * d;
            last[(i, j)] = scale * d;
        }
    }
    ws.loss = loss;
    let mut offset = net.num_params();
    for l in (0..depth).rev() {
        let layer = net.layer(l);
        let (rows, cols) = (layer.nrows(), layer.ncols());
        offset -= rows * cols;
        let g = MatMut::from_column_major_slice_mut(
            &mut ws.grad[offset..offset + rows * cols],
            rows,
            cols,
        );
        faer::linalg::matmul::matmul(
            g,
            Accum::Replace,
            ws.delta[l].as_ref(),
            ws.fwd.p[l].as_ref().transpose(),
            1.0,
            Par::Seq,
        );
        if l > 0 {
            let (lo, hi) = ws.delta.split_at_mut(l);
            let prev = &mut lo[l - 1];
            faer::linalg::matmul::matmul(
                prev.as_mut(),
                Accum::Replace,
                net.weight(l).transpose(),
                hi[0].as_ref(),
                1.0,
                Par::Seq,
            );
            let z = ws.fwd.z[l - 1].as_ref();
            let s = ws.fwd.p[l].as_ref();
            let act = net.activation();
            for j in 0..prev.ncols() {
                for i in 0..prev.nrows() {
                    prev[(i, j)] *= act.deriv_with_value(z[(i, j)], s[(i, j)]);
                }
            }
        }
    }
}

/// `J_LS` on a fixed data set as an [`Objective`] for the gradient trainers.
pub struct LsObjective<'a> {
    x: MatRef<'a, f64>,
    y: MatRef<'a, f64>,
    grad: LsGrad,
}

impl<'a> LsObjective<'a> {
    /// `J_LS` of `net`'s shape on `(x, y)`.
    pub fn new(net: &Network, x: MatRef<'a, f64>, y: MatRef<'a, f64>) -> Self {
        LsObjective {
            x,
            y,
            grad: LsGrad::new(net, x.ncols(), DEFAULT_BLOCK),
        }
    }
}

impl Objective for LsObjective<'_> {
    fn value(&mut self, net: &Network) -> f64 {
        mse(net, self.x, self.y)
    }
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
        self.grad.loss_grad(net, self.x, self.y, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, NetworkSpec};

    #[test]
    fn backprop_matches_central_differences_for_every_activation() {
        for act in Activation::ALL {
            let mut net = NetworkSpec::new(vec![2, 5, 4, 2])
                .with_activation(act)
                .build(9)
                .unwrap();
            // Keep ReLU pre-activations away from the kink.
            let x = Mat::from_fn(2, 13, |i, j| ((3 * i + 5 * j) as f64 * 0.61).sin() * 1.7);
            let y = Mat::from_fn(2, 13, |i, j| ((i + 2 * j) as f64 * 0.3).cos());
            for block in [4, 100] {
                let mut lg = LsGrad::new(&net, 13, block);
                let mut g = vec![0.0; net.num_params()];
                let f0 = lg.loss_grad(&net, x.as_ref(), y.as_ref(), &mut g);
                assert!((f0 - mse(&net, x.as_ref(), y.as_ref())).abs() < 1e-14);
                let p0 = net.params();
                let h = 1e-6;
                for k in 0..p0.len() {
                    let mut p = p0.clone();
                    p[k] += h;
                    net.set_params(&p);
                    let fp = mse(&net, x.as_ref(), y.as_ref());
                    p[k] -= 2.0 * h;
                    net.set_params(&p);
                    let fm = mse(&net, x.as_ref(), y.as_ref());
                    net.set_params(&p0);
                    let fd = (fp - fm) / (2.0 * h);
                    assert!(
                        (fd - g[k]).abs() <= 1e-6 * (1.0 + g[k].abs()),
                        "{act} param {k}: fd {fd} vs {}",
                        g[k]
                    );
                }
            }
        }
    }
}
