//! A fingerprint of a task's training rows that does not depend on how the
//! rows are sharded over processes, so a checkpoint resumed on another
//! number of processes proves it continues on the rows it was written on
//! (each process's [`Task::fingerprint`] is of its own shard only).

use super::Task;
use crate::checkpoint::{fingerprint, fingerprint_mats};
use crate::error::Result;
use crate::linalg::{Reducer, all_gather};
use faer::MatRef;

impl Task<'_> {
    /// The training rows of each row group (regression samples; PDE interior
    /// and boundary points) as the columns of its matrices.
    fn row_groups(&self) -> Vec<Vec<MatRef<'_, f64>>> {
        match self {
            Task::Regression(s, _) => vec![vec![s.train.x.as_ref(), s.train.y.as_ref()]],
            Task::Pde(p) => {
                let d = &p.data;
                vec![
                    vec![d.e_int.as_ref(), d.v_int.as_ref(), d.f_int.as_ref()],
                    vec![d.e_bc.as_ref(), d.g_bc.as_ref()],
                ]
            }
        }
    }

    /// The sum (mod 2^64) over every process's training rows of a hash of
    /// the row's group, index over all processes and values, mixed with the
    /// test set's fingerprint (whole on every process): the same on every
    /// process, for any number of processes. Two collectives (the row
    /// counts, then the sums as 16-bit limbs, which add exactly in f64).
    pub fn rows_fingerprint(&self, reducer: &dyn Reducer) -> Result<u64> {
        let groups = self.row_groups();
        let counts: Vec<f64> = groups.iter().map(|g| g[0].ncols() as f64).collect();
        let all = all_gather(reducer, &counts)?;
        let mut limbs = vec![0.0; 4 * groups.len()];
        let mut buf = Vec::new();
        for (g, mats) in groups.iter().enumerate() {
            let off: usize = all[..reducer.rank()].iter().map(|c| c[g] as usize).sum();
            let mut sum = 0u64;
            for j in 0..mats[0].ncols() {
                buf.clear();
                buf.push(f64::from_bits(g as u64));
                buf.push(f64::from_bits((off + j) as u64));
                for m in mats.iter().filter(|m| j < m.ncols()) {
                    buf.extend((0..m.nrows()).map(|i| m[(i, j)]));
                }
                sum = sum.wrapping_add(fingerprint([buf.as_slice()]));
            }
            for k in 0..4 {
                limbs[4 * g + k] = ((sum >> (16 * k)) & 0xffff) as f64;
            }
        }
        reducer.all_reduce_sum(&mut limbs)?;
        let mut parts = vec![f64::from_bits(self.test_fingerprint())];
        for g in 0..groups.len() {
            let sum = (0..4).fold(0u64, |s, k| {
                s.wrapping_add((limbs[4 * g + k] as u64) << (16 * k))
            });
            parts.push(f64::from_bits(sum));
        }
        Ok(fingerprint([parts.as_slice()]))
    }

    /// Fingerprint of the test set (or grid), whole on every process.
    fn test_fingerprint(&self) -> u64 {
        match self {
            Task::Regression(s, _) => fingerprint_mats([s.test.x.as_ref(), s.test.y.as_ref()]),
            Task::Pde(p) => {
                let d = &p.data;
                let mut mats = vec![d.e_test.as_ref()];
                mats.extend(d.u_test.as_ref().map(|u| u.as_ref()));
                fingerprint_mats(mats)
            }
        }
    }
}
