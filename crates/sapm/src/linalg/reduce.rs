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
use std::sync::{Arc, Mutex, TryLockError};

/// Default number of samples per block for sample-parallel kernels.
pub const DEFAULT_BLOCK: usize = 2048;

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

/// A reducer shared by everything of one run (trainer, objective, metrics).
pub type SharedReducer = Arc<dyn Reducer>;

/// The single-process reducer, shared.
pub fn local_reducer() -> SharedReducer {
    Arc::new(LocalReducer)
}

impl<R: Reducer + ?Sized> Reducer for Arc<R> {
    fn all_reduce_sum(&self, buf: &mut [f64]) -> Result<()> {
        (**self).all_reduce_sum(buf)
    }
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn size(&self) -> usize {
        (**self).size()
    }
}

/// Sum `buf` over all participants where the caller has no error path
/// (loss values and gradients): a failed reduction leaves NaN, which the
/// driver's divergence guard reports. (The MPI backend never returns an
/// error: Open MPI aborts the whole job on a communication failure.)
pub fn reduce_or_nan(reducer: &dyn Reducer, buf: &mut [f64]) {
    if reducer.size() > 1 && reducer.all_reduce_sum(buf).is_err() {
        buf.fill(f64::NAN);
    }
}

/// Every participant's `local` (all of the same length), in rank order,
/// through the sum reducer: each participant fills its own slot of a
/// zeroed buffer, so the sum is exact. For maxima, minima and anything
/// merged in a fixed order (R factors) across participants.
pub fn all_gather(reducer: &dyn Reducer, local: &[f64]) -> Result<Vec<Vec<f64>>> {
    let (rank, size) = (reducer.rank(), reducer.size());
    if size == 1 {
        return Ok(vec![local.to_vec()]);
    }
    let n = local.len();
    if n == 0 {
        return Ok(vec![Vec::new(); size]);
    }
    let mut all = vec![0.0; n * size];
    all[rank * n..(rank + 1) * n].copy_from_slice(local);
    reducer.all_reduce_sum(&mut all)?;
    Ok(all.chunks(n).map(<[f64]>::to_vec).collect())
}

