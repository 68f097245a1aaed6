//! Threads standing in for the processes of a multi-process run, for the
//! tests of `fit::distributed` and `fit::distributed_pde`.

use crate::error::Result;
use crate::linalg::{Reducer, SharedReducer};
use std::sync::{Arc, Barrier, Mutex};

/// `K` threads standing in for `K` processes: every reduction waits for
/// all, then each gets the sum in rank order (as the MPI backend).
struct Threads {
    rank: usize,
    size: usize,
    shared: Arc<(Mutex<Vec<Vec<f64>>>, Barrier)>,
}

impl Reducer for Threads {
    fn all_reduce_sum(&self, buf: &mut [f64]) -> Result<()> {
        let (parts, barrier) = &*self.shared;
        parts.lock().unwrap()[self.rank] = buf.to_vec();
        barrier.wait();
        {
            let p = parts.lock().unwrap();
            buf.copy_from_slice(&p[0]);
            for part in &p[1..] {
                for (b, v) in buf.iter_mut().zip(part) {
                    *b += v;
                }
            }
        }
        barrier.wait();
        Ok(())
    }
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
}

/// `f(rank, reducer)` on `k` threads standing in for `k` processes,
/// each with a one-thread pool; the results in rank order.
pub(crate) fn on_threads<T: Send>(
    k: usize,
    f: impl Fn(usize, SharedReducer) -> T + Sync,
) -> Vec<T> {
    let shared = Arc::new((Mutex::new(vec![Vec::new(); k]), Barrier::new(k)));
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..k)
            .map(|rank| {
                let r: SharedReducer = Arc::new(Threads {
                    rank,
                    size: k,
                    shared: shared.clone(),
                });
                let f = &f;
                s.spawn(move || {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(1)
                        .build()
                        .unwrap();
                    pool.install(|| f(rank, r))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// `|a - b| / |b|` (2-norms).
pub(crate) fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let n: f64 = b.iter().map(|y| y * y).sum();
    (d / n).sqrt()
}
