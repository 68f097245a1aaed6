//! `elm`: hidden layers frozen at their random initialisation, output layer by
//! one least-squares solve (an extreme learning machine). A cheap baseline that
//! explains part of what undamped auxiliary-variable methods do.

use super::lm::varpro::output_system;
use super::{StepOutcome, Trainer, TrainerStats};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;
use crate::linalg::{LayerSystem, LocalReducer, Regularization, SolveMethod, solve_layer};
use crate::net::{ForwardCache, Network};
use crate::objective::LeastSquares;
use faer::{Mat, MatRef};

/// What the output layer is fitted to.
enum Source<'a> {
    /// Regression data `(x, y)`: the design is the last hidden layer's features.
    Regression(MatRef<'a, f64>, MatRef<'a, f64>),
    /// Residual rows affine in the output layer (second-order PDE rows):
    /// the design is the Jacobian's output-layer columns
    /// ([`output_system`]).
    Rows(Box<dyn LeastSquares + 'a>),
}

/// One least-squares solve for `[W_L, b_L]` on the features of the initial network.
pub struct Elm<'a> {
    source: Source<'a>,
    ridge: f64,
    solver: SolveMethod,
    done: bool,
    stats: TrainerStats,
}

impl<'a> Elm<'a> {
    /// ELM on `(x, y)` with a relative ridge (0 = plain least squares).
    pub fn new(x: MatRef<'a, f64>, y: MatRef<'a, f64>, ridge: f64, solver: SolveMethod) -> Self {
        Self::on(Source::Regression(x, y), ridge, solver)
    }

    /// ELM on residual rows affine in the output layer (a PDE's rows: the
    /// output layer minimises the PINN loss for the random hidden layers).
    pub fn rows(ls: Box<dyn LeastSquares + 'a>, ridge: f64, solver: SolveMethod) -> Self {
        Self::on(Source::Rows(ls), ridge, solver)
    }

    fn on(source: Source<'a>, ridge: f64, solver: SolveMethod) -> Self {
        Elm {
            source,
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
        let last = net.depth() - 1;
        // Design `P` (`k x N`) and targets `T` (`m_L x N`) of `W_L P = T`.
        let (p, t) = match &mut self.source {
            Source::Regression(x, y) => {
                let mut cache = ForwardCache::new(net.widths(), x.ncols());
                net.forward_into(*x, &mut cache);
                (cache.p.swap_remove(last), y.to_owned())
            }
            Source::Rows(ls) => {
                let (a, b) = output_system(ls.as_mut(), net);
                (
                    a.transpose().to_owned(),
                    Mat::from_fn(1, b.len(), |_, j| b[j]),
                )
            }
        };
        let sys = LayerSystem::single(p.as_ref(), t.as_ref());
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
        let objective = match &mut self.source {
            Source::Regression(x, y) => crate::task::regression::mse(net, *x, *y),
            Source::Rows(ls) => ls.value(net),
        };
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
