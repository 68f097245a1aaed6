//! The least-squares loss `J_LS` and its gradient by backpropagation.
//!
//! `J_LS(theta) = (1/N) sum_n |u(x_n) - y_n|^2` (squared Euclidean norm over
//! outputs, mean over samples; for one output this is the usual MSE).
//! Backpropagation is written as matrix products per block of samples:
//! `delta_L = (2/N)(U - Y)`, `grad W~_l = delta_l P_{l-1}^T`,
//! `delta_{l-1} = s'(Z_{l-1}) (.) (W_l^T delta_l)`.

use crate::linalg::{DEFAULT_BLOCK, PerThread, SampleBlocks, SharedReducer, reduce_or_nan};
use crate::net::activation::Activation;
use crate::net::{ForwardCache, Network, col, col_mut};
use crate::objective::{Objective, ShardedObjective};
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// `J_LS` of `net` on inputs `x` (`d x N`) and targets `y` (`m x N`).
pub fn mse(net: &Network, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> f64 {
    mse_in_units(net, x, y, None)
}

/// [`mse`] with output `i`'s errors multiplied by `out_scale[i]`: for a
/// network trained on targets `(y - shift) / scale` (`data.scale`), the
/// squared error in the data's units. `None`: as [`mse`].
pub fn mse_in_units(
    net: &Network,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    out_scale: Option<&[f64]>,
) -> f64 {
    let n = x.ncols();
    if n == 0 {
        return 0.0;
    }
    sq_error_sum(net, x, y, out_scale) / n as f64
}

/// `sum_n |u(x_n) - y_n|^2` (errors times `out_scale` as in
/// [`mse_in_units`]), summed per block in block order.
pub fn sq_error_sum(
    net: &Network,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    out_scale: Option<&[f64]>,
) -> f64 {
    let per_block = map_blocks(net, x, y, |u, t| match out_scale {
        Some(sc) => sq_diff_scaled(u, t, sc),
        None => sq_diff(u, t),
    });
    per_block.into_iter().sum()
}

/// `max |u(x_n) - y_n|` over samples and outputs, output `i`'s errors
/// multiplied by `out_scale[i]` (see [`mse_in_units`]): the sup-norm error
/// (NaN if any prediction is NaN, 0 with no samples).
pub fn max_abs_error_in_units(
    net: &Network,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    out_scale: Option<&[f64]>,
) -> f64 {
    let per_block = map_blocks(net, x, y, |u, t| match out_scale {
        Some(sc) => (0..u.nrows()).fold(0.0, |m, i| {
            nan_max(m, sc[i] * max_abs_diff(u.subrows(i, 1), t.subrows(i, 1)))
        }),
        None => max_abs_diff(u, t),
    });
    per_block.into_iter().fold(0.0, nan_max)
}

/// `f(predictions, targets)` of every block of samples, in block order.
fn map_blocks<T: Send>(
    net: &Network,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    f: impl Fn(MatRef<'_, f64>, MatRef<'_, f64>) -> T + Sync + Send,
) -> Vec<T> {
    SampleBlocks::new(x.ncols(), DEFAULT_BLOCK).map(|r| {
        let mut cache = ForwardCache::new(net.widths(), r.len());
        net.forward_into(x.subcols(r.start, r.len()), &mut cache);
        f(cache.output(), y.subcols(r.start, r.len()))
    })
}

/// `max |a - b|` over all entries (NaN if any difference is NaN).
pub fn max_abs_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut m = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = nan_max(m, (a[(i, j)] - b[(i, j)]).abs());
        }
    }
    m
}

/// `max(a, b)` that keeps a NaN (`f64::max` drops it).
pub(crate) fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
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

/// `sum (scale_i (a_ij - b_ij))^2` over all entries: [`sq_diff`] in the data's units.
pub fn sq_diff_scaled(a: MatRef<'_, f64>, b: MatRef<'_, f64>, scale: &[f64]) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let d = scale[i] * (a[(i, j)] - b[(i, j)]);
            s += d * d;
        }
    }
    s
}