/// The contiguous rows `rank N / K .. (rank + 1) N / K` of `0..n` that
/// participant `rank` of `size` trains on: every row exactly once, shards
/// differ in length by at most one, and the order of rows is kept.
///
/// ```
/// use sapm::linalg::shard_range;
/// assert_eq!(shard_range(10, 0, 3), 0..3);
/// assert_eq!(shard_range(10, 1, 3), 3..6);
/// assert_eq!(shard_range(10, 2, 3), 6..10);
/// ```
pub fn shard_range(n: usize, rank: usize, size: usize) -> Range<usize> {
    let size = size.max(1);
    // u128: n * rank does not overflow for any n and rank.
    let at = |r: usize| ((n as u128 * r as u128) / size as u128) as usize;
    at(rank.min(size))..at((rank + 1).min(size))
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

/// Fewest blocks a small data set is split into (enough to balance 2-8 threads).
pub const MIN_BLOCKS: usize = 16;
/// Smallest block that [`balanced_block`] produces.
pub const MIN_BLOCK: usize = 256;

/// Block size for `n` samples given the configured maximum `block`: `block`,
/// unless that leaves fewer than [`MIN_BLOCKS`] blocks, then `ceil(n / 16)`
/// (but at least [`MIN_BLOCK`]). Five 2048-sample blocks on two threads idle
/// one of them a sixth of the time (+28% per sample at N = 1e4 against
/// N = 1e6); 16 blocks fix that. Depends on `n` and `block` only, so results
/// stay independent of the thread count.
///
/// ```
/// use sapm::linalg::balanced_block;
/// assert_eq!(balanced_block(1_000_000, 2048), 2048);
/// assert_eq!(balanced_block(10_000, 2048), 625);
/// assert_eq!(balanced_block(1_000, 2048), 256);
/// assert_eq!(balanced_block(100, 64), 64);
/// ```
pub fn balanced_block(n: usize, block: usize) -> usize {
    let block = block.max(1);
    block.min(n.div_ceil(MIN_BLOCKS).max(MIN_BLOCK))
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

impl SampleBlocks {
    /// Run `work(b, range_b, slot)` for every block `b`, in parallel, in waves
    /// of `slots.len()` blocks (block `b` of a wave gets `slots[b - first]`);
    /// after each wave call `fold(first, &mut slots[..w])`, which must consume
    /// the slots in order. Sums folded this way depend on the block partition
    /// and the wave size only, never on the thread count, and no per-block
    /// buffer outlives its wave (memory O(wave), not O(N)).
    pub fn for_each_wave<T: Send>(
        &self,
        slots: &mut [T],
        work: impl Fn(usize, Range<usize>, &mut T) + Sync + Send,
        mut fold: impl FnMut(usize, &mut [T]),
    ) {
        let wave = slots.len().max(1);
        assert!(!slots.is_empty() || self.ranges.is_empty(), "no slots");
        let mut first = 0;
        while first < self.ranges.len() {
            let w = wave.min(self.ranges.len() - first);
            let ranges = &self.ranges[first..first + w];
            if w == 1 {
                work(first, ranges[0].clone(), &mut slots[0]);
            } else {
                slots[..w]
                    .par_iter_mut()
                    .zip(ranges.par_iter())
                    .enumerate()
                    .for_each(|(i, (slot, r))| work(first + i, r.clone(), slot));
            }
            fold(first, &mut slots[..w]);
            first += w;
        }
    }

    /// [`SampleBlocks::for_each_wave`] where block `b` also gets its mutable
    /// chunk `data[start_b * per_sample..end_b * per_sample]` (a per-sample
    /// buffer stored block by block), so passes can write per-block outputs
    /// in parallel without sharing.
    pub fn for_each_wave_chunks<T: Send>(
        &self,
        slots: &mut [T],
        data: &mut [f64],
        per_sample: usize,
        work: impl Fn(usize, Range<usize>, &mut T, &mut [f64]) + Sync + Send,
        mut fold: impl FnMut(usize, &mut [T]),
    ) {
        let wave = slots.len().max(1);
        assert!(!slots.is_empty() || self.ranges.is_empty(), "no slots");
        let n = self.ranges.last().map_or(0, |r| r.end);
        assert_eq!(data.len(), n * per_sample, "chunked buffer length");
        let step = self.ranges.first().map_or(1, |r| r.len()) * per_sample;
        let mut first = 0;
        while first < self.ranges.len() {
            let w = wave.min(self.ranges.len() - first);
            let ranges = &self.ranges[first..first + w];
            let lo = ranges[0].start * per_sample;
            let hi = ranges[w - 1].end * per_sample;
            if w == 1 {
                work(first, ranges[0].clone(), &mut slots[0], &mut data[lo..hi]);
            } else {
                slots[..w]
                    .par_iter_mut()
                    .zip(data[lo..hi].par_chunks_mut(step.max(1)))
                    .zip(ranges.par_iter())
                    .enumerate()
                    .for_each(|(i, ((slot, chunk), r))| work(first + i, r.clone(), slot, chunk));
            }
            fold(first, &mut slots[..w]);
            first += w;
        }
    }

    /// Nominal samples per block (the last block may be shorter).
    pub fn block_len(&self) -> usize {
        self.ranges.first().map_or(1, |r| r.len())
    }

    /// Run `work(b, range_b)` for every block in parallel (for passes whose
    /// per-block outputs are disjoint columns, so nothing needs reducing).
    pub fn for_each(&self, work: impl Fn(usize, Range<usize>) + Sync + Send) {
        if self.ranges.len() == 1 {
            work(0, self.ranges[0].clone());
        } else {
            self.ranges
                .par_iter()
                .enumerate()
                .for_each(|(b, r)| work(b, r.clone()));
        }
    }
}

/// One scratch value per worker thread, reused across calls so that hot
/// loops allocate nothing.
///
/// [`PerThread::with`] lends a free slot (normally the calling thread's own);
/// if every slot is busy it builds a temporary one, so it never blocks and
/// never deadlocks, whatever the pool.
///
/// ```
/// use sapm::linalg::PerThread;
/// let mut pool = PerThread::new(|| vec![0.0f64; 4]);
/// pool.ensure(2);
/// let s = pool.with(|buf| { buf[0] += 1.0; buf[0] });
/// assert_eq!(s, 1.0);
/// ```
pub struct PerThread<S> {
    slots: Vec<Mutex<S>>,
    make: Box<dyn Fn() -> S + Send + Sync>,
}

impl<S: Send> PerThread<S> {
    /// A pool whose slots are built by `make` (none yet; see [`PerThread::ensure`]).
    pub fn new(make: impl Fn() -> S + Send + Sync + 'static) -> Self {
        PerThread {
            slots: Vec::new(),
            make: Box::new(make),
        }
    }

    /// Have at least `n` slots (allocates only when `n` grows).
    pub fn ensure(&mut self, n: usize) {
        while self.slots.len() < n.max(1) {
            self.slots.push(Mutex::new((self.make)()));
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no slots yet.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Call `f` with a free scratch value.
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        let n = self.slots.len();
        if n > 0 {
            let home = rayon::current_thread_index().unwrap_or(0) % n;
            for i in 0..n {
                match self.slots[(home + i) % n].try_lock() {
                    Ok(mut g) => return f(&mut g),
                    // A panic elsewhere left the buffer in an unknown state;
                    // scratch is always overwritten before use, so reuse it.
                    Err(TryLockError::Poisoned(p)) => return f(&mut p.into_inner()),
                    Err(TryLockError::WouldBlock) => {}
                }
            }
        }
        f(&mut (self.make)())
    }

    /// Bytes reported by `size` summed over the slots.
    pub fn total(&self, size: impl Fn(&S) -> usize) -> usize {
        self.slots
            .iter()
            .map(|m| match m.lock() {
                Ok(g) => size(&g),
                Err(p) => size(&p.into_inner()),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn shards_cover_every_row_exactly_once(n in 0usize..5000, k in 1usize..70) {
            let mut next = 0;
            for rank in 0..k {
                let r = shard_range(n, rank, k);
                // Contiguous and in rank order: each shard starts where the last ended.
                prop_assert_eq!(r.start, next);
                prop_assert!(r.len() == n / k || r.len() == n / k + 1);
                next = r.end;
            }
            prop_assert_eq!(next, n);
        }
    }

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
    fn waves_fold_in_block_order_for_any_wave_size_and_thread_count() {
        let blocks = SampleBlocks::new(1000, 37);
        let run = |wave: usize, threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut slots = vec![(0usize, 0.0f64); wave];
                    let mut seen = Vec::new();
                    let mut acc = 0.0;
                    blocks.for_each_wave(
                        &mut slots,
                        |b, r, s| *s = (b, r.map(|i| (i as f64).sqrt()).sum()),
                        |first, sl| {
                            for (i, s) in sl.iter().enumerate() {
                                assert_eq!(s.0, first + i);
                                seen.push(s.0);
                                acc += s.1;
                            }
                        },
                    );
                    (seen, acc)
                })
        };
        let (seen, a) = run(4, 1);
        assert_eq!(seen, (0..blocks.len()).collect::<Vec<_>>());
        for (wave, threads) in [(1, 2), (4, 2), (64, 2), (7, 1)] {
            let (s2, b) = run(wave, threads);
            assert_eq!(s2, seen);
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn per_thread_scratch_never_blocks() {
        let mut pool = PerThread::new(|| 0usize);
        pool.ensure(1);
        // Nested use: the only slot is taken, so a temporary is built.
        let v = pool.with(|a| {
            *a += 1;
            pool.with(|b| *b + 10)
        });
        assert_eq!(v, 10);
        assert_eq!(pool.total(|s| *s), 1);
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
