//! The study registry and the pipeline every study goes through:
//! plan runs -> run them in parallel -> `results.csv`/`cells.csv` -> plots ->
//! `report.md`.
//!
//! A study implements [`Study`]: it declares its default [`Budget`] and
//! `study.*` options, turns options into [`RunSpec`]s, may override how a run
//! executes (the default is `sapm::fit` on regression data), and writes its
//! report sections and plots from the outcomes. To add one (e.g. the PINN
//! PINN studies `transport` and `derivatives`), implement the trait in a new
//! module and list it in [`available`].

mod ablation;
mod common;
mod consistency;
mod depth;
mod derivatives;
mod pinn;
mod transport;

pub use ablation::Ablation;
pub use consistency::Consistency;
pub use depth::Depth;
pub use derivatives::Derivatives;
pub use pinn::FAIL_THRESHOLD;
pub use transport::{PinnCell, Transport, pinn_cells, ratio_to_baseline};

use crate::error::{Error, Result};
use crate::machine::MachineInfo;
use crate::report::{g, table};
use crate::results::{aggregate, cells_csv, to_csv};
use crate::runner::{
    Parallelism, Progress, RunOutcome, RunOutput, RunSpec, execute_regression_in, run_all,
};
use sapm::config::{Checked, TrainConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Default amount of work of a study.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    /// Seeds per cell (seeds `first_seed .. first_seed + seeds`).
    pub seeds: usize,
    /// `train.max_iterations` of each run (the study may add warm-start steps).
    pub iterations: usize,
    /// `train.max_seconds` of each run (0 = none; the study documents any scaling).
    pub seconds: f64,
}

/// One `study.*` option: name, default and meaning (for docs and errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDoc {
    /// Key, e.g. `study.depths`.
    pub key: &'static str,
    /// Default, as TOML.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StudyOptions {
    /// `--seeds`: overrides the study's default.
    pub seeds: Option<usize>,
    /// `--iterations`: overrides the study's default.
    pub iterations: Option<usize>,
    /// `--seconds`: overrides the study's default.
    pub seconds: Option<f64>,
    /// `--set key=value`: `study.*` keys are study options, every other key
    /// changes the base training config of all runs (the study's own grid is
    /// applied on top, so `--set` cannot undo what the study varies).
    pub sets: Vec<String>,
    /// `--jobs`: runs at once (0 = one per core).
    pub jobs: usize,
    /// Threads per run (0 = cores / jobs, at least 1).
    pub threads_per_run: usize,
    /// The command line, quoted in the report.
    pub command: String,
}

/// Resolved inputs of a plan: budget, study options, base overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    /// Budget after command-line overrides.
    pub budget: Budget,
    /// `study.*` options (keys without the `study.` prefix).
    pub params: Params,
    /// Config overrides from `--set` (non-`study.*` keys), in order.
    pub config_sets: Vec<String>,
    /// First seed.
    pub first_seed: u64,
    /// Threads each run uses (recorded in its config).
    pub threads_per_run: usize,
}

impl PlanInput {
    /// Seeds of every cell.
    pub fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.budget.seeds as u64).map(|s| self.first_seed + s)
    }

    /// A validated config: `study_base` overrides, then the user's `--set`,
    /// then the budget, then `grid` (what this run varies), then the seed.
    /// Returns the config and the full override list.
    pub fn config(
        &self,
        study_base: &[String],
        budget: &[String],
        grid: &[String],
        seed: u64,
    ) -> Result<(Checked, Vec<String>)> {
        let mut all: Vec<String> = study_base.to_vec();
        all.extend(self.config_sets.iter().cloned());
        all.extend(budget.iter().cloned());
        all.extend(grid.iter().cloned());
        all.push(format!("seed={seed}"));
        all.push(format!("threads={}", self.threads_per_run));
        let cfg = TrainConfig::from_toml_str("", &all, None)?;
        Ok((cfg, all))
    }

    /// The default budget overrides: `train.max_iterations` and `train.max_seconds`.
    pub fn budget_sets(&self) -> Vec<String> {
        vec![
            format!("train.max_iterations={}", self.budget.iterations),
            format!("train.max_seconds={:?}", self.budget.seconds),
        ]
    }
}

