//! Optimisation methods, one module each, behind one [`Trainer`] trait; the
//! loop that runs them is in [`crate::driver`].

mod adam;
mod elm;
mod gd;
mod lbfgs;
pub mod lm;
pub mod sapm_gn;
mod sequence;

pub use adam::{Adam, AdamConfig};
pub use elm::Elm;
pub use gd::GradientDescent;
pub use lbfgs::{Lbfgs, LbfgsConfig};
pub use lm::{Lm, LmConfig, LmSolve};
pub use sapm_gn::{SapmGn, SapmGnConfig};
pub use sequence::Sequence;

use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Error, Result};
use crate::net::Network;
pub use crate::record::TrainerStats;

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

impl StepOutcome {
    /// The outcome of a step that evaluated `objective` at the new point and
    /// starts no new phase (the least-squares methods `lm`, `varpro`, `sapm-gn`).
    pub(crate) fn new(objective: f64, converged: bool) -> Self {
        StepOutcome {
            objective,
            converged,
            lagged: false,
            new_phase: false,
        }
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
    /// Method-specific numbers for the progress bar (LM: `lambda` and the
    /// step norm), as `(name, value)`; empty by default.
    fn progress(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// Names of trainer-specific history columns (e.g. `derivative_gap` of
    /// PM/SAPM with derivative auxiliaries); fixed for the whole run.
    fn probe_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// Their values for `net` (NaN while not available), computed when the
    /// driver records a history row.
    fn probes(&mut self, _net: &Network) -> Vec<f64> {
        Vec::new()
    }
    /// Whether the reported objective is a mini-batch estimate (see
    /// [`crate::objective::Objective::stochastic`]).
    fn stochastic(&self) -> bool {
        false
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
