//! The MPI backend of [`Reducer`] (feature `mpi`): one process per rank,
//! launched by `mpirun -n K` or Slurm's `srun`.
//!
//! Determinism: `MPI_Allreduce` may add the ranks' buffers in any order (the
//! order depends on the implementation, the message size and the rank
//! count), so its bits could change between runs. We run our own
//! fixed-order recursive doubling over point-to-point messages instead
//! ([`super::reduce_tree`]): the same bits for a given `K` on every run and
//! every rank, at `ceil(log2 K)` buffer exchanges (see docs/distributed.md).

use super::Reducer;
use super::reduce_tree::{PointToPoint, tree_all_reduce_sum};
use crate::error::{Error, Result};
use mpi::Threading;
use mpi::point_to_point::send_receive_into;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Destination, Source};
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

/// [`Reducer`] over `MPI_COMM_WORLD`: fixed-order recursive doubling.
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
        let mut link = World(SimpleCommunicator::world());
        let mut scratch = Vec::new();
        tree_all_reduce_sum(&mut link, self.rank, self.size, buf, &mut scratch)
    }
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
}

/// Point-to-point messages on `MPI_COMM_WORLD` (blocking; the tree's
/// schedule pairs every send with a receive).
struct World(SimpleCommunicator);

impl PointToPoint for World {
    fn send(&mut self, to: usize, buf: &[f64]) -> Result<()> {
        self.0.process_at_rank(to as i32).send(buf);
        Ok(())
    }
    fn receive(&mut self, from: usize, buf: &mut [f64]) -> Result<()> {
        self.0.process_at_rank(from as i32).receive_into(buf);
        Ok(())
    }
    fn exchange(&mut self, partner: usize, out: &[f64], into: &mut [f64]) -> Result<()> {
        let p = self.0.process_at_rank(partner as i32);
        send_receive_into(out, &p, into, &p);
        Ok(())
    }
}