/// `study.*` options as a TOML table, read with typed getters whose errors
/// name the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    table: toml::Table,
}

impl Params {
    /// Parse `study.key=value` strings (the `study.` prefix is required) and
    /// reject keys not in `allowed`.
    pub fn parse(sets: &[String], allowed: &[OptionDoc]) -> Result<Params> {
        let mut root = toml::Table::new();
        for s in sets {
            sapm::config::apply_override(&mut root, s)?;
        }
        let table = match root.remove("study") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => {
                return Err(Error::option(
                    "study",
                    "must be a section (study.KEY=VALUE)",
                ));
            }
            None => toml::Table::new(),
        };
        for k in table.keys() {
            let full = format!("study.{k}");
            if !allowed.iter().any(|o| o.key == full) {
                return Err(Error::option(
                    full,
                    format!(
                        "unknown option; this study knows: {}",
                        allowed.iter().map(|o| o.key).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(Params { table })
    }

    fn get(&self, key: &str) -> Option<&toml::Value> {
        self.table.get(key)
    }

    /// A non-negative integer.
    pub fn usize(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(*i as usize),
            Some(v) => Err(Error::option(
                format!("study.{key}"),
                format!("must be a whole number >= 0, got {v}"),
            )),
        }
    }

    /// A boolean.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(v) => Err(Error::option(
                format!("study.{key}"),
                format!("must be true or false, got {v}"),
            )),
        }
    }

    /// A finite number in `[lo, hi]`.
    pub fn f64(&self, key: &str, default: f64, lo: f64, hi: f64) -> Result<f64> {
        let v = match self.get(key) {
            None => return Ok(default),
            Some(v) => v,
        };
        match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
            Some(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
            _ => Err(Error::option(
                format!("study.{key}"),
                format!("must be a number in [{lo}, {hi}], got {v}"),
            )),
        }
    }

    /// A non-empty list of finite numbers > 0 (a single number is a one-element list).
    pub fn positive_list(&self, key: &str, default: &[f64]) -> Result<Vec<f64>> {
        let v = match self.get(key) {
            None => return Ok(default.to_vec()),
            Some(v) => v,
        };
        let bad = || {
            Error::option(
                format!("study.{key}"),
                format!("must be a non-empty list of numbers > 0, got {v}"),
            )
        };
        let items: Vec<&toml::Value> = match v {
            toml::Value::Array(a) if !a.is_empty() => a.iter().collect(),
            toml::Value::Integer(_) | toml::Value::Float(_) => vec![v],
            _ => return Err(bad()),
        };
        items
            .into_iter()
            .map(
                |x| match x.as_float().or_else(|| x.as_integer().map(|i| i as f64)) {
                    Some(b) if b.is_finite() && b > 0.0 => Ok(b),
                    _ => Err(bad()),
                },
            )
            .collect()
    }

    /// A non-empty list of whole numbers >= `min` (a single number is a one-element list).
    pub fn usize_list(&self, key: &str, default: &[usize], min: usize) -> Result<Vec<usize>> {
        let bad = |v: &toml::Value| {
            Error::option(
                format!("study.{key}"),
                format!("must be a non-empty list of whole numbers >= {min}, got {v}"),
            )
        };
        let v = match self.get(key) {
            None => return Ok(default.to_vec()),
            Some(v) => v,
        };
        let items: Vec<&toml::Value> = match v {
            toml::Value::Array(a) if !a.is_empty() => a.iter().collect(),
            toml::Value::Integer(_) => vec![v],
            _ => return Err(bad(v)),
        };
        items
            .into_iter()
            .map(|x| match x {
                toml::Value::Integer(i) if *i >= min as i64 => Ok(*i as usize),
                _ => Err(bad(v)),
            })
            .collect()
    }

    /// A non-empty list of names, each one of `known` (a bare word is a one-element list).
    pub fn name_list(&self, key: &str, default: &[&str], known: &[&str]) -> Result<Vec<String>> {
        let bad = |why: String| Error::option(format!("study.{key}"), why);
        let v = match self.get(key) {
            None => return Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(v) => v,
        };
        let items: Vec<String> = match v {
            toml::Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("must be a list of names, got {v}")))
                })
                .collect::<Result<_>>()?,
            toml::Value::String(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
            _ => return Err(bad(format!("must be a non-empty list of names, got {v}"))),
        };
        for i in &items {
            if !known.contains(&i.as_str()) {
                return Err(bad(format!(
                    "unknown name {i:?}; known: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(items)
    }
}

/// Everything a study's report needs.
pub struct ReportInput<'a> {
    /// Outcomes in plan order.
    pub runs: &'a [RunOutcome],
    /// The plan inputs.
    pub plan: &'a PlanInput,
    /// Folder for plots (`OUT/plots`); embed as `plots/<stem>.png`.
    pub plots_dir: &'a Path,
}

/// A study's part of `report.md`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportBody {
    /// "At a glance" sentences, computed from the results.
    pub glance: Vec<String>,
    /// Budget lines specific to the study (what `--seconds` means here, ...).
    pub budget_notes: Vec<String>,
    /// Markdown sections (tables, plots).
    pub sections: String,
    /// Definitions replacing the regression ones (failure by train MSE,
    /// fragility, ...) when not empty, e.g. for the PINN studies.
    pub definitions: Vec<String>,
}

/// A study: a grid of runs and a report.
pub trait Study: Sync {
    /// Registry name (`sapm study NAME`).
    fn name(&self) -> &'static str;
    /// One-line description.
    fn about(&self) -> &'static str;
    /// Default budget.
    fn budget(&self) -> Budget;
    /// Accepted `study.*` options.
    fn options(&self) -> &'static [OptionDoc];
    /// The runs to do.
    fn plan(&self, input: &PlanInput) -> Result<Vec<RunSpec>>;
    /// Execute one run in its folder `dir` (default: `sapm::fit` on the
    /// config's regression data, checkpointed into `dir`).
    fn execute(&self, spec: &RunSpec, dir: &Path) -> RunOutput {
        execute_regression_in(self.name(), spec, Some(dir))
    }
    /// Plots and report sections from the outcomes.
    fn report(&self, input: &ReportInput<'_>) -> Result<ReportBody>;
}

/// Studies that run in this build.
pub fn available() -> Vec<Box<dyn Study>> {
    vec![
        Box::new(Consistency),
        Box::new(Depth),
        Box::new(Ablation),
        Box::new(Transport),
        Box::new(Derivatives),
    ]
}

/// Registered studies that cannot run yet, with what they wait for (none now;
/// kept so a future study can be announced before it runs).
pub const PENDING: [(&str, &str); 0] = [];

/// Look a study up by name; pending studies give [`Error::NotAvailable`].
pub fn find(name: &str) -> Result<Box<dyn Study>> {
    if let Some(s) = available().into_iter().find(|s| s.name() == name) {
        return Ok(s);
    }
    if let Some((n, why)) = PENDING.iter().find(|(n, _)| *n == name) {
        return Err(Error::NotAvailable {
            name: n.to_string(),
            reason: why.to_string(),
        });
    }
    let mut known: Vec<String> = available().iter().map(|s| s.name().to_string()).collect();
    known.extend(
        PENDING
            .iter()
            .map(|(n, _)| format!("{n} (not available yet)")),
    );
    Err(Error::UnknownStudy {
        name: name.into(),
        known: known.join(", "),
    })
}

/// Resolve options against a study's defaults.
pub fn plan_input(study: &dyn Study, opts: &StudyOptions, par: Parallelism) -> Result<PlanInput> {
    let (study_sets, config_sets): (Vec<String>, Vec<String>) =
        opts.sets.iter().cloned().partition(|s| {
            s.trim_start().starts_with("study.") || s.trim_start().starts_with("study=")
        });
    let mut allowed: Vec<OptionDoc> = study.options().to_vec();
    allowed.push(FIRST_SEED);
    let params = Params::parse(&study_sets, &allowed)?;
    let mut budget = study.budget();
    if let Some(s) = opts.seeds {
        if s == 0 {
            return Err(Error::option("--seeds", "must be >= 1, got 0"));
        }
        budget.seeds = s;
    }
    if let Some(k) = opts.iterations {
        if k == 0 {
            return Err(Error::option("--iterations", "must be >= 1, got 0"));
        }
        budget.iterations = k;
    }
    if let Some(s) = opts.seconds {
        if !(s.is_finite() && s >= 0.0) {
            return Err(Error::option(
                "--seconds",
                format!("must be finite and >= 0, got {s}"),
            ));
        }
        budget.seconds = s;
    }
    Ok(PlanInput {
        budget,
        first_seed: params.usize("first_seed", 0)? as u64,
        params,
        config_sets,
        threads_per_run: par.threads_per_run,
    })
}

/// The option every study accepts.
pub const FIRST_SEED: OptionDoc = OptionDoc {
    key: "study.first_seed",
    default: "0",
    meaning: "seeds are first_seed, first_seed + 1, ...",
};

/// What [`run_study`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyOutput {
    /// `OUT/report.md`.
    pub report: PathBuf,
    /// `OUT/results.csv`.
    pub results: PathBuf,
    /// Every file written at the top level and under `plots/`.
    pub files: Vec<PathBuf>,
    /// Runs executed.
    pub runs: usize,
    /// Runs that failed (see [`crate::results`]).
    pub failed: usize,
    /// Their ids, in plan order.
    pub failed_runs: Vec<String>,
    /// Runs complete from an earlier invocation (same config), read back
    /// from their folders instead of retrained.
    pub skipped: usize,
    /// Wall seconds of the whole study.
    pub wall_seconds: f64,
}

/// A plan and an upper bound of its training time, before running it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSummary {
    /// Runs planned.
    pub runs: usize,
    /// Sum of the runs' `train.max_seconds` (0 where unlimited).
    pub limited_seconds: f64,
    /// Runs without a time limit.
    pub unlimited_runs: usize,
    /// Runs at once.
    pub jobs: usize,
}

