//! Phases run one after another: `ls-adam-lbfgs` (Adam, then L-BFGS) and
//! warm-started PM/SAPM (Adam, then the auxiliary method).

use super::{StepOutcome, Trainer, TrainerStats};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Error, Result};
use crate::net::Network;

/// A list of trainers, each run for a number of iterations (the last until the
/// driver stops). The next phase starts from the current network.
pub struct Sequence<'a> {
    name: String,
    phases: Vec<(Box<dyn Trainer + 'a>, usize)>,
    current: usize,
    done_in_phase: usize,
    /// Counters of the phases before `current` when resumed from a
    /// checkpoint (those phases are not restarted, so they count nothing).
    earlier: TrainerStats,
}

impl<'a> Sequence<'a> {
    /// Phases `(trainer, iterations)`; the last phase's count is ignored.
    pub fn new(name: impl Into<String>, phases: Vec<(Box<dyn Trainer + 'a>, usize)>) -> Self {
        Sequence {
            name: name.into(),
            phases,
            current: 0,
            done_in_phase: 0,
            earlier: TrainerStats::default(),
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
        self.earlier = TrainerStats::default();
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
    fn non_finite_state(&self) -> Option<String> {
        self.phases[self.current].0.non_finite_state()
    }
    fn progress(&self) -> Vec<(&'static str, f64)> {
        self.phases[self.current].0.progress()
    }
    /// Every phase's columns; a phase that is not running reports NaN.
    fn probe_names(&self) -> Vec<String> {
        self.phases
            .iter()
            .flat_map(|(p, _)| p.probe_names())
            .collect()
    }
    fn probes(&mut self, net: &Network) -> Vec<f64> {
        let current = self.current;
        let mut v = Vec::new();
        for (i, (p, _)) in self.phases.iter_mut().enumerate() {
            if i == current {
                v.extend(p.probes(net));
            } else {
                v.extend(std::iter::repeat_n(f64::NAN, p.probe_names().len()));
            }
        }
        v
    }
    fn stats(&self) -> TrainerStats {
        let mut s = self.earlier.clone();
        for (p, _) in &self.phases {
            s.add(&p.stats());
        }
        s
    }
    /// The phase index, its iteration count and the running phase's own
    /// state; earlier phases contribute only their counters.
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        w.int("current", self.current as u64);
        w.int("done_in_phase", self.done_in_phase as u64);
        w.text("phase_name", self.phase_name());
        let mut earlier = self.earlier.clone();
        for (p, _) in &self.phases[..self.current] {
            earlier.add(&p.stats());
        }
        w.scope("earlier", |w| w.stats(&earlier));
        w.scope("phase", |w| self.phases[self.current].0.save_state(w))
    }
    fn load_state(&mut self, r: &mut StateReader, net: &Network) -> Result<()> {
        let current = r.usize_at_most("current", self.phases.len().saturating_sub(1))?;
        let name = r.text("phase_name")?;
        if name != self.phases[current].0.name() {
            return Err(Error::format(
                r.path(),
                format!(
                    "field `meta.phase_name`: phase {current} is {name:?} in the checkpoint but {:?} here",
                    self.phases[current].0.name()
                ),
            ));
        }
        self.current = current;
        self.done_in_phase = r.usize_at_most("done_in_phase", usize::MAX)?;
        self.earlier = r.scope("earlier", |r| r.stats())?;
        r.scope("phase", |r| self.phases[current].0.load_state(r, net))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A phase that counts its steps and reports `bad` as its state.
    struct Phase(Option<&'static str>);
    impl Trainer for Phase {
        fn name(&self) -> &str {
            "phase"
        }
        fn start(&mut self, _net: &Network) -> Result<()> {
            Ok(())
        }
        fn step(&mut self, _net: &mut Network) -> Result<StepOutcome> {
            Ok(StepOutcome::new(1.0, false))
        }
        fn non_finite_state(&self) -> Option<String> {
            self.0.map(String::from)
        }
        fn progress(&self) -> Vec<(&'static str, f64)> {
            vec![("bad", if self.0.is_some() { 1.0 } else { 0.0 })]
        }
    }

    /// Phases of zero iterations are skipped at the start, but never the
    /// last one (its count is ignored).
    #[test]
    fn zero_iteration_phases_are_skipped_but_not_the_last() {
        let mut net = crate::net::NetworkSpec::new(vec![1, 2, 1])
            .build(0)
            .unwrap();
        let mut s = Sequence::new(
            "zeros",
            vec![
                (Box::new(Phase(None)), 0),
                (Box::new(Phase(None)), 0),
                (Box::new(Phase(Some("last"))), 0),
            ],
        );
        s.start(&net).unwrap();
        assert_eq!(s.non_finite_state().as_deref(), Some("last"));
        s.step(&mut net).unwrap();
        s.step(&mut net).unwrap();
        assert_eq!(s.non_finite_state().as_deref(), Some("last"));
    }

    /// The running phase's state and progress are the sequence's.
    #[test]
    fn state_and_progress_are_the_running_phases() {
        let mut net = crate::net::NetworkSpec::new(vec![1, 2, 1])
            .build(0)
            .unwrap();
        let mut s = Sequence::new(
            "two",
            vec![
                (Box::new(Phase(None)), 1),
                (Box::new(Phase(Some("a_1 is NaN"))), 0),
            ],
        );
        s.start(&net).unwrap();
        assert_eq!(s.non_finite_state(), None);
        assert_eq!(s.progress(), vec![("bad", 0.0)]);
        s.step(&mut net).unwrap();
        s.step(&mut net).unwrap();
        assert_eq!(s.non_finite_state().as_deref(), Some("a_1 is NaN"));
        assert_eq!(s.progress(), vec![("bad", 1.0)]);
    }
}
