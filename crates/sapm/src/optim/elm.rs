//! `elm`: hidden layers frozen at their random initialisation, output layer by
//! one least-squares solve (an extreme learning machine). A cheap baseline that
//! explains part of what undamped auxiliary-variable methods do.

use super::{StepOutcome, Trainer, TrainerStats};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;
use crate::linalg::{LayerSystem, LocalReducer, Regularization, SolveMethod, solve_layer};
use crate::net::{ForwardCache, Network};
use faer::MatRef;

/// One least-squares solve for `[W_L, b_L]` on the features of the initial network.
pub struct Elm<'a> {
    x: MatRef<'a, f64>,
    y: MatRef<'a, f64>,
    ridge: f64,
    solver: SolveMethod,
    done: bool,
    stats: TrainerStats,
}

impl<'a> Elm<'a> {
    /// ELM on `(x, y)` with a relative ridge (0 = plain least squares).
    pub fn new(x: MatRef<'a, f64>, y: MatRef<'a, f64>, ridge: f64, solver: SolveMethod) -> Self {
        Elm {
            x,
            y,
            ridge,
            solver,
            done: false,
            stats: TrainerStats::default(),
        }
    }
}

impl Trainer for Elm<'_> {
    fn name(&self) -> &str {
        "elm"
    }
    fn start(&mut self, _net: &Network) -> Result<()> {
        self.done = false;
        Ok(())
    }
    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        let mut cache = ForwardCache::new(net.widths(), self.x.ncols());
        net.forward_into(self.x, &mut cache);
        let last = net.depth() - 1;
        let sys = LayerSystem::single(cache.p[last].as_ref(), self.y);
        let reg = Regularization {
            lambda: self.ridge * sys.gram_trace() / sys.k() as f64,
            ..Default::default()
        };
        let (w, info) = solve_layer(
            &sys,
            &reg,
            self.solver,
            crate::linalg::DEFAULT_BLOCK,
            &LocalReducer,
        )?;
        self.stats.solves += 1;
        self.stats.solve_fallbacks += info.fallback as usize;
        net.layer_mut(last).copy_from(&w);
        let objective = crate::task::regression::mse(net, self.x, self.y);
        self.done = true;
        Ok(StepOutcome {
            objective,
            converged: true,
            lagged: false,
            new_phase: false,
        })
    }
    fn stats(&self) -> TrainerStats {
        self.stats.clone()
    }
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        w.flag("done", self.done);
        w.stats(&self.stats);
        Ok(())
    }
    fn load_state(&mut self, r: &mut StateReader, _net: &Network) -> Result<()> {
        self.done = r.flag("done")?;
        self.stats = r.stats()?;
        Ok(())
    }
}
