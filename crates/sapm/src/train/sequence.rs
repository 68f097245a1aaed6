//! Phases run one after another: `ls-adam-lbfgs` (Adam, then L-BFGS) and
//! warm-started PM/SAPM (Adam, then the auxiliary method).

use super::{StepOutcome, Trainer, TrainerStats};
use crate::error::Result;
use crate::net::Network;

/// A list of trainers, each run for a number of iterations (the last until the
/// driver stops). The next phase starts from the current network.
pub struct Sequence<'a> {
    name: String,
    phases: Vec<(Box<dyn Trainer + 'a>, usize)>,
    current: usize,
    done_in_phase: usize,
}

impl<'a> Sequence<'a> {
    /// Phases `(trainer, iterations)`; the last phase's count is ignored.
    pub fn new(name: impl Into<String>, phases: Vec<(Box<dyn Trainer + 'a>, usize)>) -> Self {
        Sequence {
            name: name.into(),
            phases,
            current: 0,
            done_in_phase: 0,
        }
    }

    /// Name of the phase that will run the next step.
    pub fn phase_name(&self) -> &str {
        self.phases[self.current].0.name()
    }
}

impl Trainer for Sequence<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn start(&mut self, net: &Network) -> Result<()> {
        self.current = 0;
        self.done_in_phase = 0;
        // Skip phases with zero iterations.
        while self.current + 1 < self.phases.len() && self.phases[self.current].1 == 0 {
            self.current += 1;
        }
        self.phases[self.current].0.start(net)
    }
    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        let mut switched = false;
        if self.current + 1 < self.phases.len() && self.done_in_phase >= self.phases[self.current].1
        {
            self.current += 1;
            self.done_in_phase = 0;
            self.phases[self.current].0.start(net)?;
            switched = true;
        }
        let mut out = self.phases[self.current].0.step(net)?;
        out.new_phase |= switched;
        self.done_in_phase += 1;
        // Convergence of an early phase only ends that phase.
        if out.converged && self.current + 1 < self.phases.len() {
            self.done_in_phase = self.phases[self.current].1;
            out.converged = false;
        }
        Ok(out)
    }
    fn aux_loss(&self) -> Option<f64> {
        self.phases[self.current].0.aux_loss()
    }
    fn stats(&self) -> TrainerStats {
        let mut s = TrainerStats::default();
        for (p, _) in &self.phases {
            let t = p.stats();
            s.solve_fallbacks += t.solve_fallbacks;
            s.solves += t.solves;
            s.aux_rejections += t.aux_rejections;
            s.evaluations += t.evaluations;
        }
        s
    }
}
