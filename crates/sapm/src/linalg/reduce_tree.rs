//! A fixed-order all-reduce over point-to-point messages: recursive doubling
//! with a fold for rank counts that are not a power of two.
//!
//! `MPI_Allreduce` may add the ranks' buffers in any order, so its bits can
//! change between runs. Here every pair and every operand order is fixed by
//! `(rank, size)` alone: for a given `K` every run and every rank gets the
//! same bits. The cost is `ceil(log2 K)` exchanges of the whole buffer (plus
//! two one-way copies when `K` is not a power of two), against `K - 1`
//! buffers received by an all-gather in rank order.
//!
//! The schedule, for `p` the largest power of two `<= K`:
//! 1. fold: rank `p + i` sends to rank `i`, which keeps `own + received`;
//! 2. doubling: for `d = 1, 2, 4, .. < p`, ranks `r` and `r ^ d` exchange and
//!    both keep the sum of the two buffers (IEEE addition is commutative, so
//!    both hold the same bits);
//! 3. unfold: rank `i` sends the result back to rank `p + i`.

use crate::error::Result;

/// One step of a rank's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeStep {
    /// Send the buffer to this rank.
    Send(usize),
    /// Receive from this rank and add: `buf = buf + received`.
    ReceiveAdd(usize),
    /// Exchange with this rank and add: `buf = buf + received`.
    Exchange(usize),
    /// Receive from this rank and replace the buffer.
    ReceiveReplace(usize),
}

/// The steps of `rank` out of `size` ranks, in order.
pub fn tree_schedule(rank: usize, size: usize) -> Vec<TreeStep> {
    let mut steps = Vec::new();
    if size <= 1 {
        return steps;
    }
    let p = 1usize << (usize::BITS - 1 - size.leading_zeros());
    let extra = size - p;
    if rank >= p {
        steps.push(TreeStep::Send(rank - p));
        steps.push(TreeStep::ReceiveReplace(rank - p));
        return steps;
    }
    if rank < extra {
        steps.push(TreeStep::ReceiveAdd(rank + p));
    }
    let mut d = 1;
    while d < p {
        steps.push(TreeStep::Exchange(rank ^ d));
        d <<= 1;
    }
    if rank < extra {
        steps.push(TreeStep::Send(rank + p));
    }
    steps
}

/// The messages a backend must carry for [`tree_all_reduce_sum`].
pub trait PointToPoint {
    /// Send `buf` to rank `to`.
    fn send(&mut self, to: usize, buf: &[f64]) -> Result<()>;
    /// Receive a message of `buf.len()` numbers from rank `from`.
    fn receive(&mut self, from: usize, buf: &mut [f64]) -> Result<()>;
    /// Send `out` to `partner` and receive its message into `into`, at once
    /// (no deadlock when both sides call it).
    fn exchange(&mut self, partner: usize, out: &[f64], into: &mut [f64]) -> Result<()>;
}

