//! Trainers (one module per method) behind one [`Trainer`] trait, and the
//! driver that owns the loop, stopping rules, history and observers.

mod adam;
mod driver;
mod elm;
mod gd;
mod lbfgs;
mod penalty;
mod sequence;

pub use adam::{Adam, AdamConfig};
pub use driver::{Metrics, NoObserver, Observer, Record, RunResult, Status, StopRules, run};
pub use elm::Elm;
pub use gd::GradientDescent;
pub use lbfgs::{Lbfgs, LbfgsConfig};
pub(crate) use penalty::capped_solve;
pub use penalty::{AuxOrder, OmegaMode, PenaltyConfig, PenaltyTrainer, SweepOrder};
pub use sequence::Sequence;

use crate::error::Result;
use crate::net::Network;

/// What one iteration reports to the driver.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepOutcome {
    /// The value the method minimises, after the step (`J_LS`, `J_PM`, `J_SAPM`, PINN loss).
    pub objective: f64,
    /// The method's own convergence test fired (e.g. L-BFGS gradient tolerance,
    /// a failed line search at machine precision); the driver stops with `converged`.
    pub converged: bool,
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
}

/// A differentiable loss of the network parameters (J_LS for regression, the
/// PINN loss for PDEs), used by the gradient-based trainers.
pub trait Objective: Send {
    /// Loss value.
    fn value(&mut self, net: &Network) -> f64;
    /// Loss value and gradient (flat, in [`Network::params`] order).
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64;
}