impl PlanSummary {
    /// `limited_seconds / jobs`: wall time if every limited run uses its limit.
    pub fn wall_bound(&self) -> f64 {
        self.limited_seconds / self.jobs.max(1) as f64
    }
}

fn summarize(specs: &[RunSpec], par: Parallelism) -> PlanSummary {
    PlanSummary {
        runs: specs.len(),
        limited_seconds: specs.iter().map(|s| s.cfg.train.max_seconds).sum(),
        unlimited_runs: specs
            .iter()
            .filter(|s| s.cfg.train.max_seconds == 0.0)
            .count(),
        jobs: par.jobs,
    }
}

/// Plan a study without running it (for `--dry-run` style previews and tests).
pub fn plan(name: &str, opts: &StudyOptions) -> Result<(Vec<RunSpec>, PlanSummary)> {
    let study = find(name)?;
    let par = Parallelism::new(opts.jobs, opts.threads_per_run);
    let input = plan_input(study.as_ref(), opts, par)?;
    let specs = study.plan(&input)?;
    let sum = summarize(&specs, par);
    Ok((specs, sum))
}

fn write(path: &Path, text: &str) -> Result<PathBuf> {
    crate::runner::write_file(path, text)?;
    Ok(path.to_path_buf())
}

#[derive(Serialize)]
struct StudyFile<'a> {
    study: &'a str,
    version: &'a str,
    command: &'a str,
    budget: Budget,
    first_seed: u64,
    sets: &'a [String],
    jobs: usize,
    threads_per_run: usize,
    machine: &'a MachineInfo,
    runs: Vec<&'a str>,
    wall_seconds: Option<f64>,
}