/// Reusable buffers for [`LsGrad::loss_grad`]: per-thread block scratch (a
/// forward cache and deltas for one sample block) and per-block gradient
/// slots for one wave of blocks, folded in block order. Memory is
/// `O(threads x block x depth x width)`, independent of `N`, and a
/// steady-state call allocates nothing.
pub struct LsGrad {
    blocks: SampleBlocks,
    pool: PerThread<BlockWs>,
    slots: Vec<(Vec<f64>, f64)>,
    n: usize,
    /// Samples over all processes (`n` in a single process): the mean's divisor.
    total: usize,
    /// The most samples the buffers were made for, and the block cap asked for.
    capacity: usize,
    block: usize,
}

#[derive(Debug, Clone)]
struct BlockWs {
    fwd: ForwardCache,
    delta: Vec<Mat<f64>>,
}

impl std::fmt::Debug for LsGrad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LsGrad(n = {}, blocks = {})", self.n, self.blocks.len())
    }
}

/// Blocks per wave of [`LsGrad`] (the fold is in block order for any value).
const GRAD_WAVE: usize = 16;

impl LsGrad {
    /// Buffers for `net`'s shape and `n` samples in blocks of at most `block`
    /// (see [`crate::linalg::balanced_block`]).
    pub fn new(net: &Network, n: usize, block: usize) -> Self {
        let block = crate::linalg::balanced_block(n, block);
        let blocks = SampleBlocks::new(n, block);
        let nb = block.max(1).min(n.max(1));
        let w = net.widths().to_vec();
        let pool = PerThread::new(move || BlockWs {
            fwd: ForwardCache::new(&w, nb),
            delta: (1..w.len()).map(|l| Mat::zeros(w[l], nb)).collect(),
        });
        let wave = GRAD_WAVE.min(blocks.len().max(1));
        let slots = (0..wave)
            .map(|_| (vec![0.0; net.num_params()], 0.0))
            .collect();
        LsGrad {
            blocks,
            pool,
            slots,
            n,
            total: n,
            capacity: n,
            block,
        }
    }

    /// Re-targets the buffers at `n <= ` the constructor's samples, the mean
    /// dividing by `total` (a process's share of a mini-batch drawn over all
    /// processes: its length changes from step to step). The blocks are those
    /// [`LsGrad::new`] would make for `n`, never wider than the buffers.
    pub fn set_len(&mut self, n: usize, total: usize) {
        assert!(
            n <= self.capacity,
            "{n} samples for buffers of {}",
            self.capacity
        );
        if n != self.n {
            self.blocks = SampleBlocks::new(n, crate::linalg::balanced_block(n, self.block));
            self.n = n;
        }
        self.total = total;
    }

    /// Divide by `total` samples (all processes' shards) instead of this shard's.
    pub fn with_total(mut self, total: usize) -> Self {
        self.total = total;
        self
    }

    /// Heap bytes held (scratch of the threads that have run, and the slots).
    pub fn bytes(&self) -> usize {
        let mat = |m: &Mat<f64>| crate::linalg::mat_bytes(m);
        self.pool.total(|w| {
            w.fwd
                .p
                .iter()
                .chain(&w.fwd.z)
                .chain(&w.delta)
                .map(mat)
                .sum()
        }) + self.slots.iter().map(|(g, _)| 8 * g.len()).sum::<usize>()
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
        self.pool.ensure(rayon::current_num_threads());
        let scale = 2.0 / self.total as f64;
        let pool = &self.pool;
        grad.fill(0.0);
        let mut loss = 0.0;
        self.blocks.for_each_wave(
            &mut self.slots,
            |_, r, (g, l)| {
                pool.with(|ws| {
                    *l = backprop_block(
                        net,
                        x.subcols(r.start, r.len()),
                        y.subcols(r.start, r.len()),
                        scale,
                        ws,
                        g,
                    );
                });
            },
            |_, slots| {
                for (g, l) in slots.iter() {
                    loss += l;
                    for (t, b) in grad.iter_mut().zip(g) {
                        *t += b;
                    }
                }
            },
        );
        loss / self.total as f64
    }

