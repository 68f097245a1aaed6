//! What is trained: regression data ([`regression`]) or a PDE problem
//! ([`pde`]), behind one [`Task`] that the pipeline, the trainer factory and
//! the summary writer talk to.

pub mod khatri_rao;
pub mod minibatch;
pub mod pde;
pub mod regression;
pub mod regression_jacobian;
mod row_fingerprint;
pub mod rows;

use crate::checkpoint::fingerprint_mats;
use crate::data::Split;
use crate::driver::Metrics;
use crate::linalg::{SharedReducer, reduce_or_nan};
use crate::net::Network;
use crate::objective::{LeastSquares, Objective, ShardedObjective};
use crate::scale::Scaling;
use faer::MatRef;
use khatri_rao::KhatriRao;
use pde::second_loss::SecondObjective;
use pde::{PdeTask, PinnMetrics};
use regression::{LsObjective, mse_in_units, sq_error_sum};
use rows::RowSet;

/// A task's loss as a residual vector for the least-squares methods.
pub enum Residual<'t> {
    /// With the Jacobian's Khatri-Rao factors (regression, first-order PINNs).
    Factored(Box<dyn KhatriRao + 't>),
    /// Jacobian rows only (second-order PINNs, whose many derivative terms
    /// would make the factored Gram matrix dearer than explicit rows).
    Rows(Box<dyn LeastSquares + 't>),
}

/// One training task: a regression split or a PDE problem with its points.
#[derive(Debug, Clone)]
pub enum Task<'a> {
    /// Regression on a train/test split (in the network's units), with the
    /// scaling that maps the data's units to them (`None`: no scaling), so
    /// the recorded MSEs are in the data's units.
    Regression(&'a Split, Option<&'a Scaling>),
    /// A PINN on a PDE problem.
    Pde(Box<PdeTask>),
}