/// Run study `name` into `out`: `study.json`, `runs/<id>/...`, `results.csv`,
/// `cells.csv`, `plots/*.{png,svg}` and `report.md`. `progress` is called
/// after every run (from worker threads).
pub fn run_study(
    name: &str,
    opts: &StudyOptions,
    out: &Path,
    on_start: &dyn Fn(&PlanSummary),
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<StudyOutput> {
    let study = find(name)?;
    let par = Parallelism::new(opts.jobs, opts.threads_per_run);
    let input = plan_input(study.as_ref(), opts, par)?;
    let specs = study.plan(&input)?;
    if specs.is_empty() {
        return Err(Error::option(
            "study",
            format!("study {name:?} planned no runs"),
        ));
    }
    let mut ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::option(
            "study",
            format!("two runs share the id {:?}", w[0]),
        ));
    }
    let sum = summarize(&specs, par);
    on_start(&sum);
    if out.exists() && !out.is_dir() {
        return Err(Error::format(out, "exists and is not a folder"));
    }
    let plots = out.join("plots");
    let runs_dir = out.join("runs");
    for d in [out, &plots, &runs_dir] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let machine = MachineInfo::probe();
    let study_file = |wall: Option<f64>| {
        serde_json::to_string_pretty(&StudyFile {
            study: name,
            version: env!("CARGO_PKG_VERSION"),
            command: &opts.command,
            budget: input.budget,
            first_seed: input.first_seed,
            sets: &opts.sets,
            jobs: par.jobs,
            threads_per_run: par.threads_per_run,
            machine: &machine,
            runs: specs.iter().map(|s| s.id.as_str()).collect(),
            wall_seconds: wall,
        })
        .map_err(|e| Error::format(out.join("study.json"), e.to_string()))
    };
    let mut files = vec![write(&out.join("study.json"), &study_file(None)?)?];
    let t0 = Instant::now();
    let outcomes = run_all(
        &specs,
        &|s, d| study.execute(s, d),
        &runs_dir,
        par,
        progress,
    )?;
    let rows: Vec<_> = outcomes.iter().map(|o| o.row.clone()).collect();
    let results = write(&out.join("results.csv"), &to_csv(&rows)?)?;
    files.push(results.clone());
    files.push(write(
        &out.join("cells.csv"),
        &cells_csv(&aggregate(&rows))?,
    )?);
    let body = study.report(&ReportInput {
        runs: &outcomes,
        plan: &input,
        plots_dir: &plots,
    })?;
    let wall = t0.elapsed().as_secs_f64();
    let md = report_md(
        study.as_ref(),
        opts,
        &input,
        par,
        &machine,
        &sum,
        wall,
        &outcomes,
        &body,
    );
    let report = write(&out.join("report.md"), &md)?;
    files.push(report.clone());
    files.push(write(&out.join("study.json"), &study_file(Some(wall))?)?);
    let mut plot_files: Vec<PathBuf> = std::fs::read_dir(&plots)
        .map_err(|e| Error::io(&plots, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    plot_files.sort();
    files.extend(plot_files);
    Ok(StudyOutput {
        report,
        results,
        files,
        runs: rows.len(),
        failed: rows.iter().filter(|r| r.failed()).count(),
        failed_runs: rows
            .iter()
            .filter(|r| r.failed())
            .map(|r| r.run.clone())
            .collect(),
        skipped: outcomes.iter().filter(|o| o.skipped).count(),
        wall_seconds: wall,
    })
}

/// Rewrite `report.md` (and its plots) of a finished study in `out` from the
/// files it wrote (`study.json`, `results.csv`, `runs/<id>/history.csv` and
/// `model.json`), with the current report code: for fixing a report without
/// repeating hours of training. The wall time is the one `study.json` recorded.
pub fn rereport(expect: &str, out: &Path) -> Result<StudyOutput> {
    let sj = out.join("study.json");
    let text = std::fs::read_to_string(&sj).map_err(|e| Error::io(&sj, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::format(&sj, e.to_string()))?;
    let field = |k: &str| {
        v.get(k)
            .cloned()
            .ok_or_else(|| Error::format(&sj, format!("no {k:?} field")))
    };
    let de = |k: &str| -> Result<serde_json::Value> { field(k) };
    let name = de("study")?
        .as_str()
        .ok_or_else(|| Error::format(&sj, "\"study\" is not a name"))?
        .to_string();
    if name != expect {
        return Err(Error::format(
            &sj,
            format!("holds study {name:?}, not {expect:?}"),
        ));
    }
    let budget = de("budget")?;
    let num = |b: &serde_json::Value, k: &str| {
        b.get(k)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| Error::format(&sj, format!("budget.{k} is not a number")))
    };
    let count = |k: &str| de(k).map(|x| x.as_u64().unwrap_or(0) as usize);
    let sets: Vec<String> = serde_json::from_value(de("sets")?)
        .map_err(|e| Error::format(&sj, format!("sets: {e}")))?;
    let opts = StudyOptions {
        seeds: Some(num(&budget, "seeds")? as usize),
        iterations: Some(num(&budget, "iterations")? as usize),
        seconds: Some(num(&budget, "seconds")?),
        sets,
        jobs: count("jobs")?,
        threads_per_run: count("threads_per_run")?,
        command: de("command")?.as_str().unwrap_or("").to_string(),
    };
    let m = de("machine")?;
    let s = |k: &str| {
        m.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or("unknown")
            .to_string()
    };
    let machine = MachineInfo {
        nproc: m.get("nproc").and_then(|x| x.as_u64()).unwrap_or(0) as usize,
        cpu_model: s("cpu_model"),
        os: s("os"),
        started_utc: s("started_utc"),
    };
    let wall = v
        .get("wall_seconds")
        .and_then(|x| x.as_f64())
        .unwrap_or(f64::NAN);
    let study = find(&name)?;
    let par = Parallelism::new(opts.jobs, opts.threads_per_run);
    let input = plan_input(study.as_ref(), &opts, par)?;
    let specs = study.plan(&input)?;
    let results = out.join("results.csv");
    let csv = std::fs::read_to_string(&results).map_err(|e| Error::io(&results, e))?;
    let rows = crate::results::from_csv(&csv, &results)?;
    let mut outcomes = Vec::with_capacity(specs.len());
    for spec in specs.iter() {
        let row = rows
            .iter()
            .find(|r| r.run == spec.id)
            .cloned()
            .ok_or_else(|| Error::format(&results, format!("no row for run {:?}", spec.id)))?;
        let dir = out.join("runs").join(&spec.id);
        let hist = dir.join("history.csv");
        let (metric_names, history) = if hist.is_file() {
            crate::runplot::read_history_csv(&hist)?
        } else {
            (Vec::new(), Vec::new())
        };
        let mp = dir.join("model.json");
        let model = if spec.keep_model && mp.is_file() {
            Some(sapm::model::Model::load(&mp)?)
        } else {
            None
        };
        outcomes.push(RunOutcome {
            spec: spec.clone(),
            wall_seconds: row.wall_seconds,
            row,
            history,
            metric_names,
            model,
            skipped: true,
        });
    }
    let plots = out.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| Error::io(&plots, e))?;
    let mut body = study.report(&ReportInput {
        runs: &outcomes,
        plan: &input,
        plots_dir: &plots,
    })?;
    body.budget_notes.push(format!(
        "this report was regenerated from the saved runs by `sapm study {name} --out DIR --report-only` (sapm-study {}); training is as first run",
        env!("CARGO_PKG_VERSION")
    ));
    let sum = summarize(&specs, par);
    let md = report_md(
        study.as_ref(),
        &opts,
        &input,
        par,
        &machine,
        &sum,
        wall,
        &outcomes,
        &body,
    );
    let report = write(&out.join("report.md"), &md)?;
    Ok(StudyOutput {
        report: report.clone(),
        results,
        files: vec![report],
        runs: outcomes.len(),
        failed: outcomes.iter().filter(|r| r.row.failed()).count(),
        failed_runs: outcomes
            .iter()
            .filter(|r| r.row.failed())
            .map(|r| r.row.run.clone())
            .collect(),
        skipped: outcomes.len(),
        wall_seconds: wall,
    })
}

