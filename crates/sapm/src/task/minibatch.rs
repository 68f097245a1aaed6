//! `J_LS` on mini-batches (`train.batch_size`, method `ls-adam`): step `t`
//! uses batch `t mod B` of epoch `t / B` (`B = ceil(N / batch_size)`
//! batches, the last one shorter), the samples of epoch `e` shuffled by a
//! ChaCha8 stream seeded from the run seed and `e`. The batch depends on the
//! step number only, so a resumed run sees the same batches and any run is
//! deterministic for its seed.

use super::regression::LsGrad;
use crate::linalg::DEFAULT_BLOCK;
use crate::net::Network;
use crate::objective::Objective;
use faer::{Mat, MatRef};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Batches of `size` of `n` items: epoch `e` is a permutation of the items
/// drawn from `seed` and `e`, cut into `ceil(n / size)` batches (the last one
/// shorter); step `t` takes batch `t mod B` of epoch `t / B`. The regression
/// mini-batches and the PINN subset batches (`task::pde::batch`) use it.
#[derive(Debug, Clone)]
pub struct EpochOrder {
    seed: u64,
    size: usize,
    /// The permutation of the current epoch, and which epoch it is.
    order: Vec<usize>,
    epoch: Option<u64>,
}

impl EpochOrder {
    /// Batches of `size` (clamped to `1..=n`) of `n` items, shuffled from `seed`.
    pub fn new(n: usize, size: usize, seed: u64) -> Self {
        EpochOrder {
            seed,
            size: size.clamp(1, n.max(1)),
            order: (0..n).collect(),
            epoch: None,
        }
    }

    /// Items per (full) batch.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Batches per epoch.
    pub fn batches(&self) -> usize {
        self.order.len().div_ceil(self.size)
    }

    /// The item indices of step `t`'s batch.
    pub fn batch_of(&mut self, t: u64) -> &[usize] {
        let nb = self.batches().max(1) as u64;
        let (epoch, slot) = (t / nb, (t % nb) as usize);
        if self.epoch != Some(epoch) {
            self.order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
            let mut rng = ChaCha8Rng::seed_from_u64(
                self.seed ^ 0xBA7C_0000 ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            self.order.shuffle(&mut rng);
            self.epoch = Some(epoch);
        }
        let lo = slot * self.size;
        &self.order[lo..(lo + self.size).min(self.order.len())]
    }
}

/// Mini-batch `J_LS` over `(x, y)` for a stochastic optimiser.
///
/// On several processes ([`MiniBatch::sharded`]) `(x, y)` is this process's
/// contiguous shard of the whole training set: every process draws the same
/// batches of global sample indices, takes those of its shard, and returns
/// its share of the batch loss and gradient (divided by the whole batch's
/// length), which a [`crate::objective::ShardedObjective`] sums. The batches
/// are those of one process on the whole set.
pub struct MiniBatch<'a> {
    x: MatRef<'a, f64>,
    y: MatRef<'a, f64>,
    size: usize,
    step: u64,
    order: EpochOrder,
    /// Global index of this process's first sample (0 on one process).
    offset: usize,
    sharded: bool,
    xb: Mat<f64>,
    yb: Mat<f64>,
    /// One `LsGrad` per batch length (full and the shorter last batch); a
    /// shard's share changes length from step to step, so a sharded batch
    /// re-targets `full` instead ([`LsGrad::set_len`]).
    full: LsGrad,
    last: Option<LsGrad>,
}

impl<'a> MiniBatch<'a> {
    /// Batches of `size` (1 <= size < N) samples of `(x, y)`, shuffled from `seed`.
    pub fn new(
        net: &Network,
        x: MatRef<'a, f64>,
        y: MatRef<'a, f64>,
        size: usize,
        seed: u64,
    ) -> Self {
        let n = x.ncols();
        let size = size.clamp(1, n.max(1));
        let rest = n % size;
        MiniBatch {
            x,
            y,
            size,
            step: 0,
            order: EpochOrder::new(n, size, seed),
            offset: 0,
            sharded: false,
            xb: Mat::zeros(x.nrows(), size),
            yb: Mat::zeros(y.nrows(), size),
            full: LsGrad::new(net, size, DEFAULT_BLOCK),
            last: (rest > 0).then(|| LsGrad::new(net, rest, DEFAULT_BLOCK)),
        }
    }

    /// Batches of `size` drawn over all `n_total` samples of every process,
    /// `(x, y)` being this process's samples `offset..offset + x.ncols()`.
    /// Every process holds the epoch's permutation of all `n_total` indices
    /// (8 bytes per sample).
    pub fn sharded(
        net: &Network,
        x: MatRef<'a, f64>,
        y: MatRef<'a, f64>,
        (offset, n_total): (usize, usize),
        size: usize,
        seed: u64,
    ) -> Self {
        let size = size.clamp(1, n_total.max(1));
        MiniBatch {
            x,
            y,
            size,
            step: 0,
            order: EpochOrder::new(n_total, size, seed),
            offset,
            sharded: true,
            xb: Mat::zeros(x.nrows(), size),
            yb: Mat::zeros(y.nrows(), size),
            full: LsGrad::new(net, size, DEFAULT_BLOCK),
            last: None,
        }
    }

    /// Batches per epoch.
    pub fn batches(&self) -> usize {
        self.order.batches()
    }