/// Replace `buf` by its sum over all ranks, in the fixed order of
/// [`tree_schedule`]; `scratch` is resized to `buf.len()`.
pub fn tree_all_reduce_sum(
    link: &mut dyn PointToPoint,
    rank: usize,
    size: usize,
    buf: &mut [f64],
    scratch: &mut Vec<f64>,
) -> Result<()> {
    scratch.resize(buf.len(), 0.0);
    for step in tree_schedule(rank, size) {
        match step {
            TreeStep::Send(to) => link.send(to, buf)?,
            TreeStep::ReceiveAdd(from) => {
                link.receive(from, scratch)?;
                for (b, s) in buf.iter_mut().zip(scratch.iter()) {
                    *b += s;
                }
            }
            TreeStep::Exchange(partner) => {
                link.exchange(partner, buf, scratch)?;
                for (b, s) in buf.iter_mut().zip(scratch.iter()) {
                    *b += s;
                }
            }
            TreeStep::ReceiveReplace(from) => link.receive(from, buf)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, Sender, channel};

    /// Ranks as threads, one channel per ordered pair.
    struct Channels {
        rank: usize,
        to: Vec<Sender<Vec<f64>>>,
        from: Vec<Receiver<Vec<f64>>>,
    }

    impl PointToPoint for Channels {
        fn send(&mut self, to: usize, buf: &[f64]) -> Result<()> {
            assert_ne!(to, self.rank);
            self.to[to].send(buf.to_vec()).unwrap();
            Ok(())
        }
        fn receive(&mut self, from: usize, buf: &mut [f64]) -> Result<()> {
            buf.copy_from_slice(&self.from[from].recv().unwrap());
            Ok(())
        }
        fn exchange(&mut self, partner: usize, out: &[f64], into: &mut [f64]) -> Result<()> {
            self.send(partner, out)?;
            self.receive(partner, into)
        }
    }

    /// Every rank's result for `parts` (one buffer per rank).
    fn reduce(parts: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let k = parts.len();
        let mut senders: Vec<Vec<Option<Sender<Vec<f64>>>>> = vec![vec![None; k]; k];
        let mut receivers: Vec<Vec<Option<Receiver<Vec<f64>>>>> =
            (0..k).map(|_| (0..k).map(|_| None).collect()).collect();
        for (a, row) in senders.iter_mut().enumerate() {
            for (b, s) in row.iter_mut().enumerate() {
                let (tx, rx) = channel();
                *s = Some(tx);
                receivers[b][a] = Some(rx);
            }
        }
        std::thread::scope(|sc| {
            let handles: Vec<_> = senders
                .into_iter()
                .zip(receivers)
                .enumerate()
                .map(|(rank, (to, from))| {
                    let mut buf = parts[rank].clone();
                    sc.spawn(move || {
                        let mut link = Channels {
                            rank,
                            to: to.into_iter().map(Option::unwrap).collect(),
                            from: from.into_iter().map(Option::unwrap).collect(),
                        };
                        let mut scratch = Vec::new();
                        tree_all_reduce_sum(&mut link, rank, k, &mut buf, &mut scratch).unwrap();
                        buf
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn every_rank_gets_the_sum_with_the_same_bits() {
        for k in 1..=17 {
            // Integers: exact in any order, so the sum itself is checked.
            let ints: Vec<Vec<f64>> = (0..k)
                .map(|r| vec![r as f64, (r * r) as f64, 1.0])
                .collect();
            let want = [
                (0..k).sum::<usize>() as f64,
                (0..k).map(|r| r * r).sum::<usize>() as f64,
                k as f64,
            ];
            for got in reduce(&ints) {
                assert_eq!(got, want, "K = {k}");
            }
            // Magnitudes where order matters: all ranks still agree bit for bit,
            // and two runs agree.
            let wild: Vec<Vec<f64>> = (0..k)
                .map(|r| {
                    vec![
                        1e16 * (-1f64).powi(r as i32) + r as f64 * 0.1,
                        1.0 / (r + 1) as f64,
                    ]
                })
                .collect();
            let a = reduce(&wild);
            let b = reduce(&wild);
            assert_eq!(a, b, "K = {k}: runs differ");
            for g in &a {
                assert_eq!(
                    g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    a[0].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "K = {k}: ranks differ"
                );
            }
            let harmonic: f64 = (1..=k).map(|r| 1.0 / r as f64).sum();
            assert!((a[0][1] - harmonic).abs() <= 1e-15 * k as f64 * harmonic);
        }
    }

    #[test]
    fn the_order_of_additions_is_the_documented_one() {
        // K = 3: fold 2 into 0, then exchange 0 <-> 1: (x0 + x2) + x1.
        // Here 1e16 + 1 rounds to 1e16, so rank order ((x0 + x1) + x2) differs.
        let parts = vec![vec![1.0], vec![1.0], vec![1e16]];
        let want: f64 = (1.0 + 1e16) + 1.0;
        assert_ne!(want, (1.0 + 1.0) + 1e16);
        for g in reduce(&parts) {
            assert_eq!(g[0].to_bits(), want.to_bits());
        }
    }

    #[test]
    fn schedules_pair_up() {
        for k in 1..=33 {
            // Every send has its matching receive on the other side, and
            // every exchange is symmetric.
            for r in 0..k {
                for s in tree_schedule(r, k) {
                    match s {
                        TreeStep::Send(to) => {
                            assert!(tree_schedule(to, k).iter().any(|t| matches!(
                                t,
                                TreeStep::ReceiveAdd(f) | TreeStep::ReceiveReplace(f) if *f == r
                            )))
                        }
                        TreeStep::Exchange(partner) => {
                            assert!(tree_schedule(partner, k).contains(&TreeStep::Exchange(r)))
                        }
                        _ => {}
                    }
                }
            }
            let rounds = tree_schedule(0, k).len();
            let log = (k as f64).log2().ceil() as usize;
            assert!(rounds <= log + 1, "K = {k}: {rounds} steps");
        }
    }
}