impl<'a> Task<'a> {
    /// Network input and output dimensions.
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Task::Regression(s, _) => (s.train.input_dim(), s.train.output_dim()),
            Task::Pde(p) => (p.problem.embedded_dim(), 1),
        }
    }

    /// Names of the network's inputs and outputs.
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        match self {
            Task::Regression(s, _) => (s.train.input_names.clone(), s.train.output_names.clone()),
            Task::Pde(p) => (p.problem.embedded_names(), vec!["u".into()]),
        }
    }

    /// The map from the data's (or the problem's) units to the network's that
    /// the saved model carries: `data.scale`, or a PINN's domain map
    /// (`pde.scale`, inputs only).
    pub fn model_scaling(&self) -> Option<Scaling> {
        match self {
            Task::Regression(_, s) => s.cloned(),
            Task::Pde(p) => p.problem.input_scaling(),
        }
    }

    /// The least-squares loss the gradient methods minimise (`J_LS` or the
    /// PINN loss).
    pub fn objective(&self, net: &Network) -> Box<dyn Objective + '_> {
        // The same object as [`Task::least_squares`], seen as an objective.
        match self.least_squares(net) {
            Residual::Factored(k) => k,
            Residual::Rows(r) => r,
        }
    }

    /// [`Task::objective`] over the samples of every process, this task
    /// holding one shard (a PDE task's points know the counts of every
    /// process, so its loss is this process's share).
    pub fn objective_on(&self, net: &Network, reducer: &SharedReducer) -> Box<dyn Objective + '_> {
        match self {
            Task::Regression(s, _) if reducer.size() > 1 => {
                LsObjective::new(net, s.train.x.as_ref(), s.train.y.as_ref())
                    .sharded(net, reducer.clone())
            }
            Task::Pde(_) if reducer.size() > 1 => Box::new(ShardedObjective::new(
                self.objective(net),
                reducer.clone(),
                net.num_params(),
            )),
            _ => self.objective(net),
        }
    }

    /// The same loss as a residual vector with exact Jacobian blocks, for the
    /// least-squares methods (`lm`, `varpro`).
    pub fn least_squares(&self, net: &Network) -> Residual<'_> {
        match self {
            Task::Regression(s, _) => Residual::Factored(Box::new(LsObjective::new(
                net,
                s.train.x.as_ref(),
                s.train.y.as_ref(),
            ))),
            Task::Pde(p) => match SecondObjective::new(&p.data, p.cfg.alpha, p.cfg.beta_bc) {
                Some(s) => Residual::Rows(Box::new(s)),
                None => Residual::Factored(Box::new(p.objective(net))),
            },
        }
    }

    /// Whether the task is a second-order PDE (which the penalty methods and
    /// ELM do not run yet).
    pub fn is_second_order(&self) -> bool {
        matches!(self, Task::Pde(p) if p.data.second.is_some())
    }

    /// The rows the penalty engine trains on.
    pub fn row_sets(&self) -> Vec<RowSet<'_>> {
        match self {
            Task::Regression(s, _) => {
                vec![RowSet::regression(s.train.x.as_ref(), s.train.y.as_ref())]
            }
            Task::Pde(p) => p.row_sets(),
        }
    }

    /// Inputs and targets of a regression (what ELM fits); `None` for PDEs.
    pub fn regression_data(&self) -> Option<(MatRef<'_, f64>, MatRef<'_, f64>)> {
        match self {
            Task::Regression(s, _) => Some((s.train.x.as_ref(), s.train.y.as_ref())),
            Task::Pde(_) => None,
        }
    }

    /// The history columns besides the objective.
    pub fn metrics(&self) -> Box<dyn Metrics + '_> {
        self.metrics_on(None)
    }

    /// [`Task::metrics`]; with a multi-process `reducer`, the train MSE (the
    /// PINN losses) is over every process's shard (the test set is whole on
    /// every process).
    pub fn metrics_on(&self, reducer: Option<&SharedReducer>) -> Box<dyn Metrics + '_> {
        match self {
            Task::Regression(s, sc) => Box::new(RegressionMetrics {
                split: s,
                out_scale: sc.map(|sc| sc.outputs.scale.as_slice()),
                shard: reducer.filter(|r| r.size() > 1).cloned(),
            }),
            Task::Pde(p) => Box::new(PinnMetrics {
                data: &p.data,
                alpha: p.cfg.alpha,
                beta_bc: p.cfg.beta_bc,
                shard: reducer.filter(|r| r.size() > 1).cloned(),
            }),
        }
    }

    /// Fingerprint of the data, so a checkpoint is not resumed on other data.
    pub fn fingerprint(&self) -> u64 {
        match self {
            Task::Regression(s, _) => fingerprint_mats([
                s.train.x.as_ref(),
                s.train.y.as_ref(),
                s.test.x.as_ref(),
                s.test.y.as_ref(),
            ]),
            Task::Pde(p) => p.fingerprint(),
        }
    }

    /// What the data is called in messages (`data`, `PINN points`).
    pub fn data_name(&self) -> &'static str {
        match self {
            Task::Regression(..) => "data",
            Task::Pde(_) => "PINN points",
        }
    }
}

/// Train and test MSE as the recorded metrics of a regression run: the mean
/// over samples and outputs (`J_LS / m` for `m` outputs, as scikit-learn's
/// and PyTorch's `mse`; the objective `J_LS` sums over outputs), in the
/// data's units (the objective is in the network's).
pub struct RegressionMetrics<'a> {
    /// The split.
    pub split: &'a Split,
    /// Output scales of `data.scale` (`None`: the split is in the data's units).
    pub out_scale: Option<&'a [f64]>,
    /// Multi-process runs: `split.train` is this process's shard.
    pub shard: Option<SharedReducer>,
}

impl Metrics for RegressionMetrics<'_> {
    fn names(&self) -> Vec<String> {
        vec!["train_mse".into(), "test_mse".into()]
    }
    fn eval(&self, net: &Network) -> Vec<f64> {
        let s = self.split;
        let m = s.train.output_dim().max(1) as f64;
        let train = match &self.shard {
            None => mse_in_units(net, s.train.x.as_ref(), s.train.y.as_ref(), self.out_scale),
            Some(r) => {
                let (x, y) = (s.train.x.as_ref(), s.train.y.as_ref());
                let mut sum = [sq_error_sum(net, x, y, self.out_scale), x.ncols() as f64];
                reduce_or_nan(r.as_ref(), &mut sum);
                sum[0] / sum[1]
            }
        };
        vec![
            train / m,
            mse_in_units(net, s.test.x.as_ref(), s.test.y.as_ref(), self.out_scale) / m,
        ]
    }
}
