//! The training loop: stopping rules, divergence guard, history and observers.

mod best;
mod stop;

pub use best::{RISE_FACTOR, RISE_FLOOR};
pub use stop::{Clock, Status, StopRules};

use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Error, Result};
use crate::net::Network;
use crate::optim::Trainer;
use crate::record::{Record, TrainerStats};
use best::Best;

/// Quantities recorded in the history besides the objective (e.g. train and
/// test MSE, or PINN relative L2 error).
pub trait Metrics {
    /// Column names.
    fn names(&self) -> Vec<String>;
    /// Values for `net`, in `names` order.
    fn eval(&self, net: &Network) -> Vec<f64>;
}

/// Callbacks from the loop (progress bars, logging, Ctrl-C).
pub trait Observer {
    /// Called once before the first iteration.
    fn on_start(&mut self, _metric_names: &[String], _rules: &StopRules) {}
    /// Called after every iteration.
    fn on_iteration(&mut self, _iteration: usize, _objective: f64) {}
    /// Called after every iteration with the trainer's own numbers
    /// ([`Trainer::progress`], e.g. LM's damping and step norm).
    fn on_progress(&mut self, _items: &[(&'static str, f64)]) {}
    /// Called for every recorded row.
    fn on_record(&mut self, _record: &Record) {}
    /// Return true to stop with [`Status::Interrupted`].
    fn should_stop(&mut self) -> bool {
        false
    }
    /// Called once when the loop has ended (the final history row is
    /// recorded); what the caller does next (final evaluation, writing) is
    /// no longer training.
    fn on_finish(&mut self, _status: Status) {}
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;
impl Observer for NoObserver {}

/// What a run produced. The network passed to [`run`] holds the final model
/// (the last finite one if training diverged).
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Why it stopped.
    pub status: Status,
    /// Human-readable reason, naming the iteration and quantity on divergence.
    pub message: String,
    /// Iterations completed (of the returned model).
    pub iterations: usize,
    /// Training seconds.
    pub seconds: f64,
    /// Metric names of `history[i].values`.
    pub metric_names: Vec<String>,
    /// Recorded rows (iteration 0, every `record_every`, and the last).
    pub history: Vec<Record>,
    /// Last objective.
    pub objective: f64,
    /// Last auxiliary loss (PM/SAPM).
    pub aux_loss: Option<f64>,
    /// Trainer counters.
    pub stats: TrainerStats,
}

/// Writes checkpoints for [`run_with`]. The driver fills a [`StateWriter`]
/// with its own state (under `driver.`) and the trainer's (under
/// `trainer.`); the checkpointer adds the run's context (config, data
/// fingerprint) and stores it.
pub trait Checkpointer {
    /// Is a checkpoint due after `iteration` iterations? (Interrupts always
    /// write one.)
    fn due(&self, iteration: usize) -> bool;
    /// Store one checkpoint, taken after `iteration` iterations.
    fn save(&mut self, state: StateWriter<'_>, iteration: usize) -> Result<()>;
}

/// Optional parts of a run: checkpoints and resuming.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Where checkpoints go (none: never written).
    pub checkpoint: Option<&'a mut dyn Checkpointer>,
    /// Continue from this checkpoint instead of starting afresh; `net` must
    /// have the checkpoint's architecture (its weights are replaced).
    pub resume: Option<&'a mut StateReader>,
}

/// Run `trainer` on `net` until a rule in `rules` fires.
///
/// Records iteration 0, every `record_every` iterations and the final one.
/// On divergence `net` is reset to the last iterate whose objective and
/// weights were finite.
pub fn run(
    trainer: &mut dyn Trainer,
    net: &mut Network,
    metrics: &dyn Metrics,
    rules: &StopRules,
    record_every: usize,
    observer: &mut dyn Observer,
) -> Result<RunResult> {
    run_with(
        trainer,
        net,
        metrics,
        rules,
        record_every,
        observer,
        RunOptions::default(),
    )
}

/// The loop's state between iterations: what a checkpoint holds besides
/// the trainer's own state.
struct Loop {
    it: usize,
    seconds: f64,
    history: Vec<Record>,
    /// The iterate before the current one, for objectives that lag one step.
    before_last: Network,
    last_objective: f64,
    last_aux: Option<f64>,
    /// Objective that `divergence_factor` is relative to.
    reference: f64,
    /// The phase's best iterate (see [`best`]).
    best: Best,
}

impl Loop {
    /// End with the phase's best model: its iteration count and objective
    /// (for PM/SAPM the objective is the auxiliary loss).
    fn keep_best(&mut self, net: &mut Network) {
        net.clone_from(&self.best.net);
        self.it = self.best.iteration;
        self.last_objective = self.best.objective;
        self.last_aux = self.last_aux.map(|_| self.best.objective);
    }

    fn save(&self, trainer: &dyn Trainer, net: &Network, ck: &mut dyn Checkpointer) -> Result<()> {
        let mut w = StateWriter::new();
        w.scope("driver", |w| {
            w.int("iteration", self.it as u64);
            w.f64("seconds", self.seconds);
            w.f64("last_objective", self.last_objective);
            w.f64("reference", self.reference);
            w.flag("has_aux", self.last_aux.is_some());
            w.f64("last_aux", self.last_aux.unwrap_or(0.0));
            w.f64s_owned("net", net.params());
            w.f64s_owned("before_last", self.before_last.params());
            w.records("history", &self.history);
            self.best.save(w);
        });
        w.scope("trainer", |w| trainer.save_state(w))?;
        ck.save(w, self.it)
    }

    fn load(
        r: &mut StateReader,
        trainer: &mut dyn Trainer,
        net: &mut Network,
        width: usize,
        rules: &StopRules,
    ) -> Result<Loop> {
        let (it, seconds, last_objective, reference, has_aux, aux, history) =
            r.scope("driver", |r| -> Result<_> {
                let mut p = vec![0.0; net.num_params()];
                r.finite_f64s_into("net", &mut p)?;
                net.set_params(&p);
                Ok((
                    r.usize_at_most("iteration", rules.max_iterations)?,
                    r.f64("seconds")?,
                    r.f64("last_objective")?,
                    r.f64("reference")?,
                    r.flag("has_aux")?,
                    r.f64("last_aux")?,
                    r.records("history", width)?,
                ))
            })?;
        let mut before_last = net.clone();
        let mut p = vec![0.0; net.num_params()];
        r.scope("driver", |r| r.finite_f64s_into("before_last", &mut p))?;
        before_last.set_params(&p);
        let best = r.scope("driver", |r| Best::load(r, net, it))?;
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(r.err(format!(
                "entry `driver.seconds`: {seconds} is not a finite, non-negative time"
            )));
        }
        if history.last().is_none_or(|h| h.iteration > it) {
            return Err(r.err(format!(
                "entry `driver.history`: the history must be non-empty and end at or before iteration {it}"
            )));
        }
        r.scope("trainer", |r| trainer.load_state(r, net))?;
        Ok(Loop {
            it,
            seconds,
            history,
            before_last,
            last_objective,
            last_aux: has_aux.then_some(aux),
            reference,
            best,
        })
    }
}

/// [`run`] with checkpoints and resuming (see [`RunOptions`]).
///
/// A run resumed from a checkpoint taken after iteration `k` continues
/// exactly as the uninterrupted run did after iteration `k`: the same
/// weights, objectives and history (except `seconds`), bit for bit, as long
/// as `max_seconds` did not stop either run.
pub fn run_with(
    trainer: &mut dyn Trainer,
    net: &mut Network,
    metrics: &dyn Metrics,
    rules: &StopRules,
    record_every: usize,
    observer: &mut dyn Observer,
    opts: RunOptions<'_>,
) -> Result<RunResult> {
    let RunOptions {
        mut checkpoint,
        resume,
    } = opts;
    let mut names = metrics.names();
    // The task's metrics come first; the trainer's probes (diagnostics such
    // as the derivative gap, NaN while a phase without them runs) follow.
    let n_metrics = names.len();
    names.extend(trainer.probe_names());
    observer.on_start(&names, rules);
    let record_every = record_every.max(1);
    let clock = rules.clock;
    let eval_record = |trainer: &mut dyn Trainer,
                       it: usize,
                       secs: f64,
                       obj: f64,
                       aux: Option<f64>,
                       net: &Network| {
        let mut values = metrics.eval(net);
        values.extend(trainer.probes(net));
        Record {
            iteration: it,
            seconds: secs,
            objective: obj,
            aux_loss: aux,
            values,
        }
    };

    // A numerical failure while starting (an infinite initial objective)
    // ends the run at iteration 0 with the initial model.
    let mut start_failure = None;
    let mut lp = match resume {
        Some(r) => Loop::load(r, trainer, net, names.len(), rules)?,
        None => {
            let t0 = clock.now();
            match trainer.start(net) {
                Ok(()) => {}
                Err(Error::Numerical { what, reason }) => {
                    start_failure = Some(format!(
                        "diverged: {what}: {reason} at iteration 0; kept the initial model"
                    ));
                }
                Err(e) => return Err(e),
            }
            let seconds = clock.now() - t0;
            let initial = metrics_objective_guess(trainer, net, metrics);
            let aux = trainer.aux_loss();
            let rec = eval_record(trainer, 0, seconds, initial, aux, net);
            observer.on_record(&rec);
            Loop {
                it: 0,
                seconds,
                history: vec![rec],
                before_last: net.clone(),
                last_objective: initial,
                last_aux: trainer.aux_loss(),
                reference: initial,
                best: Best::new(net, initial),
            }
        }
    };
    let mut last_good = net.clone();
    let mut status = Status::MaxIterations;
    let mut message = String::new();
    if let Some(m) = start_failure {
        status = Status::Diverged;
        message = m;
    }
    while status != Status::Diverged && lp.it < rules.max_iterations {
        let it = lp.it;
        if observer.should_stop() {
            status = Status::Interrupted;
            message = format!("interrupted after iteration {it}");
            // Before the final history row below, which the uninterrupted run lacks.
            if let Some(ck) = checkpoint.as_deref_mut() {
                lp.save(trainer, net, ck)?;
                message.push_str("; checkpoint written");
            }
            break;
        }
        let t = clock.now();
        let out = trainer.step(net);
        lp.seconds += clock.now() - t;
        let out = match out {
            Ok(o) => o,
            Err(Error::Numerical { what, reason }) => {
                *net = last_good.clone();
                status = Status::Diverged;
                message = format!(
                    "diverged: {what}: {reason} at iteration {}; kept the model of iteration {it}",
                    it + 1
                );
                break;
            }
            Err(e) => return Err(e),
        };
        if (out.new_phase || !lp.reference.is_finite()) && out.objective.is_finite() {
            lp.reference = out.objective;
        }
        if out.new_phase {
            lp.best.reset();
        }
        let bad = if !out.objective.is_finite() {
            Some(format!("objective became {}", out.objective))
        } else if let Some(what) = non_finite_weights(net) {
            Some(what)
        } else if let Some(what) = trainer.non_finite_state() {
            Some(what)
        } else if out.objective > rules.divergence_factor * lp.reference.abs().max(1e-300) {
            Some(format!(
                "objective {:.3e} exceeds {:.0e} x its initial value {:.3e}",
                out.objective, rules.divergence_factor, lp.reference
            ))
        } else {
            None
        };
        if let Some(why) = bad {
            let (model, kept) = if out.lagged && it > 0 {
                (&lp.before_last, it - 1)
            } else {
                (&last_good, it)
            };
            *net = model.clone();
            status = Status::Diverged;
            message = format!(
                "diverged: {why} at iteration {}; kept the model of iteration {kept}",
                it + 1
            );
            lp.it = kept;
            break;
        }
        // The objective belongs to the model before this step when it lags.
        let (model, done) = if out.lagged {
            (&last_good, it)
        } else {
            (&*net, it + 1)
        };
        lp.best.observe(out.objective, model, done);
        lp.it += 1;
        let it = lp.it;
        std::mem::swap(&mut lp.before_last, &mut last_good);
        last_good.clone_from(net);
        let prev = lp.last_objective;
        lp.last_objective = out.objective;
        lp.last_aux = trainer.aux_loss();
        observer.on_iteration(it, out.objective);
        observer.on_progress(&trainer.progress());
        if it.is_multiple_of(record_every) {
            let rec = eval_record(trainer, it, lp.seconds, out.objective, lp.last_aux, net);
            observer.on_record(&rec);
            lp.history.push(rec);
        }
        if it < rules.max_iterations
            && let Some(ck) = checkpoint.as_deref_mut()
            && ck.due(it)
        {
            lp.save(trainer, net, ck)?;
        }
        if out.converged {
            status = Status::Converged;
            message = format!("{} reported convergence at iteration {it}", trainer.name());
            break;
        }
        if rules.target_loss > 0.0 && out.objective <= rules.target_loss {
            status = Status::Converged;
            message = format!(
                "objective {:.3e} <= target_loss {:.3e} at iteration {it}",
                out.objective, rules.target_loss
            );
            break;
        }
        if rules.rel_tol > 0.0
            && (prev - out.objective).abs() <= rules.rel_tol * out.objective.abs()
        {
            status = Status::Converged;
            message = format!(
                "relative change below rel_tol {:.1e} at iteration {it}",
                rules.rel_tol
            );
            break;
        }
        if rules.max_seconds > 0.0 && lp.seconds >= rules.max_seconds {
            status = Status::TimeLimit;
            message = format!(
                "time limit {} s reached at iteration {it}",
                rules.max_seconds
            );
            break;
        }
    }
    if status == Status::MaxIterations {
        message = format!("reached max_iterations = {}", rules.max_iterations);
    }
    // A mini-batch objective's last and best values are of different
    // batches: comparing them says nothing about the run.
    if !matches!(status, Status::Diverged | Status::Interrupted)
        && !trainer.stochastic()
        && let Some(why) = lp.best.ended_badly(lp.last_objective)
    {
        status = Status::Diverged;
        message = format!(
            "diverged: {why} after {} iterations; kept the best model, of iteration {}",
            lp.it, lp.best.iteration
        );
        lp.keep_best(net);
    }
    let Loop {
        it,
        seconds,
        mut history,
        last_objective,
        last_aux,
        ..
    } = lp;
    // The last row is the returned model's, even when divergence kept an
    // older one (its row then follows rows of later iterations).
    if history.last().is_none_or(|r| r.iteration != it) {
        let rec = eval_record(trainer, it, seconds, last_objective, last_aux, net);
        observer.on_record(&rec);
        history.push(rec);
    }
    // Divergence may also show only in the recorded metrics (not in the
    // probes: a warm start's first phase has no derivative gap).
    if status != Status::Diverged
        && let Some(r) = history.last()
        && let Some(k) = r.values[..n_metrics.min(r.values.len())]
            .iter()
            .position(|v| !v.is_finite())
    {
        status = Status::Diverged;
        message = format!(
            "diverged: metric {} is {} at iteration {it}",
            names.get(k).map_or("?", String::as_str),
            r.values[k]
        );
    }
    observer.on_finish(status);
    Ok(RunResult {
        status,
        message,
        iterations: it,
        seconds,
        metric_names: names,
        history,
        objective: last_objective,
        aux_loss: last_aux,
        stats: trainer.stats(),
    })
}

/// The first non-finite layer of `net`, named: `weight W_3 (layer 3) is NaN`.
fn non_finite_weights(net: &Network) -> Option<String> {
    if net.is_finite() {
        return None;
    }
    (0..net.depth()).find_map(|l| {
        let m = net.layer(l);
        let k = m.ncols();
        (0..k).find_map(|j| {
            (0..m.nrows()).find_map(|i| {
                let v = m[(i, j)];
                (!v.is_finite()).then(|| {
                    let what = if j + 1 == k { "bias b" } else { "weight W" };
                    format!("{what}_{} (layer {}) became {v}", l + 1, l + 1)
                })
            })
        })
    })
}

/// The objective before the first step: the auxiliary loss when the method has
/// one, else the first metric (the train loss).
fn metrics_objective_guess(trainer: &dyn Trainer, net: &Network, metrics: &dyn Metrics) -> f64 {
    trainer
        .aux_loss()
        .unwrap_or_else(|| metrics.eval(net).first().copied().unwrap_or(f64::NAN))
}

#[cfg(test)]
pub(crate) mod tests;