#[allow(clippy::too_many_arguments)]
fn report_md(
    study: &dyn Study,
    opts: &StudyOptions,
    input: &PlanInput,
    par: Parallelism,
    machine: &MachineInfo,
    sum: &PlanSummary,
    wall: f64,
    runs: &[RunOutcome],
    body: &ReportBody,
) -> String {
    let b = &input.budget;
    let seeds: Vec<u64> = input.seeds().collect();
    let mut s = format!("# Study `{}`: {}\n\n", study.name(), study.about());
    s.push_str("## At a glance\n\n");
    for line in &body.glance {
        s.push_str(&format!("- {line}\n"));
    }
    s.push_str(if body.definitions.is_empty() {
        "\nEvery sentence above is computed from `results.csv` by the report generator; accuracy numbers are medians over seeds, each followed by the median f32 test MSE and the median output-weight norm |W_L|_F^2 (see *Definitions*).\n\n"
    } else {
        "\nEvery sentence above is computed from `results.csv` by the report generator (see *Definitions*).\n\n"
    });
    s.push_str("## How this was run\n\n");
    s.push_str(&format!(
        "```sh\n{}\n```\n\n",
        if opts.command.is_empty() {
            "(command not recorded)"
        } else {
            &opts.command
        }
    ));
    let errors = runs.iter().filter(|r| r.row.status == "error").count();
    let mut rows = vec![
        vec![
            "runs".into(),
            format!("{} ({} ended in an error)", runs.len(), errors),
        ],
        vec![
            "seeds".into(),
            format!(
                "{} ({}..={})",
                b.seeds,
                seeds.first().copied().unwrap_or(0),
                seeds.last().copied().unwrap_or(0)
            ),
        ],
        vec!["max iterations per run".into(), b.iterations.to_string()],
        vec![
            "max training seconds per run".into(),
            if b.seconds > 0.0 {
                format!("{}", b.seconds)
            } else {
                "none".into()
            },
        ],
        vec![
            "`--set` overrides".into(),
            if opts.sets.is_empty() {
                "none".into()
            } else {
                format!("`{}`", opts.sets.join("` `"))
            },
        ],
        vec![
            "parallelism".into(),
            format!(
                "{} runs at once, {} thread(s) each",
                par.jobs, par.threads_per_run
            ),
        ],
        vec![
            "planned training-time bound".into(),
            format!(
                "{:.0} s of time limits / {} jobs = {:.1} min",
                sum.limited_seconds,
                sum.jobs,
                sum.wall_bound() / 60.0
            ),
        ],
        vec![
            "wall time of the study".into(),
            format!("{:.1} min", wall / 60.0),
        ],
        vec![
            "machine".into(),
            format!(
                "{} cores, {} ({})",
                machine.nproc, machine.cpu_model, machine.os
            ),
        ],
        vec!["started".into(), machine.started_utc.clone()],
        vec![
            "sapm-study version".into(),
            env!("CARGO_PKG_VERSION").into(),
        ],
    ];
    for n in &body.budget_notes {
        rows.push(vec!["note".into(), n.clone()]);
    }
    s.push_str(&table(&["", ""], &rows));
    s.push_str("\nTime limits are wall-clock training time (evaluation excluded); runs that stop on time are not bit-reproducible, and concurrent jobs share memory bandwidth. Each run's folder `runs/<id>/` holds `config.toml` (repeat with `sapm train --config runs/<id>/config.toml --out DIR`), `history.csv`, `summary.json` and, where saved, `model.json` (`sapm plot runs/<id>` draws it).\n\n");
    s.push_str(&body.sections);
    s.push_str("\n## Definitions\n\n");
    for d in &body.definitions {
        s.push_str(&format!("- {d}\n"));
    }
    if body.definitions.is_empty() {
        regression_definitions(&mut s);
    }
    s.push_str(&format!("\nFiles: `results.csv` (one row per run), `cells.csv` (aggregates), `study.json` (plan and machine), `plots/`, `runs/`. Median of {} seeds unless stated. Total failures: {}.\n", b.seeds, g(runs.iter().filter(|r| r.row.failed()).count() as f64)));
    s
}

