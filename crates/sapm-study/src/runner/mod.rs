//! Run many fits, `jobs` at a time, each in its own small rayon pool, and
//! keep every run's files (`runs/<id>/`) and its row of `results.csv`.
//!
//! Each fit is itself sample-parallel; on few cores, running `jobs` fits at
//! once with one thread each wastes less time in synchronisation than one fit
//! on all cores (the per-iteration work of these small networks is too short
//! to split well).
//!
//! Files: this one (what a run is and what it produced), `pool` ([`run_all`]:
//! the worker threads), `regression` (executing a regression run and its
//! `results.csv` row), `run_dir` (a run's folder: writing it, reading a
//! complete one back).

mod pool;
mod regression;
mod run_dir;

pub use pool::run_all;
pub use regression::{
    error_row, execute_regression, execute_regression_in, max_ls_over_aux, regression_row,
};
pub use run_dir::write_file;

use crate::results::ResultRow;
use sapm::config::Checked;
use sapm::fit::Fitted;
use sapm::model::Model;
use sapm::record::Record;

/// One planned run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Unique id, also the run's folder name under `runs/`.
    pub id: String,
    /// Method label within the study (e.g. `sapm-warm`).
    pub label: String,
    /// Study-specific variant (e.g. `bias=zero`).
    pub variant: String,
    /// The resolved, validated config (its `seed` is the run seed).
    pub cfg: Checked,
    /// The `key=value` overrides that produced `cfg` from the defaults, so the
    /// run can be repeated with `sapm train --set ...`.
    pub overrides: Vec<String>,
    /// Write `model.json` into the run folder.
    pub save_model: bool,
    /// Keep the fitted model in memory for the report's plots.
    pub keep_model: bool,
}

impl RunSpec {
    /// A run of `cfg`, made by `overrides` (as [`PlanInput::config`] returns
    /// them), that neither saves nor keeps its model (see [`RunSpec::models`]).
    ///
    /// [`PlanInput::config`]: crate::study::PlanInput::config
    pub fn new(
        id: impl Into<String>,
        label: impl Into<String>,
        variant: impl Into<String>,
        (cfg, overrides): (Checked, Vec<String>),
    ) -> Self {
        RunSpec {
            id: id.into(),
            label: label.into(),
            variant: variant.into(),
            cfg,
            overrides,
            save_model: false,
            keep_model: false,
        }
    }

    /// Write `model.json` into the run folder (`save`) and keep the model in
    /// memory for the report's plots (`keep`).
    pub fn models(mut self, save: bool, keep: bool) -> Self {
        self.save_model = save;
        self.keep_model = keep;
        self
    }
}

/// What executing a [`RunSpec`] produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The `results.csv` row.
    pub row: ResultRow,
    /// Recorded history.
    pub history: Vec<Record>,
    /// Metric names of `history[i].values`.
    pub metric_names: Vec<String>,
    /// `summary.json` text (none if the run could not train).
    pub summary_json: Option<String>,
    /// The fitted model (none if the run could not train).
    pub model: Option<Model>,
}

impl RunOutput {
    /// The output of a run that trained: `row`, and the history, summary and
    /// model of `f`. The summary carries the library's `failed`/`failure`
    /// verdict ([`sapm::verdict::summary_json`]).
    pub fn fitted(row: ResultRow, f: Fitted) -> Self {
        RunOutput {
            row,
            summary_json: sapm::verdict::summary_json(&f.summary, &f.history, &[]).ok(),
            history: f.history,
            metric_names: f.metric_names,
            model: Some(f.model),
        }
    }

    /// The output of a run that could not train: its error `row` only.
    pub fn error(row: ResultRow) -> Self {
        RunOutput {
            row,
            history: Vec::new(),
            metric_names: Vec::new(),
            summary_json: None,
            model: None,
        }
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The plan.
    pub spec: RunSpec,
    /// The `results.csv` row.
    pub row: ResultRow,
    /// Recorded history.
    pub history: Vec<Record>,
    /// Metric names of `history[i].values`.
    pub metric_names: Vec<String>,
    /// The model, if `spec.keep_model`.
    pub model: Option<Model>,
    /// Wall seconds of the whole run (data, training, evaluation).
    pub wall_seconds: f64,
    /// Complete in an earlier invocation: read back from its folder, not retrained.
    pub skipped: bool,
}

/// Progress of a study: sent after each finished run.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Runs finished so far.
    pub done: usize,
    /// Runs planned.
    pub total: usize,
    /// The run that just finished.
    pub row: &'a ResultRow,
    /// Its wall seconds.
    pub wall_seconds: f64,
}

/// How runs share the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Runs at once (>= 1).
    pub jobs: usize,
    /// Threads of each run's pool (>= 1).
    pub threads_per_run: usize,
}

impl Parallelism {
    /// `jobs` runs at once (0 = one per core), `threads` per run (0 = cores / jobs, at least 1).
    pub fn new(jobs: usize, threads: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = if jobs == 0 { cores } else { jobs };
        let threads_per_run = if threads == 0 {
            (cores / jobs).max(1)
        } else {
            threads
        };
        Parallelism {
            jobs,
            threads_per_run,
        }
    }
}

/// A tiny regression run for the tests: `method` on 20 points of sin(x^2),
/// depth 3, width 4, `iterations` iterations.
#[cfg(test)]
fn tiny_spec(id: &str, method: sapm::Method, seed: u64, iterations: usize) -> RunSpec {
    let mut cfg = sapm::config::TrainConfig {
        method,
        seed,
        ..Default::default()
    };
    cfg.network.depth = 3;
    cfg.network.width = 4;
    cfg.data.n_train = 20;
    cfg.data.n_test = 30;
    cfg.train.max_iterations = iterations;
    let label = cfg.method.name();
    RunSpec::new(id, label, "v", (cfg.check().unwrap(), vec![]))
}
