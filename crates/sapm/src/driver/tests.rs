use super::*;
use crate::optim::StepOutcome;

/// Moves every parameter by +1 per step; poisons one value at step `bad`.
struct Poison {
    bad: usize,
    layer: usize,
    /// Poison the trainer's own state instead of the weights.
    in_state: bool,
    steps: usize,
}

impl Trainer for Poison {
    fn name(&self) -> &str {
        "poison"
    }
    fn start(&mut self, _net: &Network) -> Result<()> {
        Ok(())
    }
    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        self.steps += 1;
        let p: Vec<f64> = net.params().iter().map(|v| v + 1.0).collect();
        net.set_params(&p);
        if self.steps == self.bad && !self.in_state {
            net.layer_mut(self.layer)[(0, 0)] = f64::NAN;
        }
        Ok(StepOutcome {
            objective: 1.0,
            converged: false,
            lagged: false,
            new_phase: false,
        })
    }
    fn non_finite_state(&self) -> Option<String> {
        (self.in_state && self.steps >= self.bad)
            .then(|| "auxiliary a_2 (layer 2) became NaN".to_string())
    }
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        w.int("steps", self.steps as u64);
        Ok(())
    }
}

/// `res` stopped as diverged with a message containing every one of `parts`
/// (also used by the tests of `best` and L-BFGS).
pub(crate) fn assert_diverged(res: &RunResult, parts: &[&str]) {
    assert_eq!(res.status, Status::Diverged, "{}", res.message);
    for part in parts {
        assert!(res.message.contains(part), "{}", res.message);
    }
}

/// One constant metric `m` (also used by the tests of `best`).
pub(super) struct One;
impl Metrics for One {
    fn names(&self) -> Vec<String> {
        vec!["m".into()]
    }
    fn eval(&self, _net: &Network) -> Vec<f64> {
        vec![1.0]
    }
}

/// Remembers the iterations it saved.
#[derive(Default)]
struct Saves(Vec<usize>);
impl Checkpointer for Saves {
    fn due(&self, iteration: usize) -> bool {
        iteration.is_multiple_of(5)
    }
    fn save(&mut self, _state: StateWriter<'_>, iteration: usize) -> Result<()> {
        self.0.push(iteration);
        Ok(())
    }
}

fn diverge(in_state: bool) -> (RunResult, Network, Network, Vec<usize>) {
    let start = crate::net::NetworkSpec::new(vec![1, 3, 3, 1])
        .build(1)
        .unwrap();
    let mut net = start.clone();
    let mut t = Poison {
        bad: 12,
        layer: 1,
        in_state,
        steps: 0,
    };
    let mut saves = Saves::default();
    let res = run_with(
        &mut t,
        &mut net,
        &One,
        &StopRules::default(),
        1,
        &mut NoObserver,
        RunOptions {
            checkpoint: Some(&mut saves),
            resume: None,
        },
    )
    .unwrap();
    (res, start, net, saves.0)
}

#[test]
fn a_non_finite_weight_is_named_and_the_last_finite_model_kept() {
    let (res, start, net, saves) = diverge(false);
    assert_diverged(
        &res,
        &["weight W_2 (layer 2) became NaN at iteration 12; kept the model of iteration 11"],
    );
    assert_eq!(res.iterations, 11);
    // The model after 11 steps of +1, and no checkpoint after the failure.
    let want: Vec<f64> = start.params().iter().map(|v| v + 11.0).collect();
    assert_eq!(net.params(), want);
    assert_eq!(saves, vec![5, 10]);
}

#[test]
fn a_non_finite_auxiliary_is_named_with_its_layer() {
    let (res, _, net, saves) = diverge(true);
    assert_diverged(
        &res,
        &["auxiliary a_2 (layer 2) became NaN at iteration 12"],
    );
    assert!(net.is_finite());
    assert_eq!(saves, vec![5, 10]);
}

#[test]
fn a_non_finite_bias_is_named_as_a_bias() {
    let mut net = crate::net::NetworkSpec::new(vec![2, 4, 1])
        .build(0)
        .unwrap();
    assert_eq!(non_finite_weights(&net), None);
    net.layer_mut(0)[(3, 2)] = f64::INFINITY;
    assert_eq!(
        non_finite_weights(&net).as_deref(),
        Some("bias b_1 (layer 1) became inf")
    );
}

/// A trainer whose probe is not available yet (NaN, as the derivative gap
/// during a warm start's Adam phase).
struct NoProbeYet;
impl Trainer for NoProbeYet {
    fn name(&self) -> &str {
        "no-probe-yet"
    }
    fn start(&mut self, _net: &Network) -> Result<()> {
        Ok(())
    }
    fn step(&mut self, _net: &mut Network) -> Result<StepOutcome> {
        Ok(StepOutcome {
            objective: 1.0,
            converged: false,
            lagged: false,
            new_phase: false,
        })
    }
    fn probe_names(&self) -> Vec<String> {
        vec!["derivative_gap".into()]
    }
    fn probes(&mut self, _net: &Network) -> Vec<f64> {
        vec![f64::NAN]
    }
    fn save_state<'s>(&'s self, _w: &mut StateWriter<'s>) -> Result<()> {
        Ok(())
    }
}

/// A NaN metric of the task ends the run as diverged; a NaN probe of the
/// trainer (a diagnostic not available in the running phase) does not.
#[test]
fn a_nan_metric_diverges_a_nan_probe_does_not() {
    struct NanMetric;
    impl Metrics for NanMetric {
        fn names(&self) -> Vec<String> {
            vec!["m".into()]
        }
        fn eval(&self, _net: &Network) -> Vec<f64> {
            vec![f64::NAN]
        }
    }
    let rules = StopRules {
        max_iterations: 4,
        ..StopRules::default()
    };
    let run = |metrics: &dyn Metrics| {
        let mut net = crate::net::NetworkSpec::new(vec![1, 2, 1])
            .build(0)
            .unwrap();
        run_with(
            &mut NoProbeYet,
            &mut net,
            metrics,
            &rules,
            1,
            &mut NoObserver,
            RunOptions::default(),
        )
        .unwrap()
    };
    let res = run(&One);
    assert_eq!(res.status, Status::MaxIterations, "{}", res.message);
    assert!(res.history.last().unwrap().values[1].is_nan());
    assert_diverged(&run(&NanMetric), &["metric m is NaN at iteration 4"]);
}
