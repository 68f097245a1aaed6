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
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Most objective and gradient evaluations in one L-BFGS iteration (its line
/// search included). More-Thuente needs a handful; the cap turns a line
/// search that cannot finish into an error the driver reports, so a run
/// always returns to the driver (and sees Ctrl-C/SIGTERM) between iterations.
pub const MAX_EVALS_PER_ITERATION: usize = 200;

/// The objective as argmin sees it: a function of a flat parameter vector.
struct Cost<'a> {
    obj: RefCell<Box<dyn Objective + 'a>>,
    net: RefCell<Network>,
    /// Evaluations so far, shared with [`Lbfgs`] (argmin drops the problem
    /// when a line search fails).
    evals: Arc<AtomicUsize>,
    /// `evals` at which this iteration's budget is spent.
    limit: Cell<usize>,
    /// Where the evaluations happen, for messages: "the initial weights"
    /// or "a line-search trial point".
    at: Cell<&'static str>,
}

impl Cost<'_> {
    /// Count one evaluation; an error once the iteration's budget is spent.
    fn count(&self) -> std::result::Result<(), argmin::core::Error> {
        let n = self.evals.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.limit.get() {
            return Err(argmin::core::Error::msg(format!(
                "{FAIL_MARK}the line search did not finish within {MAX_EVALS_PER_ITERATION} evaluations{FAIL_END}"
            )));
        }
        Ok(())
    }
}

/// A non-finite objective or gradient ends the run: argmin's More-Thuente
/// search cannot bracket an infinite value and would loop for ever.
fn not_finite(what: &str, v: f64, at: &str) -> argmin::core::Error {
    argmin::core::Error::msg(format!(
        "{FAIL_MARK}{what} is {v} at {at} (overflow: are the targets or inputs unscaled, e.g. of order 1e150?){FAIL_END}"
    ))
}

/// Brackets our own failure messages: argmin turns an error inside the
/// line search into a "solver exit" whose text embeds them.
const FAIL_MARK: &str = "<<sapm: ";
const FAIL_END: &str = ">>";
/// A trial point with non-finite parameters: the search direction itself
/// is not finite (`s.y / y.y = 0/0` once the gradient vanishes exactly).
/// Nothing is left to do: the method has converged.
const NO_DIRECTION: &str = "no finite search direction (the gradient vanished)";

/// Our failure message inside an argmin termination reason, if any.
fn own_failure(reason: &str) -> Option<&str> {
    let start = reason.find(FAIL_MARK)? + FAIL_MARK.len();
    let len = reason[start..].find(FAIL_END)?;
    Some(&reason[start..start + len])
}

impl CostFunction for Cost<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        self.count()?;
        if p.iter().any(|v| !v.is_finite()) {
            return Err(argmin::core::Error::msg(format!(
                "{FAIL_MARK}{NO_DIRECTION}{FAIL_END}"
            )));
        }
        let mut net = self.net.borrow_mut();
        net.set_params(p);
        let f = self.obj.borrow_mut().value(&net);
        if !f.is_finite() {
            return Err(not_finite("the objective", f, self.at.get()));
        }
        Ok(f)
    }
}

impl Gradient for Cost<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.count()?;
        let mut net = self.net.borrow_mut();
        net.set_params(p);
        let mut g = vec![0.0; p.len()];
        let f = self.obj.borrow_mut().value_grad(&net, &mut g);
        if !f.is_finite() {
            return Err(not_finite("the objective", f, self.at.get()));
        }
        if let Some(v) = g.iter().find(|v| !v.is_finite()) {
            return Err(not_finite("the gradient", *v, self.at.get()));
        }
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
    evals: Arc<AtomicUsize>,
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
            evals: Arc::new(AtomicUsize::new(0)),
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
            evals: Arc::clone(&self.evals),
            limit: Cell::new(MAX_EVALS_PER_ITERATION),
            at: Cell::new("the initial weights"),
        }))
    }

    /// Keep `problem`, `solver` and `state` for the steps (after `start` or
    /// `load_state`); from then on the objective is evaluated at line-search
    /// trial points.
    fn hold(&mut self, problem: Problem<Cost<'a>>, solver: Solver_, state: State_) {
        if let Some(c) = problem.problem.as_ref() {
            c.at.set("a line-search trial point");
        }
        self.problem = Some(problem);
        self.solver = Some(solver);
        self.state = Some(state);
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
    let text = format!("{e:#}");
    Error::numerical("L-BFGS", own_failure(&text).unwrap_or(&text))
}

