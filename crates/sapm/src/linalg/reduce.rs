//! Sample blocks and the reduction interface.
//!
//! Every sum over samples (Gram matrices, right-hand sides, losses, gradients)
//! is computed per fixed block of samples, in parallel, then added in block
//! order. The partition depends only on `N` and the block size, so results are
//! bit-identical for any thread count. A [`Reducer`] then sums the per-process
//! totals; the single-process [`LocalReducer`] does nothing, and a
//! multi-process backend (MPI) only has to implement one method.

use crate::error::Result;
use rayon::prelude::*;
use std::ops::Range;

/// Sums buffers across processes. Implementations must give every participant
/// the same result.
pub trait Reducer: Send + Sync {
    /// Replace `buf` by its elementwise sum over all participants.
    fn all_reduce_sum(&self, buf: &mut [f64]) -> Result<()>;
    /// This participant's index.
    fn rank(&self) -> usize {
        0
    }
    /// Number of participants.
    fn size(&self) -> usize {
        1
    }
}

/// The single-process reducer: the local sum is the global sum.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalReducer;

impl Reducer for LocalReducer {
    fn all_reduce_sum(&self, _buf: &mut [f64]) -> Result<()> {
        Ok(())
    }
}

/// A fixed partition of `0..n` into contiguous blocks.
///
/// ```
/// use sapm::linalg::SampleBlocks;
/// let b = SampleBlocks::new(10, 4);
/// assert_eq!(b.ranges(), &[0..4, 4..8, 8..10]);
/// let sums = b.map(|r| r.len() as f64);
/// assert_eq!(sums, vec![4.0, 4.0, 2.0]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleBlocks {
    ranges: Vec<Range<usize>>,
}

impl SampleBlocks {
    /// Blocks of `block` samples (the last may be shorter). `n = 0` gives no blocks.
    pub fn new(n: usize, block: usize) -> Self {
        let block = block.max(1);
        let ranges = (0..n.div_ceil(block))
            .map(|b| b * block..((b + 1) * block).min(n))
            .collect();
        SampleBlocks { ranges }
    }

    /// The block ranges, in order.
    pub fn ranges(&self) -> &[Range<usize>] {
        &self.ranges
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Evaluate `f` on every block in parallel; results come back in block order.
    pub fn map<T: Send>(&self, f: impl Fn(Range<usize>) -> T + Sync + Send) -> Vec<T> {
        if self.ranges.len() == 1 {
            return vec![f(self.ranges[0].clone())];
        }
        self.ranges.par_iter().map(|r| f(r.clone())).collect()
    }

    /// Sum `f(block)` (a scalar) over blocks in block order.
    pub fn sum(&self, f: impl Fn(Range<usize>) -> f64 + Sync + Send) -> f64 {
        self.map(f).into_iter().sum()
    }

    /// Elementwise sum of per-block vectors of length `len`, in block order.
    pub fn sum_vec(
        &self,
        len: usize,
        f: impl Fn(Range<usize>, &mut [f64]) + Sync + Send,
    ) -> Vec<f64> {
        let parts = self.map(|r| {
            let mut v = vec![0.0; len];
            f(r, &mut v);
            v
        });
        let mut total = vec![0.0; len];
        for p in parts {
            for (t, v) in total.iter_mut().zip(p) {
                *t += v;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sums_do_not_depend_on_thread_count() {
        let blocks = SampleBlocks::new(10_007, 97);
        let f = |r: Range<usize>| r.map(|i| (i as f64).sin() * 1e-3).sum::<f64>();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| blocks.sum(f));
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| blocks.sum(f));
        assert_eq!(one.to_bits(), two.to_bits());
        let exact: f64 = (0..10_007).map(|i| (i as f64).sin() * 1e-3).sum();
        assert!((one - exact).abs() < 1e-12);
    }

    #[test]
    fn partition_covers_everything_once() {
        for (n, b) in [(0, 5), (1, 5), (5, 5), (6, 5), (100, 7)] {
            let blocks = SampleBlocks::new(n, b);
            let mut seen = vec![0; n];
            for r in blocks.ranges() {
                assert!(r.len() <= b && !r.is_empty());
                for i in r.clone() {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1));
        }
    }
}
