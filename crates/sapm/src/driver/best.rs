//! The best iterate of a phase, and two divergence rules that a finite,
//! never-exploding objective can still break: at the end of a run, the
//! objective is more than [`RISE_FACTOR`] times its best, or worse than
//! where the phase started. Either makes the run diverged, and the run
//! returns the best model. Judged at the end, not at once: Adam's
//! objective often spikes by 10x and recovers, and that is not divergence.

use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;
use crate::net::Network;

/// A run that ends above this multiple of its best objective diverged.
pub const RISE_FACTOR: f64 = 10.0;

/// ... unless its last objective is below this fraction of the phase's
/// starting scale (the larger of the initial objective and the first
/// step's): changes of a loss driven to round-off are noise.
pub const RISE_FLOOR: f64 = 1e-6;

/// The best objective of the current phase and the model that had it.
#[derive(Debug, Clone)]
pub(super) struct Best {
    /// The phase's first objective (the starting loss for methods whose
    /// objective lags a step; after one step for the others).
    pub first: f64,
    /// The objective's scale at the start of the phase (see [`RISE_FLOOR`]).
    pub scale: f64,
    /// The smallest objective so far (`inf` before the first step).
    pub objective: f64,
    /// Iterations completed by the model that had it.
    pub iteration: usize,
    /// That model.
    pub net: Network,
}

impl Best {
    /// Before the first step; `initial` is the objective at the start (if known).
    pub fn new(net: &Network, initial: f64) -> Best {
        Best {
            first: f64::NAN,
            scale: if initial.is_finite() {
                initial.abs()
            } else {
                0.0
            },
            objective: f64::INFINITY,
            iteration: 0,
            net: net.clone(),
        }
    }

    /// A new phase (the objective changes meaning): start over.
    pub fn reset(&mut self) {
        self.first = f64::NAN;
        self.scale = 0.0;
        self.objective = f64::INFINITY;
    }

    /// After a step: `f` is the (finite) objective of `model`, the model
    /// after `iteration` iterations; a new best is remembered.
    pub fn observe(&mut self, f: f64, model: &Network, iteration: usize) {
        if self.first.is_nan() {
            self.first = f;
            self.scale = self.scale.max(f.abs());
        }
        if f < self.objective {
            self.objective = f;
            self.iteration = iteration;
            self.net.clone_from(model);
        }
    }

    /// At the end of a run whose last objective is `last`: why it diverged
    /// (more than [`RISE_FACTOR`] x its best, or worse than its first), if so.
    pub fn ended_badly(&self, last: f64) -> Option<String> {
        if !(self.objective.is_finite() && last > self.objective) || last <= RISE_FLOOR * self.scale
        {
            return None;
        }
        if last > RISE_FACTOR * self.objective {
            Some(format!(
                "the objective ended at {last:.3e}, more than {RISE_FACTOR}x its best {:.3e} (iteration {})",
                self.objective, self.iteration
            ))
        } else if last > self.first {
            Some(format!(
                "the final objective {last:.3e} is worse than the first {:.3e}",
                self.first
            ))
        } else {
            None
        }
    }

    pub fn save(&self, w: &mut StateWriter<'_>) {
        w.f64("best_first", self.first);
        w.f64("best_scale", self.scale);
        w.f64("best_objective", self.objective);
        w.int("best_iteration", self.iteration as u64);
        w.f64s_owned("best_net", self.net.params());
    }

    pub fn load(r: &mut StateReader, net: &Network, max_iteration: usize) -> Result<Best> {
        let mut b = Best::new(net, f64::NAN);
        b.first = r.f64("best_first")?;
        b.scale = r.f64("best_scale")?;
        b.objective = r.f64("best_objective")?;
        b.iteration = r.usize_at_most("best_iteration", max_iteration)?;
        let mut p = vec![0.0; net.num_params()];
        r.finite_f64s_into("best_net", &mut p)?;
        b.net.set_params(&p);
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use crate::driver::tests::{One, assert_diverged};
    use crate::driver::{NoObserver, RunResult, Status, StopRules, run};
    use crate::net::{Network, NetworkSpec};
    use crate::optim::{StepOutcome, Trainer};

    /// Moves every parameter by +1 per step and reports scripted objectives.
    struct Scripted {
        objectives: Vec<f64>,
        lagged: bool,
        stochastic: bool,
        steps: usize,
    }

    impl Trainer for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn start(&mut self, _net: &Network) -> crate::Result<()> {
            Ok(())
        }
        fn stochastic(&self) -> bool {
            self.stochastic
        }
        fn step(&mut self, net: &mut Network) -> crate::Result<StepOutcome> {
            let p: Vec<f64> = net.params().iter().map(|v| v + 1.0).collect();
            net.set_params(&p);
            self.steps += 1;
            Ok(StepOutcome {
                objective: self.objectives[self.steps - 1],
                lagged: self.lagged,
                ..Default::default()
            })
        }
    }

