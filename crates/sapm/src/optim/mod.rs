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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Method;
    use crate::driver::{Metrics, NoObserver, StopRules, run};
    use crate::linalg::SolveMethod;
    use crate::net::NetworkSpec;
    use crate::objective::Objective;
    use crate::task::regression::LsObjective;
    use faer::Mat;

    /// A trainer with only the required methods.
    struct Bare;
    impl Trainer for Bare {
        fn name(&self) -> &str {
            "bare"
        }
        fn start(&mut self, _net: &Network) -> Result<()> {
            Ok(())
        }
        fn step(&mut self, _net: &mut Network) -> Result<StepOutcome> {
            Ok(StepOutcome::new(2.0, false))
        }
    }

    /// The defaults claim nothing: no auxiliary loss, progress, probes,
    /// noise, counters or non-finite state.
    #[test]
    fn the_defaults_report_nothing_of_their_own() {
        let net = NetworkSpec::new(vec![1, 2, 1]).build(0).unwrap();
        let mut b = Bare;
        assert_eq!(b.aux_loss(), None);
        assert!(b.progress().is_empty());
        assert!(b.probe_names().is_empty());
        assert!(b.probes(&net).is_empty());
        assert!(!b.stochastic());
        assert_eq!(b.stats(), TrainerStats::default());
        assert_eq!(b.non_finite_state(), None);
    }

    /// `J_LS` of the data, the one metric.
    struct TrainLoss<'a>(faer::MatRef<'a, f64>, faer::MatRef<'a, f64>);
    impl Metrics for TrainLoss<'_> {
        fn names(&self) -> Vec<String> {
            vec!["j_ls".into()]
        }
        fn eval(&self, net: &Network) -> Vec<f64> {
            vec![LsObjective::new(net, self.0, self.1).value(net)]
        }
    }

    /// Least-squares methods have no auxiliary loss: none in any history row
    /// or the result, and the first row's objective is the train loss. Each
    /// trainer's name is its method's in the config.
    #[test]
    fn least_squares_runs_record_no_auxiliary_loss() {
        let x = Mat::from_fn(1, 12, |_, j| j as f64 / 11.0);
        let y = Mat::from_fn(1, 12, |_, j| (3.0 * j as f64 / 11.0).sin());
        let net0 = NetworkSpec::new(vec![1, 4, 1]).build(3).unwrap();
        let metrics = TrainLoss(x.as_ref(), y.as_ref());
        let want0 = metrics.eval(&net0)[0];
        let obj = || Box::new(LsObjective::new(&net0, x.as_ref(), y.as_ref()));
        let trainers: Vec<(Method, Box<dyn Trainer + '_>)> = vec![
            (
                Method::LsAdam,
                Box::new(adam::Adam::new(obj(), adam::AdamConfig::default())),
            ),
            (
                Method::LsLbfgs,
                Box::new(lbfgs::Lbfgs::new(obj(), lbfgs::LbfgsConfig::default())),
            ),
            (
                Method::LsGd,
                Box::new(gd::GradientDescent::new(obj(), 1e-2)),
            ),
            (
                Method::Elm,
                Box::new(elm::Elm::new(x.as_ref(), y.as_ref(), 0.0, SolveMethod::Qr)),
            ),
        ];
        for (method, mut t) in trainers {
            assert_eq!(t.name(), method.name());
            let mut net = net0.clone();
            let rules = StopRules {
                max_iterations: 3,
                ..Default::default()
            };
            let res = run(t.as_mut(), &mut net, &metrics, &rules, 1, &mut NoObserver).unwrap();
            assert_eq!(res.aux_loss, None, "{}", t.name());
            assert!(
                res.history.iter().all(|r| r.aux_loss.is_none()),
                "{}",
                t.name()
            );
            assert_eq!(
                res.history[0].objective.to_bits(),
                want0.to_bits(),
                "{}",
                t.name()
            );
        }
    }
}