fn regression_definitions(s: &mut String) {
    s.push_str("- **failed**: final train MSE above the MSE of the best constant predictor on the same training set (the targets' variance, `constant_predictor_mse`), or not a number, or the run ended in an error. A diverged run is judged on the last finite model it kept.\n");
    s.push_str("- **fragile**: evaluating the final model in f32 gives a test MSE above 2 x the f64 test MSE + 1e-10: the fit relies on cancellation between large weights and is not a usable model.\n");
    s.push_str("- **|W_L|²**: squared Frobenius norm of the output layer's weights; huge values signal an ELM-like fit on nearly collinear features.\n");
    s.push_str("- **max MSE/J_aux**: largest ratio of the train MSE to the PM/SAPM loss over the recorded history; for SAPM with tanh it is bounded by L (the consistency bound), for PM it is not.\n");
    s.push_str("- Medians over seeds count a missing number (error) as +inf; `[min, max]` are over seeds.\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_pending_and_unknown_studies() {
        for s in available() {
            assert!(find(s.name()).is_ok());
            assert!(!s.about().is_empty());
        }
        for (n, _) in PENDING {
            let e = find(n).err().unwrap().to_string();
            assert!(e.contains("not available yet") && e.contains(n), "{e}");
        }
        let e = find("nope").err().unwrap().to_string();
        assert!(
            e.contains("unknown study") && e.contains("depth") && e.contains("transport"),
            "{e}"
        );
    }

    #[test]
    fn params_are_typed_and_checked() {
        let docs = [
            OptionDoc {
                key: "study.depths",
                default: "[6]",
                meaning: "",
            },
            OptionDoc {
                key: "study.methods",
                default: "[]",
                meaning: "",
            },
            OptionDoc {
                key: "study.flag",
                default: "false",
                meaning: "",
            },
        ];
        let p = Params::parse(
            &[
                "study.depths=[3, 4]".into(),
                "study.methods=a,b".into(),
                "study.flag=true".into(),
            ],
            &docs,
        )
        .unwrap();
        assert_eq!(p.usize_list("depths", &[6], 2).unwrap(), [3, 4]);
        assert_eq!(
            p.name_list("methods", &[], &["a", "b", "c"]).unwrap(),
            ["a", "b"]
        );
        assert!(p.bool("flag", false).unwrap());
        assert_eq!(p.usize("missing", 7).unwrap(), 7);
        let e = p.usize_list("depths", &[6], 5).unwrap_err().to_string();
        assert!(e.contains("study.depths") && e.contains(">= 5"), "{e}");
        let e = p.name_list("methods", &[], &["a"]).unwrap_err().to_string();
        assert!(e.contains("\"b\""), "{e}");
        let e = Params::parse(&["study.bogus=1".into()], &docs)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("study.bogus") && e.contains("study.depths"),
            "{e}"
        );
        let e = Params::parse(&["study.depths=[]".into()], &docs)
            .unwrap()
            .usize_list("depths", &[6], 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-empty"), "{e}");
    }

    #[test]
    fn options_are_resolved_and_checked() {
        let s = find("consistency").unwrap();
        let par = Parallelism::new(1, 1);
        let opts = StudyOptions {
            seeds: Some(3),
            sets: vec!["study.first_seed=5".into(), "network.width=7".into()],
            ..Default::default()
        };
        let p = plan_input(s.as_ref(), &opts, par).unwrap();
        assert_eq!(p.seeds().collect::<Vec<_>>(), [5, 6, 7]);
        assert_eq!(p.config_sets, ["network.width=7"]);
        let (cfg, _) = p
            .config(&[], &p.budget_sets(), &["network.depth=4".into()], 6)
            .unwrap();
        assert_eq!((cfg.network.width, cfg.network.depth, cfg.seed), (7, 4, 6));
        for (o, key) in [
            (
                StudyOptions {
                    seeds: Some(0),
                    ..Default::default()
                },
                "--seeds",
            ),
            (
                StudyOptions {
                    iterations: Some(0),
                    ..Default::default()
                },
                "--iterations",
            ),
            (
                StudyOptions {
                    seconds: Some(-1.0),
                    ..Default::default()
                },
                "--seconds",
            ),
        ] {
            let e = plan_input(s.as_ref(), &o, par).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        // A bad config key is reported at planning time, naming the key.
        let bad = StudyOptions {
            sets: vec!["sapm.tau=-1".into()],
            ..Default::default()
        };
        let e = plan("consistency", &bad).unwrap_err().to_string();
        assert!(e.contains("sapm.tau"), "{e}");
    }
}
