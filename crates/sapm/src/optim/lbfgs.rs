//! `ls-lbfgs`: L-BFGS with a More-Thuente (strong Wolfe) line search, from argmin.

use super::{StepOutcome, Trainer, TrainerStats};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Error, Result};
use crate::net::Network;
use crate::objective::Objective;
use argmin::core::{
    CostFunction, Gradient, IterState, Problem, Solver, State, TerminationReason, TerminationStatus,
};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// L-BFGS hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LbfgsConfig {
    /// History length `m` (>= 1).
    pub memory: usize,
    /// Stop when the gradient norm falls below this (>= 0).
    pub tol_grad: f64,
    /// Stop when the loss changes by less than this between iterations (>= 0).
    pub tol_cost: f64,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            memory: 20,
            tol_grad: 0.0,
            tol_cost: 0.0,
        }
    }
}

/// The objective as argmin sees it: a function of a flat parameter vector.
struct Cost<'a> {
    obj: RefCell<Box<dyn Objective + 'a>>,
    net: RefCell<Network>,
    evals: RefCell<usize>,
}

impl CostFunction for Cost<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        let mut net = self.net.borrow_mut();
        net.set_params(p);
        *self.evals.borrow_mut() += 1;
        let f = self.obj.borrow_mut().value(&net);
        // A non-finite trial point is "infinitely bad" for the line search.
        Ok(if f.is_finite() { f } else { f64::INFINITY })
    }
}

impl Gradient for Cost<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        let mut net = self.net.borrow_mut();
        net.set_params(p);
        let mut g = vec![0.0; p.len()];
        *self.evals.borrow_mut() += 1;
        self.obj.borrow_mut().value_grad(&net, &mut g);
        Ok(g)
    }
}

type State_ = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;
type Solver_ = LBFGS<MoreThuenteLineSearch<Vec<f64>, Vec<f64>, f64>, Vec<f64>, Vec<f64>, f64>;

/// L-BFGS stepped one iteration at a time so the shared driver owns the loop.
pub struct Lbfgs<'a> {
    cfg: LbfgsConfig,
    problem: Option<Problem<Cost<'a>>>,
    pending: Option<Box<dyn Objective + 'a>>,
    solver: Option<Solver_>,
    state: Option<State_>,
}

impl<'a> Lbfgs<'a> {
    /// L-BFGS on `obj`.
    pub fn new(obj: Box<dyn Objective + 'a>, cfg: LbfgsConfig) -> Self {
        Lbfgs {
            cfg,
            problem: None,
            pending: Some(obj),
            solver: None,
            state: None,
        }
    }
}

impl<'a> Lbfgs<'a> {
    /// The objective wrapped for argmin, on a scratch copy of `net`.
    fn problem_for(&mut self, net: &Network) -> Result<Problem<Cost<'a>>> {
        let obj = match (self.pending.take(), self.problem.take()) {
            (Some(o), _) => o,
            (None, Some(mut p)) => p
                .take_problem()
                .map(|c| c.obj.into_inner())
                .ok_or_else(|| Error::numerical("L-BFGS", "lost its objective"))?,
            (None, None) => return Err(Error::numerical("L-BFGS", "lost its objective")),
        };
        Ok(Problem::new(Cost {
            obj: RefCell::new(obj),
            net: RefCell::new(net.clone()),
            evals: RefCell::new(0),
        }))
    }

    fn new_solver(&self) -> Result<Solver_> {
        LBFGS::new(MoreThuenteLineSearch::new(), self.cfg.memory)
            .with_tolerance_grad(self.cfg.tol_grad)
            .map_err(argmin_err)?
            .with_tolerance_cost(self.cfg.tol_cost)
            .map_err(argmin_err)
    }
}

