//! A run's checkpoint file: the driver's and trainer's state plus the run's
//! context (config, data fingerprint, the stage of a multi-stage schedule and
//! what the finished stages produced).

use crate::checkpoint::{StateReader, StateWriter};
use crate::config::{Checked, TrainConfig};
use crate::driver::{Checkpointer, RunResult, Status};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What a finished stage of a schedule left behind, as a checkpoint keeps it:
/// enough to rebuild its outputs and the next stage's inputs bit for bit.
#[derive(Debug, Clone)]
pub(crate) struct StageRecord {
    /// The stage's final weights.
    pub params: Vec<f64>,
    /// Its run result (history, counts, status).
    pub res: RunResult,
}

/// Writes a run's checkpoints to one file (atomically), adding the run's
/// context: its config as TOML, a fingerprint of its data and, for
/// curriculum and time-marching runs, the stage and the finished stages.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    /// The checkpoint file (usually `OUT/checkpoint.sapm`).
    pub path: PathBuf,
    /// `train.checkpoint_every`.
    pub every: usize,
    /// `train.checkpoint_seconds`.
    pub min_seconds: f64,
    last: std::time::Instant,
    /// Checkpoints written so far.
    pub writes: usize,
    /// Size of the last one in bytes.
    pub bytes: u64,
    /// Wall seconds spent writing them.
    pub seconds: f64,
    config: String,
    /// Fingerprint of the current stage's data (or PINN points), set by the fit.
    pub(crate) data: u64,
    /// [`crate::task::Task::rows_fingerprint`] of the current stage: the
    /// same in every process's file, for any number of processes.
    pub(crate) rows: u64,
    /// The current stage of the schedule.
    pub(crate) stage: usize,
    /// The finished stages.
    pub(crate) done: Vec<StageRecord>,
}

impl CheckpointFile {
    /// Checkpoints of a run with config `cfg` into `path`.
    pub fn new(path: &Path, cfg: &TrainConfig) -> Self {
        CheckpointFile {
            path: path.to_path_buf(),
            every: cfg.train.checkpoint_every,
            min_seconds: cfg.train.checkpoint_seconds,
            last: std::time::Instant::now(),
            writes: 0,
            bytes: 0,
            seconds: 0.0,
            config: cfg.to_toml(),
            data: 0,
            rows: 0,
            stage: 0,
            done: Vec::new(),
        }
    }
}

impl Checkpointer for CheckpointFile {
    fn due(&self, iteration: usize) -> bool {
        self.every > 0
            && iteration.is_multiple_of(self.every)
            && self.last.elapsed().as_secs_f64() >= self.min_seconds
    }
    fn save(&mut self, mut w: StateWriter<'_>, iteration: usize) -> Result<()> {
        let t = std::time::Instant::now();
        w.scope("run", |w| {
            w.text("config", &self.config);
            w.int("data_fingerprint", self.data);
            w.int("rows_fingerprint", self.rows);
            w.int("iteration", iteration as u64);
        });
        w.scope("schedule", |w| {
            w.int("stage", self.stage as u64);
            w.int("done", self.done.len() as u64);
            for (i, s) in self.done.iter().enumerate() {
                w.scope(&format!("stage{i}"), |w| write_stage(w, s));
            }
        });
        self.bytes = w.save(&self.path)?;
        self.writes += 1;
        self.seconds += t.elapsed().as_secs_f64();
        self.last = std::time::Instant::now();
        Ok(())
    }
}

fn write_stage(w: &mut StateWriter<'_>, s: &StageRecord) {
    let r = &s.res;
    w.f64s_owned("net", s.params.clone());
    w.texts("metrics", &r.metric_names);
    w.records("history", &r.history);
    w.int("iterations", r.iterations as u64);
    w.f64("seconds", r.seconds);
    w.f64("objective", r.objective);
    w.flag("has_aux", r.aux_loss.is_some());
    w.f64("aux", r.aux_loss.unwrap_or(0.0));
    w.text("status", r.status.as_str());
    w.text("message", &r.message);
    w.stats(&r.stats);
}

/// The stage a checkpoint was taken in and the stages finished before it
/// (none for checkpoints of single-stage runs).
pub(crate) fn read_schedule(
    r: &mut StateReader,
    stages: usize,
) -> Result<(usize, Vec<StageRecord>)> {
    if !r.has_meta("schedule.stage") {
        return Ok((0, Vec::new()));
    }
    let stage = r.usize_at_most("schedule.stage", stages.saturating_sub(1))?;
    let done = r.usize_at_most("schedule.done", stages)?;
    if done != stage {
        return Err(r.err(format!(
            "field `meta.schedule.done` is {done}, the checkpoint is in stage {stage}"
        )));
    }
    let mut out = Vec::with_capacity(done);
    for i in 0..done {
        out.push(r.scope("schedule", |r| r.scope(&format!("stage{i}"), read_stage))?);
    }
    Ok((stage, out))
}

fn read_stage(r: &mut StateReader) -> Result<StageRecord> {
    let metric_names = r.texts("metrics")?;
    let history = r.records("history", metric_names.len())?;
    let status_text = r.text("status")?;
    let status = Status::parse(&status_text).ok_or_else(|| {
        r.err(format!(
            "field `meta.{}`: unknown status {status_text:?}",
            r.full("status")
        ))
    })?;
    let has_aux = r.flag("has_aux")?;
    let aux = r.f64("aux")?;
    Ok(StageRecord {
        params: r.f64s("net")?,
        res: RunResult {
            status,
            message: r.text("message")?,
            iterations: r.usize_at_most("iterations", usize::MAX)?,
            seconds: r.f64("seconds")?,
            metric_names,
            history,
            objective: r.f64("objective")?,
            aux_loss: has_aux.then_some(aux),
            stats: r.stats()?,
        },
    })
}

/// The config a checkpoint was written with, with `overrides` applied.
/// Only `train.max_iterations`, `train.max_seconds`,
/// `train.checkpoint_every` and `train.checkpoint_seconds` may change on
/// resume: anything else would make the resumed run a different run.
pub fn checkpoint_config(r: &StateReader, overrides: &[String]) -> Result<Checked> {
    const ALLOWED: [&str; 4] = [
        "train.max_iterations",
        "train.max_seconds",
        "train.checkpoint_every",
        "train.checkpoint_seconds",
    ];
    for o in overrides {
        let key = o.split_once('=').map_or(o.as_str(), |(k, _)| k).trim();
        if !ALLOWED.contains(&key) {
            return Err(Error::config(
                key,
                format!("cannot be changed when resuming; only {ALLOWED:?} can"),
            ));
        }
    }
    let text = r.text("run.config")?;
    TrainConfig::from_toml_str(&text, overrides, None)
        .map_err(|e| r.err(format!("field `meta.run.config`: not a valid config: {e}")))
}