    /// The (global) sample indices of step `t`'s batch.
    pub fn batch_of(&mut self, t: u64) -> &[usize] {
        self.order.batch_of(t)
    }

    /// Copy this process's samples of step `t`'s batch into `xb`, `yb`;
    /// returns how many, and the length of the whole batch.
    fn gather(&mut self, t: u64) -> (usize, usize) {
        let (x, y) = (self.x, self.y);
        let mine = self.offset..self.offset + x.ncols();
        let idx = self.order.batch_of(t);
        let mut j = 0;
        for s in idx
            .iter()
            .filter(|s| mine.contains(s))
            .map(|s| s - self.offset)
        {
            for i in 0..x.nrows() {
                self.xb[(i, j)] = x[(i, s)];
            }
            for i in 0..y.nrows() {
                self.yb[(i, j)] = y[(i, s)];
            }
            j += 1;
        }
        (j, idx.len())
    }

    /// This process's part of step `step`'s batch gathered, with the gradient
    /// workspace of its length.
    fn batch(&mut self, step: u64) -> (&mut LsGrad, MatRef<'_, f64>, MatRef<'_, f64>) {
        let (n, whole) = self.gather(step);
        let g = if self.sharded {
            self.full.set_len(n, whole);
            &mut self.full
        } else if n == self.size {
            &mut self.full
        } else {
            self.last.as_mut().expect("short batch")
        };
        (
            g,
            self.xb.as_ref().subcols(0, n),
            self.yb.as_ref().subcols(0, n),
        )
    }
}

impl Objective for MiniBatch<'_> {
    /// The loss of the batch the next step would use.
    fn value(&mut self, net: &Network) -> f64 {
        let (g, xb, yb) = self.batch(self.step);
        g.loss(net, xb, yb)
    }
    /// Batch loss and gradient of the current step; moves to the next step.
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
        self.step += 1;
        let (g, xb, yb) = self.batch(self.step - 1);
        g.loss_grad(net, xb, yb, grad)
    }
    fn set_step(&mut self, step: u64) {
        self.step = step;
    }
    fn stochastic(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NetworkSpec;

    #[test]
    fn every_epoch_visits_every_sample_once_in_a_seeded_order() {
        let net = NetworkSpec::new(vec![1, 3, 1]).build(1).unwrap();
        let x = Mat::from_fn(1, 10, |_, j| j as f64);
        let y = x.clone();
        let mut mb = MiniBatch::new(&net, x.as_ref(), y.as_ref(), 4, 7);
        assert_eq!(mb.batches(), 3);
        let epoch = |mb: &mut MiniBatch<'_>, e: u64| -> Vec<usize> {
            (3 * e..3 * e + 3)
                .flat_map(|t| mb.batch_of(t).to_vec())
                .collect()
        };
        let e0 = epoch(&mut mb, 0);
        let e1 = epoch(&mut mb, 1);
        let mut sorted = e0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(e0, e1, "epochs are reshuffled");
        // Stateless in the step: going back gives the same batch.
        let mut again = MiniBatch::new(&net, x.as_ref(), y.as_ref(), 4, 7);
        assert_eq!(epoch(&mut again, 1), e1);
        let mut other = MiniBatch::new(&net, x.as_ref(), y.as_ref(), 4, 8);
        assert_ne!(epoch(&mut other, 0), e0, "another seed, another order");
    }

    /// The shards' parts of a batch are the batch: over K = 2, 3 shards the
    /// parts' losses and gradients (each divided by the whole batch's
    /// length) sum to one process's, step after step, the short last batch
    /// included.
    #[test]
    fn shard_parts_sum_to_the_whole_batch() {
        let net = NetworkSpec::new(vec![2, 4, 3]).build(2).unwrap();
        let n = 23;
        let x = Mat::from_fn(2, n, |i, j| ((i + 1) * j) as f64 * 0.1);
        let y = Mat::from_fn(3, n, |i, j| (j as f64 * 0.3 + i as f64).sin());
        let p = net.num_params();
        let mut one = MiniBatch::new(&net, x.as_ref(), y.as_ref(), 5, 4);
        for k in [2, 3] {
            let mut parts: Vec<MiniBatch<'_>> = (0..k)
                .map(|r| {
                    let rg = crate::linalg::shard_range(n, r, k);
                    let (xs, ys) = (x.subcols(rg.start, rg.len()), y.subcols(rg.start, rg.len()));
                    MiniBatch::sharded(&net, xs, ys, (rg.start, n), 5, 4)
                })
                .collect();
            for t in 0..12 {
                one.set_step(t);
                let mut g1 = vec![0.0; p];
                let f1 = one.value_grad(&net, &mut g1);
                let (mut f, mut g) = (0.0, vec![0.0; p]);
                for part in &mut parts {
                    part.set_step(t);
                    let v = part.value(&net);
                    let mut gp = vec![0.0; p];
                    let fp = part.value_grad(&net, &mut gp);
                    assert_eq!(v, fp, "value is the loss of the next step's batch");
                    f += fp;
                    g.iter_mut().zip(&gp).for_each(|(a, b)| *a += b);
                }
                assert!(
                    (f - f1).abs() <= 1e-13 * f1,
                    "K = {k}, step {t}: {f} vs {f1}"
                );
                for (a, b) in g.iter().zip(&g1) {
                    assert!(
                        (a - b).abs() <= 1e-13 * (1.0 + b.abs()),
                        "K = {k}, step {t}"
                    );
                }
            }
        }
    }
}
