//! Planning a study: the budget, the resolved inputs every run's config is
//! built from, and the plan's time bound.

use super::options::{FIRST_SEED, OptionDoc, Params, StudyOptions};
use super::{Study, find};
use crate::error::{Error, Result};
use crate::runner::{Parallelism, RunSpec};
use sapm::config::{Checked, TrainConfig};
use serde::Serialize;

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

impl Budget {
    /// `seeds` per cell and `iterations` per run, without a time limit.
    pub const fn by_iterations(seeds: usize, iterations: usize) -> Self {
        Budget {
            seeds,
            iterations,
            seconds: 0.0,
        }
    }
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

/// The time bound of `specs` run `par.jobs` at a time.
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

/// A study resolved against the options: how its runs share the machine,
/// the plan's inputs, its runs and their time bound.
pub(super) struct Planned {
    /// The study.
    pub study: Box<dyn Study>,
    /// The options it was planned with.
    pub opts: StudyOptions,
    /// Runs at once and threads per run.
    pub par: Parallelism,
    /// Budget, `study.*` options and base overrides.
    pub input: PlanInput,
    /// The runs, in plan order.
    pub specs: Vec<RunSpec>,
    /// Their time bound.
    pub sum: PlanSummary,
}

impl Planned {
    /// Look study `name` up and plan it with `opts`.
    pub fn new(name: &str, opts: &StudyOptions) -> Result<Planned> {
        let study = find(name)?;
        let par = Parallelism::new(opts.jobs, opts.threads_per_run);
        let input = plan_input(study.as_ref(), opts, par)?;
        let specs = study.plan(&input)?;
        let sum = summarize(&specs, par);
        Ok(Planned {
            study,
            opts: opts.clone(),
            par,
            input,
            specs,
            sum,
        })
    }
}

/// Plan a study without running it (for `--dry-run` style previews and tests).
pub fn plan(name: &str, opts: &StudyOptions) -> Result<(Vec<RunSpec>, PlanSummary)> {
    let p = Planned::new(name, opts)?;
    Ok((p.specs, p.sum))
}

#[cfg(test)]
mod tests {
    use super::*;

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
