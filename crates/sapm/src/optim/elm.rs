//! `elm`: hidden layers frozen at their random initialisation, output layer by
//! one least-squares solve (an extreme learning machine). A cheap baseline that
//! explains part of what undamped auxiliary-variable methods do.

use super::lm::varpro::output_system;
use super::{StepOutcome, Trainer, TrainerStats};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;
use crate::linalg::{
    LayerSystem, LocalReducer, Regularization, SharedReducer, SolveInfo, SolveMethod,
    local_reducer, reduce_or_nan, solve_layer, solve_normal,
};
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
    /// Multi-process runs: the source holds this process's shard.
    reducer: SharedReducer,
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
            reducer: local_reducer(),
        }
    }

    /// Data-parallel ELM: the source holds this process's shard, and the
    /// output layer solves the normal equations `P P^T`, `P T^T` summed over
    /// the processes of `reducer` (one collective).
    pub fn distributed(mut self, reducer: SharedReducer) -> Self {
        self.reducer = reducer;
        self
    }

    /// `[W_L, b_L]` (`m x k`) of `sys`: one process solves as configured;
    /// several sum the normal equations once and take the ridge's scale
    /// from the summed Gram matrix's trace.
    fn solve(&self, sys: &LayerSystem<'_>) -> Result<(Mat<f64>, SolveInfo)> {
        let k = sys.k() as f64;
        if self.reducer.size() == 1 {
            let reg = Regularization {
                lambda: self.ridge * sys.gram_trace() / k,
                ..Default::default()
            };
            return solve_layer(
                sys,
                &reg,
                self.solver,
                crate::linalg::DEFAULT_BLOCK,
                &LocalReducer,
            );
        }
        let (g, r) = sys.normal_equations(crate::linalg::DEFAULT_BLOCK, self.reducer.as_ref())?;
        let trace: f64 = (0..g.nrows()).map(|i| g[(i, i)]).sum();
        let reg = Regularization {
            lambda: self.ridge * trace / k,
            ..Default::default()
        };
        let (x, fallback) = solve_normal(g.as_ref(), r.as_ref(), &reg)?;
        let info = SolveInfo {
            method: SolveMethod::Cholesky,
            fallback,
        };
        Ok((x.transpose().to_owned(), info))
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
        let (w, info) = self.solve(&sys)?;
        self.stats.solves += 1;
        self.stats.solve_fallbacks += info.fallback as usize;
        net.layer_mut(last).copy_from(&w);
        let reducer = self.reducer.as_ref();
        let objective = match &mut self.source {
            Source::Regression(x, y) if reducer.size() > 1 => {
                let sum = crate::task::regression::sq_error_sum(net, *x, *y, None);
                let mut v = [sum, x.ncols() as f64];
                reduce_or_nan(reducer, &mut v);
                v[0] / v[1]
            }
            Source::Regression(x, y) => crate::task::regression::mse(net, *x, *y),
            // A PINN shard's loss is its share of the whole one.
            Source::Rows(ls) => {
                let mut v = [ls.value(net)];
                reduce_or_nan(reducer, &mut v);
                v[0]
            }
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
