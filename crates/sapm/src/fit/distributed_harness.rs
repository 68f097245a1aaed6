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

/// The tolerance of `K` processes against one for `method`: 1e-10 relative,
/// except PM/SAPM, whose Cholesky weight steps amplify round-off (10x the
/// spread of one process with another block size, `reblocked`), and ELM,
/// whose normal equations square the design's condition number (10x the
/// spread of one process solving by QR, `qr`).
pub(crate) fn tolerance(
    method: &str,
    one: &[f64],
    reblocked: impl FnOnce() -> Vec<f64>,
    qr: impl FnOnce() -> Vec<f64>,
) -> f64 {
    match method {
        "pm" | "sapm" => 10.0 * rel(&reblocked(), one).max(1e-11),
        "elm" => 10.0 * rel(&qr(), one).max(1e-11),
        _ => 1e-10,
    }
}

/// On 2 and 3 processes (`params_on(k)`, the weights of every process):
/// the same bits on every process, and within `tol` of one process's `one`.
pub(crate) fn assert_shards_agree(
    label: &str,
    one: &[f64],
    tol: f64,
    params_on: impl Fn(usize) -> Vec<Vec<f64>>,
) {
    for k in [2, 3] {
        let many = params_on(k);
        eprintln!(
            "{label}: {k} shards vs 1: {:.1e} (tolerance {tol:.1e})",
            rel(&many[0], one)
        );
        for p in &many {
            assert_eq!(p, &many[0], "{label}: processes disagree");
            let e = rel(p, one);
            assert!(
                e < tol,
                "{label}, {k} shards: relative difference {e:e} > {tol:e}"
            );
        }
    }
}
