//! From a checked config to a fitted model, history and summary: the one
//! pipeline every run goes through (the `sapm` command is a thin layer over
//! it).
//!
//! `Checked` config -> [`Task`](crate::task::Task) (a regression split, or a
//! PDE problem with its points) -> a schedule of stages (one for a plain run;
//! curriculum stages; time windows) -> per stage the trainer from the one
//! factory ([`build::build_trainer`]) and the driver -> one summary writer
//! ([`summary`]) -> [`Fitted`].

pub mod build;
mod checkpoint_file;
pub mod distributed;
#[cfg(test)]
pub(crate) mod distributed_harness;
#[cfg(test)]
mod distributed_minibatch_tests;
mod distributed_pde;
pub mod march;
mod rank_checkpoints;
#[cfg(test)]
mod recut_tests;
mod schedule;
pub mod summary;
mod train_figures;

pub use checkpoint_file::{CheckpointFile, checkpoint_config};
pub use distributed::{fit_distributed, fit_distributed_checkpointed, fit_shard_checkpointed};
pub use rank_checkpoints::{open_rank_checkpoints, rank_file_name};
pub use summary::{Diagnostics, Summary, WindowSummary, aux_diagnostics, diagnostics};

use crate::checkpoint::StateReader;
use crate::config::Checked;
use crate::data::{Dataset, Split};
use crate::driver::{NoObserver, Observer};
use crate::error::{Error, Result};
use crate::linalg::{LocalReducer, Reducer};
use crate::model::Model;
use crate::record::Record;
use crate::scale::Scaling;
use crate::task::Task;
use crate::task::pde::{PdeConfig, PdeTask};
use march::{MarchOptions, march_checkpointed};
use schedule::{Plan, StageOut, joined_history, run_stages};
use summary::summarize;

/// The result of [`fit`].
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The trained model (the last finite iterate if training diverged).
    pub model: Model,
    /// Summary numbers.
    pub summary: Summary,
    /// Metric names of the history values (`train_mse`, `test_mse`).
    pub metric_names: Vec<String>,
    /// Recorded history.
    pub history: Vec<Record>,
    /// Time-marching PDE runs: the fit of every time window, in time order
    /// (empty otherwise). `model` is then the last window's network.
    pub windows: Vec<Fitted>,
}

/// Train as `cfg` says on `data` (see [`fit_with`]).
pub fn fit(cfg: &Checked, data: &Split) -> Result<Fitted> {
    fit_with(cfg, data, &mut NoObserver)
}

/// Train with an observer for progress and interruption. A config with a
/// `[pde]` section trains a PINN on its points and ignores `data`.
///
/// Deterministic: the same config, seed and data give bit-identical weights,
/// losses and history (except `seconds`) for any thread count, unless
/// `train.max_seconds` stops the run.
pub fn fit_with(cfg: &Checked, data: &Split, observer: &mut dyn Observer) -> Result<Fitted> {
    fit_checkpointed(cfg, Some(data), observer, None, None)
}

/// Train a PINN as `cfg` (with a `[pde]` section) says.
///
/// ```
/// use sapm::{fit::fit_pde, driver::NoObserver, TrainConfig};
/// let cfg = TrainConfig::from_toml_str(
///     "method = \"ls-adam-lbfgs\"\n[network]\ndepth = 3\nwidth = 10\n[pde]\nproblem = \"steady1d\"\nn_interior = 64",
///     &["train.max_iterations=300".into(), "adam_lbfgs.adam_steps=100".into()], None)?;
/// let f = fit_pde(&cfg, &mut NoObserver)?;
/// assert!(f.summary.rel_l2.unwrap() < 0.05);
/// assert!(f.summary.pde_loss.is_some());
/// # Ok::<(), sapm::Error>(())
/// ```
pub fn fit_pde(cfg: &Checked, observer: &mut dyn Observer) -> Result<Fitted> {
    if cfg.pde.is_none() {
        return Err(Error::config("pde", "missing [pde] section"));
    }
    fit_checkpointed(cfg, None, observer, None, None)
}