    /// The run's result and how many +1 steps the returned model has had.
    fn script(objectives: &[f64], lagged: bool) -> (RunResult, f64) {
        script_as(objectives, lagged, false)
    }

    /// [`script`] for a trainer whose objective is (or is not) a batch estimate.
    fn script_as(objectives: &[f64], lagged: bool, stochastic: bool) -> (RunResult, f64) {
        let start = NetworkSpec::new(vec![1, 2, 1]).build(0).unwrap();
        let mut net = start.clone();
        let mut t = Scripted {
            objectives: objectives.to_vec(),
            lagged,
            stochastic,
            steps: 0,
        };
        let rules = StopRules {
            max_iterations: objectives.len(),
            ..Default::default()
        };
        let res = run(&mut t, &mut net, &One, &rules, 1, &mut NoObserver).unwrap();
        let steps = net.params()[0] - start.params()[0];
        (res, steps.round())
    }

    /// A PM run whose loss rose from 0.44 to 12.9 ended as `max_iterations`
    /// with exit code 0. Ending above 10x the best is divergence now, and the
    /// best model is what the run returns.
    #[test]
    fn ending_above_ten_times_the_best_is_divergence_with_the_best_model() {
        let (res, steps) = script(&[20.0, 0.44, 0.6, 2.0, 12.9], false);
        assert_diverged(
            &res,
            &[
                "objective ended at 1.290e1, more than 10x its best 4.400e-1 (iteration 2)",
                "after 5 iterations; kept the best model, of iteration 2",
            ],
        );
        assert_eq!((res.iterations, steps), (2, 2.0));
        assert_eq!(res.objective, 0.44);
        // The last history row is the returned model's, after the others.
        let its: Vec<usize> = res.history.iter().map(|r| r.iteration).collect();
        assert_eq!(its, vec![0, 1, 2, 3, 4, 5, 2]);
        assert_eq!(res.history.last().unwrap().objective, 0.44);
        // Lagged objectives belong to the model before the step.
        let (res, steps) = script(&[20.0, 0.44, 0.6, 12.9, 13.0], true);
        assert_eq!(res.status, Status::Diverged);
        assert_eq!((res.iterations, steps), (1, 1.0));
        // A spike that recovers is not divergence (Adam's are common).
        let (res, steps) = script(&[20.0, 0.44, 12.9, 0.5, 0.4], false);
        assert_eq!(res.status, Status::MaxIterations, "{}", res.message);
        assert_eq!(steps, 5.0);
        // Mini-batch losses: the last and the best are of other batches, so
        // the run ends with its last model.
        for objectives in [&[20.0, 0.44, 0.6, 2.0, 12.9][..], &[1.0, 0.5, 0.8, 1.2]] {
            let (res, steps) = script_as(objectives, true, true);
            assert_eq!(res.status, Status::MaxIterations, "{}", res.message);
            assert_eq!(steps, objectives.len() as f64);
        }
    }

    #[test]
    fn ending_worse_than_the_start_is_divergence_with_the_best_model() {
        let (res, steps) = script(&[1.0, 0.5, 0.8, 1.2], false);
        assert_diverged(
            &res,
            &[
                "final objective 1.200e0 is worse than the first 1.000e0 after 4 iterations; kept the best model, of iteration 2",
            ],
        );
        assert_eq!((res.iterations, steps), (2, 2.0));
    }

    #[test]
    fn ordinary_runs_and_bounces_near_round_off_are_not_divergence() {
        let (res, steps) = script(&[1.0, 0.5, 0.6, 0.55, 0.3], false);
        assert_eq!(res.status, Status::MaxIterations);
        assert_eq!((res.iterations, steps), (5, 5.0));
        // 1e-12 -> 1e-9 is a 1000x rise, but a millionth of the start.
        let (res, _) = script(&[1.0, 1e-12, 1e-10, 1e-9], false);
        assert_eq!(res.status, Status::MaxIterations, "{}", res.message);
    }
}
