//! Trainers (one module per method) behind one [`Trainer`] trait, and the
//! driver that owns the loop, stopping rules, history and observers.

mod adam;
mod best;
mod driver;
mod elm;
mod gd;
mod lbfgs;
mod penalty;
mod penalty_passes;

/// Blocks per wave of the PM/SAPM data pass (fixes the TSQR merge tree).
pub const DATA_WAVE: usize = penalty_passes::WAVE;
mod sequence;

pub use adam::{Adam, AdamConfig};
pub use best::{RISE_FACTOR, RISE_FLOOR};
pub use driver::{
    Checkpointer, Clock, Metrics, NoObserver, Observer, Record, RunOptions, RunResult, Status,
    StopRules, run, run_with,
};
pub use elm::Elm;
pub use gd::GradientDescent;
pub use lbfgs::{Lbfgs, LbfgsConfig};
pub(crate) use penalty::capped_solve;
pub use penalty::{
    AuxInit, AuxOrder, OmegaMode, PenaltyConfig, PenaltyMemory, PenaltyTrainer, SweepOrder,
};
pub use sequence::Sequence;

use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Error, Result};
use crate::net::Network;

/// What one iteration reports to the driver.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepOutcome {
    /// The value the method minimises, after the step (`J_LS`, `J_PM`, `J_SAPM`, PINN loss).
    pub objective: f64,
    /// The method's own convergence test fired (e.g. L-BFGS gradient tolerance,
    /// a failed line search at machine precision); the driver stops with `converged`.
    pub converged: bool,
    /// `objective` was evaluated at the parameters *before* this step (GD and
    /// Adam get it for free with the gradient). The driver then knows a bad
    /// value condemns the previous iterate, not the new one.
    pub lagged: bool,
    /// First step of a new phase (e.g. SAPM after an Adam warm start): the
    /// objective may change meaning, so the driver's divergence reference restarts.
    pub new_phase: bool,
}

/// Counters a trainer exposes for the summary.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TrainerStats {
    /// Weight steps whose solve fell back to the SVD pseudo-inverse.
    pub solve_fallbacks: usize,
    /// Weight steps solved in total.
    pub solves: usize,
    /// Auxiliary steps rejected by backtracking (no decrease found).
    pub aux_rejections: usize,
    /// Cost-function evaluations (L-BFGS line search included).
    pub evaluations: usize,
}

impl TrainerStats {
    /// Add `o`'s counters to these.
    pub fn add(&mut self, o: &TrainerStats) {
        self.solve_fallbacks += o.solve_fallbacks;
        self.solves += o.solves;
        self.aux_rejections += o.aux_rejections;
        self.evaluations += o.evaluations;
    }
}

/// One optimisation method. The driver calls [`Trainer::start`] once with the
/// current network, then [`Trainer::step`] until a stopping rule fires.
pub trait Trainer {
    /// Method name (`ls-adam`, `sapm`, ...).
    fn name(&self) -> &str;
    /// Prepare internal state from the network (auxiliaries, optimiser moments).
    fn start(&mut self, net: &Network) -> Result<()>;
    /// One iteration; updates `net` in place.
    fn step(&mut self, net: &mut Network) -> Result<StepOutcome>;
    /// The auxiliary-variable loss after the last step (PM/SAPM), else `None`.
    fn aux_loss(&self) -> Option<f64> {
        None
    }
    /// Counters for the summary.
    fn stats(&self) -> TrainerStats {
        TrainerStats::default()
    }
    /// The first non-finite value of the trainer's own variables (PM/SAPM
    /// auxiliaries), named with its layer, e.g. `auxiliary a_3 (layer 3)
    /// became NaN`; `None` if all are finite. Called after every step.
    fn non_finite_state(&self) -> Option<String> {
        None
    }
    /// Add everything [`Trainer::load_state`] needs to continue bit for bit
    /// (moments, auxiliaries, step sizes, counters; not scratch buffers that
    /// every step recomputes). Large arrays are borrowed, not copied.
    /// Default: this trainer cannot be checkpointed.
    fn save_state<'s>(&'s self, _w: &mut StateWriter<'s>) -> Result<()> {
        Err(not_resumable(self.name()))
    }
    /// Continue from a state written by [`Trainer::save_state`], for `net`
    /// holding the checkpoint's weights; replaces [`Trainer::start`]. Checks
    /// shapes against `net` and finiteness of what must be finite.
    fn load_state(&mut self, _r: &mut StateReader, _net: &Network) -> Result<()> {
        Err(not_resumable(self.name()))
    }
}

fn not_resumable(name: &str) -> Error {
    Error::config(
        "train.checkpoint_every",
        format!("method {name} cannot be checkpointed or resumed"),
    )
}

/// A differentiable loss of the network parameters (J_LS for regression, the
/// PINN loss for PDEs), used by the gradient-based trainers.
pub trait Objective: Send {
    /// Loss value.
    fn value(&mut self, net: &Network) -> f64;
    /// Loss value and gradient (flat, in [`Network::params`] order).
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64;
}