/// [`fit_with`] writing checkpoints to `checkpoint` (every
/// `train.checkpoint_every` iterations and when the observer stops the run)
/// and, with `resume`, continuing from a checkpoint of the same config and
/// data, bit for bit, in any stage of a curriculum or time-marching run.
/// `data` is the regression split (`None`: loaded from `[data]`); PINN runs
/// take their points from `[pde]`.
pub fn fit_checkpointed(
    cfg: &Checked,
    data: Option<&Split>,
    observer: &mut dyn Observer,
    checkpoint: Option<&mut CheckpointFile>,
    resume: Option<&mut StateReader>,
) -> Result<Fitted> {
    // faer's own threading would make results depend on the thread count; we
    // parallelise over sample blocks instead.
    faer::set_global_parallelism(faer::Par::Seq);
    let Some(pde) = &cfg.pde else {
        let loaded;
        let split = match data {
            Some(d) => d,
            None => {
                loaded = cfg.data.load(cfg.seed)?;
                &loaded
            }
        };
        check_split(split)?;
        // The network trains on scaled data; the model carries the scaling
        // and the metrics are in the data's units.
        let scaling = Scaling::fit(
            cfg.data.scale_kind(),
            split.train.x.as_ref(),
            split.train.y.as_ref(),
        );
        let scaled = scaling
            .as_ref()
            .map(|s| scale_split(s, split))
            .transpose()?;
        let net_split = scaled.as_ref().unwrap_or(split);
        let build =
            |_: usize, _: &[StageOut<'_>]| Ok(Task::Regression(net_split, scaling.as_ref()));
        let plan = Plan {
            stages: 1,
            carry: true,
            task: &build,
            raw: None,
            reducer: crate::linalg::local_reducer(),
        };
        let stages = run_stages(cfg, &plan, observer, checkpoint, resume)?;
        let mut fitted = join(cfg, stages, &LocalReducer)?;
        fitted.model = fitted.model.with_scaling(scaling)?;
        return Ok(fitted);
    };
    if pde.time_windows > 1 {
        let problem = pde.problem()?;
        let marched = march_checkpointed(
            &problem,
            cfg,
            MarchOptions::from_pde(pde),
            observer,
            checkpoint,
            resume,
        )?;
        return marched.into_fitted(cfg);
    }
    let stages = pde_stages(pde);
    // Refinement rounds follow as stages built from the previous stage.
    let base = stages.len();
    let rounds = pde.refine.map_or(0, |r| r.rounds);
    let build = |k: usize, done: &[StageOut<'static>]| -> Result<Task<'static>> {
        if let (Some(r), true) = (&pde.refine, k >= base) {
            let prev = &done[k - 1];
            let Task::Pde(t) = &prev.task else {
                return Err(Error::config("pde.refine", "refinement needs a PDE task"));
            };
            let next = crate::task::pde::refine::refined(t, &prev.net, r, k + 1 - base, cfg.seed)?;
            return Ok(Task::Pde(Box::new(next)));
        }
        let p = stages[k].problem()?;
        Ok(Task::Pde(Box::new(PdeTask::new(
            p,
            stages[k].clone(),
            cfg.seed,
        )?)))
    };
    let plan = Plan {
        stages: base + rounds,
        carry: true,
        task: &build,
        raw: None,
        reducer: crate::linalg::local_reducer(),
    };
    let done = run_stages(cfg, &plan, observer, checkpoint, resume)?;
    join(cfg, done, &LocalReducer)
}

/// The problems a PINN run trains on, in turn, on one network: the
/// curriculum stages (if any), then the target problem.
fn pde_stages(pde: &PdeConfig) -> Vec<PdeConfig> {
    pde.curriculum
        .iter()
        .map(|&b| PdeConfig {
            beta: b,
            ..pde.clone()
        })
        .chain(std::iter::once(pde.clone()))
        .collect()
}

/// One [`Fitted`] from the stages of a carried schedule: the last stage's
/// model and summary, with the history, iterations, seconds and counters of
/// all stages.
/// `reducer` joins a regression summary's training figures over the
/// processes (see [`summary::summarize`]).
fn join(cfg: &Checked, stages: Vec<StageOut<'_>>, reducer: &dyn Reducer) -> Result<Fitted> {
    let (history, iterations, seconds, stats) = joined_history(&stages);
    let last = stages
        .into_iter()
        .last()
        .ok_or_else(|| Error::config("pde", "no stage to run"))?;
    let mut res = last.res;
    res.history = history;
    res.iterations = iterations;
    res.seconds = seconds;
    res.stats = stats;
    let summary = summarize(cfg, &last.task, &last.net, &res, reducer)?;
    let (names, outs) = last.task.names();
    let scaling = last.task.model_scaling();
    Ok(Fitted {
        model: Model::new(last.net, names, outs)?.with_scaling(scaling)?,
        summary,
        metric_names: res.metric_names,
        history: res.history,
        windows: Vec::new(),
    })
}

/// `split` in the network's units: both sets mapped by the training set's
/// scaling (an error if a test value lies so far out that it overflows).
pub(super) fn scale_split(s: &Scaling, split: &Split) -> Result<Split> {
    let map = |d: &Dataset, what: &str| {
        Dataset::new(
            s.inputs.apply(d.x.as_ref()),
            s.outputs.apply(d.y.as_ref()),
            d.input_names.clone(),
            d.output_names.clone(),
        )
        .map_err(|e| Error::Data(format!("{what} set after `data.scale`: {e}")))
    };
    Ok(Split {
        train: map(&split.train, "training")?,
        test: map(&split.test, "test")?,
    })
}

fn check_split(data: &Split) -> Result<()> {
    let (d, m) = (data.train.input_dim(), data.train.output_dim());
    if data.test.input_dim() != d || data.test.output_dim() != m {
        return Err(Error::shape(
            "test set",
            format!("{d} inputs and {m} outputs"),
            format!("{} and {}", data.test.input_dim(), data.test.output_dim()),
        ));
    }
    Ok(())
}