impl Trainer for Lbfgs<'_> {
    fn name(&self) -> &str {
        "ls-lbfgs"
    }

    fn start(&mut self, net: &Network) -> Result<()> {
        self.evals.store(0, Ordering::Relaxed);
        let mut problem = self.problem_for(net)?;
        let mut solver = self.new_solver()?;
        let state = State_::new().param(net.params());
        let (mut state, _) = solver.init(&mut problem, state).map_err(argmin_err)?;
        state.update();
        self.hold(problem, solver, state);
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
        if let Some(c) = problem.problem.as_ref() {
            c.limit
                .set(self.evals.load(Ordering::Relaxed) + MAX_EVALS_PER_ITERATION);
        }
        // A failed line search leaves the state without iterate and
        // gradient; they are put back so a checkpoint stays complete.
        let backup = (state.get_param().cloned(), state.get_gradient().cloned());
        let (mut state, _) = solver.next_iter(problem, state).map_err(argmin_err)?;
        // argmin reports a failed line search as a solver exit; a
        // non-finite value or an unfinished search is ours, and an error.
        if let Some(TerminationReason::SolverExit(why)) = state.get_termination_reason() {
            match own_failure(why) {
                Some(msg) if msg != NO_DIRECTION => {
                    return Err(Error::numerical("L-BFGS", msg));
                }
                _ => {
                    if state.get_param().is_none()
                        && let (Some(p), Some(g)) = backup
                    {
                        state = state.param(p).gradient(g);
                    }
                }
            }
        }
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
        let evaluations = self.evals.load(Ordering::Relaxed);
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
        self.evals.store(evals, Ordering::Relaxed);
        self.hold(problem, solver, state);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::tests::assert_diverged;
    use crate::driver::{Metrics, NoObserver, Status, StopRules, run};

    /// `a/2 |p|^2` inside the ball `|p| <= radius`, `inf` outside (or
    /// everywhere when `radius` is 0).
    /// Every vector of numbers in a blob, however nested, must have `n`
    /// values; the error names where one does not.
    #[test]
    fn check_vectors_finds_a_short_vector_anywhere() {
        let ok = serde_json::json!({"param": [1.0, 2.0, 3.0], "s": [[0.0, 1.0, null], []], "k": 5});
        assert_eq!(check_vectors(&ok, 3, "state"), Ok(()));
        let bad = [
            (serde_json::json!([1.0, 2.0]), "state has 2 values"),
            (
                serde_json::json!({"a": {"grad": [1.0, 2.0, 3.0, 4.0]}}),
                "state.a.grad has 4",
            ),
            (
                serde_json::json!({"s": [[0.0, 1.0, 2.0], [1.0]]}),
                "state.s[1] has 1",
            ),
        ];
        for (v, want) in bad {
            let e = check_vectors(&v, 3, "state").unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
    }

    struct Walled {
        a: f64,
        radius: f64,
    }

    impl Objective for Walled {
        fn value(&mut self, net: &Network) -> f64 {
            let p = net.params();
            let r2: f64 = p.iter().map(|v| v * v).sum();
            if r2 > self.radius * self.radius {
                f64::INFINITY
            } else {
                0.5 * self.a * r2
            }
        }
        fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
            for (g, v) in grad.iter_mut().zip(net.params()) {
                *g = self.a * v;
            }
            self.value(net)
        }
    }

    /// `5 |p|^2`, the objective without its wall.
    struct Bowl;
    impl Metrics for Bowl {
        fn names(&self) -> Vec<String> {
            vec!["bowl".into()]
        }
        fn eval(&self, net: &Network) -> Vec<f64> {
            vec![5.0 * net.params().iter().map(|v| v * v).sum::<f64>()]
        }
    }

    fn run_walled(radius_factor: f64) -> (crate::driver::RunResult, std::time::Duration) {
        let mut net = crate::net::NetworkSpec::new(vec![1, 4, 1])
            .build(2)
            .unwrap();
        let r0 = net.params().iter().map(|v| v * v).sum::<f64>().sqrt();
        let obj = Walled {
            a: 10.0,
            radius: radius_factor * r0,
        };
        let mut t = Lbfgs::new(Box::new(obj), LbfgsConfig::default());
        let t0 = std::time::Instant::now();
        let res = run(
            &mut t,
            &mut net,
            &Bowl,
            &StopRules {
                max_iterations: 50,
                ..Default::default()
            },
            1,
            &mut NoObserver,
        )
        .unwrap();
        (res, t0.elapsed())
    }

    /// The bowl `a/2 |p|^2` that counts its evaluations.
    struct Counted {
        calls: Arc<AtomicUsize>,
    }

    impl Objective for Counted {
        fn value(&mut self, net: &Network) -> f64 {
            self.calls.fetch_add(1, Ordering::Relaxed);
            5.0 * net.params().iter().map(|v| v * v).sum::<f64>()
        }
        fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
            self.calls.fetch_add(1, Ordering::Relaxed);
            for (g, v) in grad.iter_mut().zip(net.params()) {
                *g = 10.0 * v;
            }
            5.0 * net.params().iter().map(|v| v * v).sum::<f64>()
        }
    }

    /// The reported evaluation count is the number of objective calls
    /// (the count also enforces the per-iteration budget).
    #[test]
    fn evaluations_count_every_objective_call() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut net = crate::net::NetworkSpec::new(vec![1, 4, 1])
            .build(2)
            .unwrap();
        let obj = Counted {
            calls: Arc::clone(&calls),
        };
        let mut t = Lbfgs::new(Box::new(obj), LbfgsConfig::default());
        run(
            &mut t,
            &mut net,
            &Bowl,
            &StopRules {
                max_iterations: 4,
                ..Default::default()
            },
            1,
            &mut NoObserver,
        )
        .unwrap();
        let n = calls.load(Ordering::Relaxed);
        assert!(n >= 5, "{n} calls");
        assert_eq!(t.stats().evaluations, n);
    }

    /// An infinite objective at the start used to make argmin's line search
    /// spin for ever; now the run ends at once as diverged at iteration 0.
    #[test]
    fn an_infinite_initial_objective_ends_the_run_at_once() {
        let (res, took) = run_walled(0.0);
        assert_diverged(&res, &["is inf at the initial weights", "iteration 0"]);
        assert_eq!(res.iterations, 0);
        assert!(took.as_secs_f64() < 1.0, "took {took:?}");
    }

    /// A line-search trial point beyond the wall (the first step jumps to
    /// `-9 p`) is an error naming the trial point, not an endless search.
    #[test]
    fn an_infinite_trial_point_ends_the_run_with_the_last_model() {
        let (res, took) = run_walled(1.5);
        assert_diverged(
            &res,
            &["a line-search trial point", "kept the model of iteration 0"],
        );
        assert!(took.as_secs_f64() < 1.0, "took {took:?}");
        // Without the wall, the same problem converges normally.
        let (res, _) = run_walled(1e6);
        assert_ne!(res.status, Status::Diverged, "{}", res.message);
    }
}
