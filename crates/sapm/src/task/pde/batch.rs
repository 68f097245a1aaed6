//! Mini-batches of collocation points: `train.batch_size` on a `[pde]` run
//! (method `ls-adam`), drawn as `pde.batch` says.
//!
//! - `mode = "subset"` (default): step `t` trains on a batch of the fixed
//!   points, interior and boundary each cut from its own permutation per
//!   epoch, drawn from the seed ([`EpochOrder`], as regression mini-batches).
//! - `mode = "resample"`: step `t` trains on fresh points from the problem's
//!   sampler (`pde.sampling`), seeded from the run seed and `t`; the fixed
//!   points are then only what the history's `pinn_loss` columns are
//!   measured on.
//!
//! Either way the batch of step `t` depends on `t` only (resumes see the same
//! batches) and the loss of a batch is the full loss's formula on it,
//! `alpha mean_batch |L u - f|^2 + beta_bc mean_batch |B u - g|^2`: an
//! unbiased estimate of the full loss (subset) or of its integral form
//! (resample). The boundary batch is `pde.batch.boundary` points, by default
//! the interior's share of the boundary: `ceil(batch_size n_boundary /
//! n_interior)`.

use super::batch_config::BatchMode;
use super::config::PdeConfig;
use super::loss::PinnObjective;
use super::second_loss::SecondObjective;
use super::second_sampling::{PointOp, SecondRows};
use super::{PdeTask, PinnData};
use crate::error::Result;
use crate::net::Network;
use crate::objective::Objective;
use crate::task::minibatch::EpochOrder;
use faer::Mat;

/// How the batches are drawn.
enum Draw {
    Subset { int: EpochOrder, bc: EpochOrder },
    Resample { cfg: Box<PdeConfig>, seed: u64 },
}

/// The PINN loss on step `t`'s batch of collocation points, for a
/// stochastic optimiser (the batch follows [`Objective::set_step`]).
pub struct PinnBatches<'a> {
    task: &'a PdeTask,
    draw: Draw,
    step: u64,
}

impl<'a> PinnBatches<'a> {
    /// Batches of `size` interior points of `task`, drawn from `seed` as
    /// `task.cfg.batch` says; `None` when every step would see every point
    /// (subset batches at least as large as the point sets: full batch).
    /// A resampling run draws its first batch here, so a problem whose
    /// sampler fails says so before training.
    pub fn new(task: &'a PdeTask, size: usize, seed: u64) -> Result<Option<Self>> {
        let b = task.cfg.batch.unwrap_or_default();
        let draw = match b.mode {
            BatchMode::Subset => {
                let (ni, nb) = (task.data.n_interior(), task.data.n_boundary());
                let bs = b.boundary_size(size, ni, nb);
                if size >= ni && bs >= nb {
                    return Ok(None);
                }
                Draw::Subset {
                    int: EpochOrder::new(ni, size, seed),
                    bc: EpochOrder::new(nb, bs, seed ^ 0xB0_0000_0000),
                }
            }
            BatchMode::Resample => {
                let c = &task.cfg;
                let cfg = PdeConfig {
                    n_interior: size,
                    n_boundary: b.boundary_size(size, c.n_interior, c.n_boundary),
                    ..c.clone()
                };
                Draw::Resample {
                    cfg: Box::new(cfg),
                    seed,
                }
            }
        };
        let mut me = PinnBatches {
            task,
            draw,
            step: 0,
        };
        me.batch(0)?;
        Ok(Some(me))
    }

    /// The points of step `t`'s batch (no test grid).
    pub fn batch(&mut self, t: u64) -> Result<PinnData> {
        match &mut self.draw {
            Draw::Subset { int, bc } => Ok(self.task.data.columns(int.batch_of(t), bc.batch_of(t))),
            Draw::Resample { cfg, seed } => {
                let s = *seed ^ 0x7E5A_0000_0000 ^ t.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                PinnData::sample_with(&self.task.problem, cfg, s, false)
            }
        }
    }

    /// The loss of the current step's batch, and its gradient into `grad`.
    /// A batch the sampler cannot draw (NaN data at a fresh point) has a
    /// NaN loss, which the driver's divergence guard handles.
    fn eval(&mut self, net: &Network, grad: Option<&mut [f64]>) -> f64 {
        let Ok(data) = self.batch(self.step) else {
            if let Some(g) = grad {
                g.fill(f64::NAN);
            }
            return f64::NAN;
        };
        let (a, b) = (self.task.cfg.alpha, self.task.cfg.beta_bc);
        // The full-batch objectives of `Task::least_squares`, on the batch.
        let mut obj: Box<dyn Objective + '_> = match SecondObjective::new(&data, a, b) {
            Some(s) => Box::new(s),
            None => Box::new(PinnObjective::new(net, &data, a, b)),
        };
        match grad {
            Some(g) => obj.value_grad(net, g),
            None => obj.value(net),
        }
    }
}

impl Objective for PinnBatches<'_> {
    /// The loss of the batch the next step would use.
    fn value(&mut self, net: &Network) -> f64 {
        self.eval(net, None)
    }
    /// Batch loss and gradient of the current step; moves to the next step.
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
        let f = self.eval(net, Some(grad));
        self.step += 1;
        f
    }
    fn set_step(&mut self, step: u64) {
        self.step = step;
    }
    fn stochastic(&self) -> bool {
        true
    }
}

fn pick(m: &Mat<f64>, idx: &[usize]) -> Mat<f64> {
    Mat::from_fn(m.nrows(), idx.len(), |i, j| m[(i, idx[j])])
}

fn pick_op(op: &PointOp, idx: &[usize]) -> PointOp {
    PointOp {
        dirs: op.dirs.iter().map(|m| pick(m, idx)).collect(),
        pairs: op.pairs.clone(),
        cu: op.cu.as_ref().map(|m| pick(m, idx)),
        cd: op.cd.iter().map(|m| pick(m, idx)).collect(),
        ch: op.ch.iter().map(|m| pick(m, idx)).collect(),
    }
}

impl PinnData {
    /// The interior points `int` and boundary points `bc` of these (whole)
    /// points, in that order, with their rows; no test grid.
    pub fn columns(&self, int: &[usize], bc: &[usize]) -> PinnData {
        PinnData {
            x_int: pick(&self.x_int, int),
            e_int: pick(&self.e_int, int),
            v_int: pick(&self.v_int, int),
            f_int: pick(&self.f_int, int),
            x_bc: pick(&self.x_bc, bc),
            e_bc: pick(&self.e_bc, bc),
            g_bc: pick(&self.g_bc, bc),
            x_test: Mat::zeros(self.x_test.nrows(), 0),
            e_test: Mat::zeros(self.e_test.nrows(), 0),
            u_test: None,
            u_int: self.u_int.as_ref().map(|u| pick(u, int)),
            second: self.second.as_ref().map(|s| {
                Box::new(SecondRows {
                    interior: pick_op(&s.interior, int),
                    boundary: pick_op(&s.boundary, bc),
                })
            }),
            totals: None,
        }
    }
}