    /// `J_LS` alone (forward passes only), with the same buffers.
    pub fn loss(&mut self, net: &Network, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> f64 {
        assert_eq!(x.ncols(), self.n, "sample count changed");
        if self.n == 0 {
            return 0.0;
        }
        self.pool.ensure(rayon::current_num_threads());
        let pool = &self.pool;
        let mut loss = 0.0;
        self.blocks.for_each_wave(
            &mut self.slots,
            |_, r, (_, l)| {
                pool.with(|ws| {
                    let xb = x.subcols(r.start, r.len());
                    net.forward_prefix_into(xb, &mut ws.fwd);
                    let out = ws.fwd.output().subcols(0, r.len());
                    *l = sq_diff(out, y.subcols(r.start, r.len()));
                });
            },
            |_, slots| {
                for (_, l) in slots.iter() {
                    loss += l;
                }
            },
        );
        loss / self.total as f64
    }
}

/// Forward and backward pass of one block into `grad` (overwritten); returns
/// the block's sum of squared errors.
fn backprop_block(
    net: &Network,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    scale: f64,
    ws: &mut BlockWs,
    grad: &mut [f64],
) -> f64 {
    let nb = x.ncols();
    net.forward_prefix_into(x, &mut ws.fwd);
    let depth = net.depth();
    let out = ws.fwd.output().subcols(0, nb);
    let mut last = ws.delta[depth - 1].as_mut().subcols_mut(0, nb);
    let mut loss = 0.0;
    for j in 0..out.ncols() {
        for i in 0..out.nrows() {
            let d = out[(i, j)] - y[(i, j)];
            loss += d * d;
            last[(i, j)] = scale * d;
        }
    }
    let mut offset = net.num_params();
    for l in (0..depth).rev() {
        let layer = net.layer(l);
        let (rows, cols) = (layer.nrows(), layer.ncols());
        offset -= rows * cols;
        let g = MatMut::from_column_major_slice_mut(
            &mut grad[offset..offset + rows * cols],
            rows,
            cols,
        );
        faer::linalg::matmul::matmul(
            g,
            Accum::Replace,
            ws.delta[l].as_ref().subcols(0, nb),
            ws.fwd.p[l].as_ref().subcols(0, nb).transpose(),
            1.0,
            Par::Seq,
        );
        if l > 0 {
            let (lo, hi) = ws.delta.split_at_mut(l);
            let mut prev = lo[l - 1].as_mut().subcols_mut(0, nb);
            faer::linalg::matmul::matmul(
                prev.as_mut(),
                Accum::Replace,
                net.weight(l).transpose(),
                hi[0].as_ref().subcols(0, nb),
                1.0,
                Par::Seq,
            );
            let z = ws.fwd.z[l - 1].as_ref();
            let s = ws.fwd.p[l].as_ref();
            let act = net.activation();
            for j in 0..nb {
                let (zc, sc) = (col(z, j), col(s, j));
                let pc = col_mut(prev.as_mut(), j);
                if act == Activation::Tanh {
                    for (p, s) in pc.iter_mut().zip(sc) {
                        *p *= 1.0 - s * s;
                    }
                } else {
                    for ((p, z), s) in pc.iter_mut().zip(zc).zip(sc) {
                        *p *= act.deriv_with_value(*z, *s);
                    }
                }
            }
        }
    }
    loss
}

/// `J_LS` on a fixed data set as an [`Objective`] for the gradient trainers.
pub struct LsObjective<'a> {
    pub(crate) x: MatRef<'a, f64>,
    pub(crate) y: MatRef<'a, f64>,
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

    /// `J_LS` over the samples of every process, `(x, y)` being this
    /// process's shard: the mean divides by the count of every process (one
    /// collective now) and the value and gradient are summed through
    /// `reducer` ([`ShardedObjective`]). A single-process reducer changes
    /// nothing.
    pub fn sharded(mut self, net: &Network, reducer: SharedReducer) -> Box<dyn Objective + 'a> {
        if reducer.size() == 1 {
            return Box::new(self);
        }
        let mut n = [self.x.ncols() as f64];
        reduce_or_nan(reducer.as_ref(), &mut n);
        let grad = std::mem::replace(&mut self.grad, LsGrad::new(net, 0, DEFAULT_BLOCK));
        self.grad = grad.with_total(n[0] as usize);
        Box::new(ShardedObjective::new(
            Box::new(self),
            reducer,
            net.num_params(),
        ))
    }
}

impl Objective for LsObjective<'_> {
    fn value(&mut self, net: &Network) -> f64 {
        self.grad.loss(net, self.x, self.y)
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
                let fds = crate::net::central_differences(&mut net, 1e-6, |n| {
                    mse(n, x.as_ref(), y.as_ref())
                });
                for (k, &fd) in fds.iter().enumerate() {
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