/// Every vector in an argmin blob (MessagePack with field names, seen as
/// JSON) must have the network's `n` parameters: argmin's vector
/// arithmetic assumes equal lengths and would panic otherwise.
fn check_vectors(v: &serde_json::Value, n: usize, at: &str) -> std::result::Result<(), String> {
    use serde_json::Value;
    match v {
        Value::Array(a) if !a.is_empty() && a.iter().all(|x| x.is_number() || x.is_null()) => {
            // A vector of numbers: a parameter-sized iterate, gradient or s/y pair.
            return match a.len() == n {
                true => Ok(()),
                false => Err(format!(
                    "{at} has {} values, the network has {n} parameters",
                    a.len()
                )),
            };
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check_vectors(x, n, &format!("{at}[{i}]"))?;
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                check_vectors(x, n, &format!("{at}.{k}"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn argmin_err(e: argmin::core::Error) -> Error {
    Error::numerical("L-BFGS", e.to_string())
}

impl Trainer for Lbfgs<'_> {
    fn name(&self) -> &str {
        "ls-lbfgs"
    }

    fn start(&mut self, net: &Network) -> Result<()> {
        let mut problem = self.problem_for(net)?;
        let mut solver = self.new_solver()?;
        let state = State_::new().param(net.params());
        let (mut state, _) = solver.init(&mut problem, state).map_err(argmin_err)?;
        state.update();
        self.problem = Some(problem);
        self.solver = Some(solver);
        self.state = Some(state);
        Ok(())
    }

    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        let (problem, solver) = match (self.problem.as_mut(), self.solver.as_mut()) {
            (Some(p), Some(s)) => (p, s),
            _ => return Err(Error::numerical("L-BFGS", "step before start")),
        };
        let state = self
            .state
            .take()
            .ok_or_else(|| Error::numerical("L-BFGS", "no state"))?;
        // Check the solver's own tolerances before stepping, as argmin's Executor does.
        if let TerminationStatus::Terminated(_) =
            <Solver_ as Solver<Cost<'_>, State_>>::terminate_internal(solver, &state)
        {
            let f = state.get_cost();
            self.state = Some(state);
            return Ok(StepOutcome {
                objective: f,
                converged: true,
                lagged: false,
                new_phase: false,
            });
        }
        let (mut state, _) = solver.next_iter(problem, state).map_err(argmin_err)?;
        state.update();
        state.increment_iter();
        let converged = matches!(
            state.get_termination_reason(),
            Some(TerminationReason::SolverExit(_)) | Some(TerminationReason::SolverConverged)
        );
        if let Some(p) = state.get_param() {
            net.set_params(p);
        }
        let f = state.get_cost();
        self.state = Some(state);
        Ok(StepOutcome {
            objective: f,
            converged,
            lagged: false,
            new_phase: false,
        })
    }

    fn stats(&self) -> TrainerStats {
        let evaluations = self
            .problem
            .as_ref()
            .and_then(|p| p.problem.as_ref())
            .map_or(0, |c| *c.evals.borrow());
        TrainerStats {
            evaluations,
            ..Default::default()
        }
    }

    /// argmin's solver (its `s`/`y` history and line-search state) and
    /// iteration state via argmin's `serde1` derives, as MessagePack with
    /// field names (floats keep their bits), plus the evaluation count.
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        let (Some(solver), Some(state)) = (self.solver.as_ref(), self.state.as_ref()) else {
            return Err(Error::numerical("L-BFGS", "checkpoint before start"));
        };
        let enc = |what: &str, e: rmp_serde::encode::Error| {
            Error::numerical("L-BFGS", format!("cannot serialise the {what}: {e}"))
        };
        w.bytes(
            "solver",
            rmp_serde::to_vec_named(solver).map_err(|e| enc("solver", e))?,
        );
        w.bytes(
            "state",
            rmp_serde::to_vec_named(state).map_err(|e| enc("state", e))?,
        );
        w.int("evaluations", self.stats().evaluations as u64);
        Ok(())
    }

    fn load_state(&mut self, r: &mut StateReader, net: &Network) -> Result<()> {
        let n = net.num_params();
        let path = r.path().to_path_buf();
        let mut decode = |name: &str| -> Result<Vec<u8>> {
            let bytes = r.bytes(name)?;
            let bad = |why: String| Error::format(&path, format!("entry `{name}`: {why}"));
            let v: serde_json::Value = rmp_serde::from_slice(&bytes)
                .map_err(|e| bad(format!("not an L-BFGS {name}: {e}")))?;
            check_vectors(&v, n, name).map_err(bad)?;
            Ok(bytes)
        };
        let (sb, tb) = (decode("solver")?, decode("state")?);
        let evals = r.usize_at_most("evaluations", usize::MAX)?;
        let bad = |what: &str, e: rmp_serde::decode::Error| {
            Error::format(&path, format!("entry `{what}`: not an L-BFGS {what}: {e}"))
        };
        let solver: Solver_ = rmp_serde::from_slice(&sb).map_err(|e| bad("solver", e))?;
        let state: State_ = rmp_serde::from_slice(&tb).map_err(|e| bad("state", e))?;
        if state.param.as_ref().is_none_or(|p| p.len() != n) {
            return Err(Error::format(
                &path,
                format!("entry `state`: the L-BFGS iterate must have {n} parameters"),
            ));
        }
        let problem = self.problem_for(net)?;
        if let Some(c) = problem.problem.as_ref() {
            *c.evals.borrow_mut() = evals;
        }
        self.problem = Some(problem);
        self.solver = Some(solver);
        self.state = Some(state);
        Ok(())
    }
}
