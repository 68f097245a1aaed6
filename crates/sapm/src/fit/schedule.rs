//! The schedule of a run: one or more stages, each a task trained by the
//! driver. A plain run is one stage; a curriculum trains one network on a
//! sequence of problems; time marching trains one network per time window,
//! each window's task built from the previous window's network. Every stage
//! is checkpointed (the checkpoint carries the stage index and what the
//! finished stages produced) and resumes bit for bit.

use super::build::build_trainer_on;
use super::checkpoint_file::{CheckpointFile, StageRecord, read_schedule};
use crate::checkpoint::StateReader;
use crate::config::Checked;
use crate::data::Split;
use crate::driver::{Checkpointer, Observer, RunOptions, RunResult, Status, run_with};
use crate::error::Result;
use crate::linalg::SharedReducer;
use crate::net::Network;
use crate::task::Task;

/// A finished stage: its task, its final network and its run.
pub(crate) struct StageOut<'d> {
    pub task: Task<'d>,
    pub net: Network,
    pub res: RunResult,
}

/// How the stages of a schedule are made.
pub(crate) struct Plan<'p, 'd> {
    /// Number of stages.
    pub stages: usize,
    /// One network through all stages (curriculum) rather than a fresh
    /// network per stage (time windows).
    pub carry: bool,
    /// The task of stage `k` given the finished stages.
    pub task: &'p dyn Fn(usize, &[StageOut<'d>]) -> Result<Task<'d>>,
    /// The unscaled training rows of a regression task whose scaling is
    /// fitted from sums over processes (its scaled rows differ by round-off
    /// between numbers of processes): what the rows fingerprint is of.
    pub raw: Option<&'p Split>,
    /// Sums over the processes of the run (each task holding its shard).
    pub reducer: SharedReducer,
}

/// Run the stages of `plan` (from the checkpoint's stage with `resume`);
/// stops after a stage that was interrupted.
pub(crate) fn run_stages<'d>(
    cfg: &Checked,
    plan: &Plan<'_, 'd>,
    observer: &mut dyn Observer,
    mut checkpoint: Option<&mut CheckpointFile>,
    mut resume: Option<&mut StateReader>,
) -> Result<Vec<StageOut<'d>>> {
    let (start, records) = match resume.as_deref_mut() {
        Some(r) => read_schedule(r, plan.stages)?,
        None => (0, Vec::new()),
    };
    let mut done: Vec<StageOut<'d>> = Vec::with_capacity(plan.stages);
    // Finished stages come back from the checkpoint: their tasks are rebuilt
    // (deterministic from the seed and the earlier stages' networks).
    for (k, rec) in records.iter().enumerate() {
        let task = (plan.task)(k, &done)?;
        let net = fresh_net(cfg, &task)?;
        let mut net = net;
        if rec.params.len() != net.num_params() {
            let r = resume.as_deref().expect("records come from a checkpoint");
            return Err(r.err(format!(
                "entry `schedule.stage{k}.net` has {} values, this network has {}",
                rec.params.len(),
                net.num_params()
            )));
        }
        net.set_params(&rec.params);
        done.push(StageOut {
            task,
            net,
            res: rec.res.clone(),
        });
    }
    if let Some(c) = checkpoint.as_deref_mut() {
        c.done = records;
    }
    for k in start..plan.stages {
        let task = (plan.task)(k, &done)?;
        let mut net = match done.last() {
            Some(prev) if plan.carry => prev.net.clone(),
            _ => fresh_net(cfg, &task)?,
        };
        let mut trainer = build_trainer_on(cfg, &task, &net, &plan.reducer)?;
        let metrics = task.metrics_on(Some(&plan.reducer));
        let fp = task.fingerprint();
        let here = if k == start { resume.take() } else { None };
        // Over every process's rows (two collectives), when checkpointing
        // or resuming (alike on every process).
        let rows = match (checkpoint.is_some(), here.is_some()) {
            (false, false) => 0,
            _ => match plan.raw {
                Some(raw) => Task::Regression(raw, None).rows_fingerprint(plan.reducer.as_ref())?,
                None => task.rows_fingerprint(plan.reducer.as_ref())?,
            },
        };
        if let Some(r) = here.as_deref() {
            check_data(r, fp, rows, task.data_name())?;
        }
        if let Some(c) = checkpoint.as_deref_mut() {
            c.data = fp;
            c.rows = rows;
            c.stage = k;
        }
        let res = run_with(
            trainer.as_mut(),
            &mut net,
            metrics.as_ref(),
            &cfg.train.rules(),
            cfg.train.record_every,
            observer,
            RunOptions {
                checkpoint: checkpoint
                    .as_deref_mut()
                    .map(|c| c as &mut dyn Checkpointer),
                resume: here,
            },
        )?;
        drop(trainer);
        drop(metrics);
        let stop = res.status == Status::Interrupted;
        if let Some(c) = checkpoint.as_deref_mut() {
            c.done.push(StageRecord {
                params: net.params(),
                res: res.clone(),
            });
        }
        done.push(StageOut { task, net, res });
        if stop {
            break;
        }
    }
    Ok(done)
}

/// The checkpoint `r` was written on this process's data (fingerprint
/// `fp`); resumed on another number of processes, on the rows of all
/// processes (fingerprint `rows`: each file's own is of its shard).
fn check_data(r: &StateReader, fp: u64, rows: u64, what: &str) -> Result<()> {
    let (key, saved, have) = match r.data_fingerprint()? {
        Some(saved) => ("data_fingerprint", saved, fp),
        None if !r.has_meta("run.rows_fingerprint") => {
            return Err(r.err(format!(
                "field `meta.run.rows_fingerprint` is missing (written by an earlier sapm): resume it on the {} processes that wrote it",
                r.written_by().unwrap_or(1)
            )));
        }
        None => ("rows_fingerprint", r.int("run.rows_fingerprint")?, rows),
    };
    if saved != have {
        return Err(r.err(format!(
            "field `meta.run.{key}`: the checkpoint was written for other {what} ({saved:016x}, this run has {have:016x})"
        )));
    }
    Ok(())
}

/// The initial network of a stage (from the run seed).
fn fresh_net(cfg: &Checked, task: &Task<'_>) -> Result<Network> {
    let (d, m) = task.dims();
    cfg.network.spec(d, m).build(cfg.seed)
}

/// The history of consecutive stages as one: iterations and seconds of each
/// stage continue from the previous stages' totals.
pub(crate) fn joined_history(
    stages: &[StageOut<'_>],
) -> (
    Vec<crate::record::Record>,
    usize,
    f64,
    crate::record::TrainerStats,
) {
    let mut history = Vec::new();
    let (mut iters, mut secs) = (0, 0.0);
    let mut stats = crate::record::TrainerStats::default();
    for s in stages {
        for r in &s.res.history {
            let mut r = r.clone();
            r.iteration += iters;
            r.seconds += secs;
            history.push(r);
        }
        iters += s.res.iterations;
        secs += s.res.seconds;
        stats.add(&s.res.stats);
    }
    (history, iters, secs, stats)
}
