//! One process's shard of a PINN run's points: every process samples the
//! whole point set from the seed (so 1 and K processes train on the same
//! points) and keeps the contiguous range [`shard_range`] of each row group
//! (interior, boundary); the test grid stays whole. The shard remembers the
//! counts over every process, which divide the losses' means, so each
//! process's loss and gradient are its share of the whole one and the
//! processes' sums are the single-process values.

use super::second_sampling::{PointOp, SecondRows};
use super::{PdeTask, PinnData};
use crate::error::{Error, Result};
use crate::linalg::shard_range;
use faer::Mat;
use std::ops::Range;

fn cols(m: &Mat<f64>, r: &Range<usize>) -> Mat<f64> {
    m.as_ref().subcols(r.start, r.len()).to_owned()
}

fn op_cols(op: &PointOp, r: &Range<usize>) -> PointOp {
    PointOp {
        dirs: op.dirs.iter().map(|m| cols(m, r)).collect(),
        pairs: op.pairs.clone(),
        cu: op.cu.as_ref().map(|m| cols(m, r)),
        cd: op.cd.iter().map(|m| cols(m, r)).collect(),
        ch: op.ch.iter().map(|m| cols(m, r)).collect(),
    }
}

impl PinnData {
    /// Process `rank` of `size`'s shard of these (whole) points. Every
    /// process needs at least one point of each group.
    pub fn shard(&self, rank: usize, size: usize) -> Result<PinnData> {
        if self.totals.is_some() {
            return Err(Error::Data("the PINN points are already a shard".into()));
        }
        let (ni, nb) = (self.n_interior(), self.n_boundary());
        for (n, what) in [(ni, "interior"), (nb, "boundary")] {
            if n < size {
                return Err(Error::Data(format!(
                    "{n} {what} points for {size} processes: every process needs at least one (raise pde.n_{what})"
                )));
            }
        }
        let (ri, rb) = (shard_range(ni, rank, size), shard_range(nb, rank, size));
        Ok(PinnData {
            x_int: cols(&self.x_int, &ri),
            e_int: cols(&self.e_int, &ri),
            v_int: cols(&self.v_int, &ri),
            f_int: cols(&self.f_int, &ri),
            x_bc: cols(&self.x_bc, &rb),
            e_bc: cols(&self.e_bc, &rb),
            g_bc: cols(&self.g_bc, &rb),
            x_test: self.x_test.clone(),
            e_test: self.e_test.clone(),
            u_test: self.u_test.clone(),
            u_int: self.u_int.as_ref().map(|u| cols(u, &ri)),
            second: self.second.as_ref().map(|s| {
                Box::new(SecondRows {
                    interior: op_cols(&s.interior, &ri),
                    boundary: op_cols(&s.boundary, &rb),
                })
            }),
            totals: Some((ni, nb)),
        })
    }
}

impl PdeTask {
    /// This task with process `rank` of `size`'s shard of the points.
    pub fn shard(self, rank: usize, size: usize) -> Result<PdeTask> {
        let data = self.data.shard(rank, size)?;
        Ok(PdeTask { data, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::pde::{PdeConfig, Problem};

    /// The shards of every group cover each point once, in order, and
    /// remember the whole counts.
    #[test]
    fn shards_cover_every_point_once() {
        let cfg = PdeConfig {
            problem: "heat1d".into(),
            n_interior: 37,
            n_boundary: 9,
            ..PdeConfig::default()
        };
        let p = cfg.problem().unwrap();
        let whole = PinnData::sample(&p, &cfg, 5).unwrap();
        let rows = whole.second.as_ref().unwrap();
        for k in 1..=4 {
            let shards: Vec<PinnData> = (0..k).map(|r| whole.shard(r, k).unwrap()).collect();
            let mut x = Vec::new();
            let mut cu = Vec::new();
            for s in &shards {
                assert_eq!(s.totals, Some((whole.n_interior(), whole.n_boundary())));
                assert_eq!(s.n_interior_total(), whole.n_interior());
                x.extend((0..s.n_interior()).map(|j| s.e_int[(0, j)]));
                let b = &s.second.as_ref().unwrap().boundary;
                cu.extend((0..s.n_boundary()).map(|j| b.cu.as_ref().unwrap()[(0, j)]));
                assert_eq!(s.x_test, whole.x_test);
            }
            let want: Vec<f64> = (0..whole.n_interior())
                .map(|j| whole.e_int[(0, j)])
                .collect();
            assert_eq!(x, want, "{k} shards");
            let bcu = rows.boundary.cu.as_ref().unwrap();
            let want: Vec<f64> = (0..whole.n_boundary()).map(|j| bcu[(0, j)]).collect();
            assert_eq!(cu, want, "{k} shards");
        }
        let nb = whole.n_boundary();
        let e = whole.shard(0, nb + 1).unwrap_err().to_string();
        let want = format!("{nb} boundary points for {} processes", nb + 1);
        assert!(e.contains(&want), "{e}");
        let t = Problem::transport1d(1.0);
        let d = PinnData::sample(&t, &PdeConfig::default(), 1).unwrap();
        assert!(d.shard(0, 2).unwrap().shard(0, 2).is_err());
    }
}
