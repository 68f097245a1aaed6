//! The MPI backend of [`Reducer`] (feature `mpi`): one process per rank,
//! launched by `mpirun -n K` or Slurm's `srun`.
//!
//! Determinism: `MPI_Allreduce` may add the ranks' buffers in any order (the
//! order depends on the implementation, the message size and the rank
//! count), so its bits could change between runs. We gather every rank's
//! partial sums instead (`MPI_Allgather`) and add them in rank order on
//! every rank: the same bits for a given `K` on every run and every rank, at
//! `K` times the receive volume of an all-reduce (see docs/distributed.md).

use super::Reducer;
use crate::error::{Error, Result};
use mpi::Threading;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives};
use std::sync::Mutex;

/// An initialised MPI environment; finalised when dropped.
pub struct MpiSession {
    universe: mpi::environment::Universe,
}

impl MpiSession {
    /// Initialise MPI (once per process).
    /// Collectives are called from rayon's worker threads (one at a time,
    /// under a lock), so MPI must allow any thread: `MPI_THREAD_SERIALIZED`.
    pub fn init() -> Result<Self> {
        let (universe, level) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| Error::Data("MPI could not be initialised (or was already)".into()))?;
        if !matches!(level, Threading::Serialized | Threading::Multiple) {
            return Err(Error::Data(format!(
                "this MPI library gives thread level {level:?}; sapm needs Serialized"
            )));
        }
        Ok(MpiSession { universe })
    }

    /// A reducer over all ranks of the job.
    pub fn reducer(&self) -> MpiReducer {
        let world = self.universe.world();
        MpiReducer {
            rank: world.rank() as usize,
            size: world.size() as usize,
            lock: Mutex::new(()),
            calls: Mutex::new(0),
            fail: FailHook::from_env(),
        }
    }

    /// End the whole job now (every rank) with `code`: a rank that failed
    /// must not leave the others waiting in a collective.
    pub fn abort(&self, code: i32) -> ! {
        self.universe.world().abort(code)
    }
}

/// Test hook: `SAPM_MPI_DIE_RANK=r SAPM_MPI_DIE_AFTER=c` makes rank `r` exit
/// (status 9, no MPI_Finalize) before its `c`-th reduction, as a crashed
/// node would.
#[derive(Debug, Clone, Copy)]
struct FailHook {
    rank: usize,
    after: u64,
}

impl FailHook {
    fn from_env() -> Option<Self> {
        let get = |k: &str| std::env::var(k).ok()?.parse::<u64>().ok();
        Some(FailHook {
            rank: get("SAPM_MPI_DIE_RANK")? as usize,
            after: get("SAPM_MPI_DIE_AFTER")?,
        })
    }
}

/// [`Reducer`] over `MPI_COMM_WORLD`: all-gather, then the sum in rank order.
pub struct MpiReducer {
    /// One collective at a time (the handle itself is not `Send`: each call
    /// takes `MPI_COMM_WORLD` afresh).
    lock: Mutex<()>,
    rank: usize,
    size: usize,
    calls: Mutex<u64>,
    fail: Option<FailHook>,
}

impl Reducer for MpiReducer {
    fn all_reduce_sum(&self, buf: &mut [f64]) -> Result<()> {
        if let Some(f) = self.fail {
            let mut c = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            *c += 1;
            if f.rank == self.rank && *c >= f.after {
                eprintln!(
                    "rank {}: SAPM_MPI_DIE_AFTER reached, exiting (test hook)",
                    self.rank
                );
                std::process::exit(9);
            }
        }
        if self.size == 1 {
            return Ok(());
        }
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let world = SimpleCommunicator::world();
        let mut all = vec![0.0; buf.len() * self.size];
        world.all_gather_into(&buf[..], &mut all[..]);
        sum_in_rank_order(&all, buf);
        Ok(())
    }
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
}

/// `out[i] = sum_r parts[r * len + i]`, added in rank order from rank 0.
fn sum_in_rank_order(parts: &[f64], out: &mut [f64]) {
    let len = out.len();
    out.copy_from_slice(&parts[..len]);
    for part in parts.chunks_exact(len.max(1)).skip(1) {
        for (o, p) in out.iter_mut().zip(part) {
            *o += p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sums_are_added_in_rank_order() {
        let parts = [1.0, 1e16, -1e16, 2.0, 1.0, 3.0];
        let mut out = [0.0; 2];
        sum_in_rank_order(&parts, &mut out);
        // ((1 + -1e16) + 1) = -1e16 exactly in rank order; another order gives -1e16 + 2.
        assert_eq!(out, [(1.0 + -1e16) + 1.0, (1e16 + 2.0) + 3.0]);
    }
}
