//! The pipeline every study goes through: plan runs -> run them in parallel
//! -> `results.csv`/`cells.csv` -> plots -> `report.md`; and `--report-only`,
//! which repeats the last two steps from the files of a finished study.

use super::plan::Planned;
use super::report_md::report_md;
use super::study_json::{read_study_json, study_json};
use super::{ReportBody, ReportInput, StudyOptions};
use crate::error::{Error, Result};
use crate::machine::MachineInfo;
use crate::results::{ResultRow, aggregate, cells_csv, from_csv, to_csv};
use crate::runner::{Progress, RunOutcome, run_all};
use std::path::{Path, PathBuf};
use std::time::Instant;

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

/// The ids of the failed runs among `rows`, in their order.
fn failed_ids<'a>(rows: impl IntoIterator<Item = &'a ResultRow>) -> Vec<String> {
    rows.into_iter()
        .filter(|r| r.failed())
        .map(|r| r.run.clone())
        .collect()
}

fn write(path: &Path, text: &str) -> Result<PathBuf> {
    crate::runner::write_file(path, text)?;
    Ok(path.to_path_buf())
}

impl Planned {
    /// The study's report body from `runs`, its plots drawn into `plots`.
    fn body(&self, runs: &[RunOutcome], plots: &Path) -> Result<ReportBody> {
        self.study.report(&ReportInput {
            runs,
            plan: &self.input,
            plots_dir: plots,
        })
    }
}

/// Run study `name` into `out`: `study.json`, `runs/<id>/...`, `results.csv`,
/// `cells.csv`, `plots/*.{png,svg}` and `report.md`. `progress` is called
/// after every run (from worker threads).
pub fn run_study(
    name: &str,
    opts: &StudyOptions,
    out: &Path,
    on_start: &dyn Fn(&super::PlanSummary),
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<StudyOutput> {
    let p = Planned::new(name, opts)?;
    if p.specs.is_empty() {
        return Err(Error::option(
            "study",
            format!("study {name:?} planned no runs"),
        ));
    }
    let mut ids: Vec<&str> = p.specs.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::option(
            "study",
            format!("two runs share the id {:?}", w[0]),
        ));
    }
    on_start(&p.sum);
    if out.exists() && !out.is_dir() {
        return Err(Error::format(out, "exists and is not a folder"));
    }
    let plots = out.join("plots");
    let runs_dir = out.join("runs");
    for d in [out, &plots, &runs_dir] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let machine = MachineInfo::probe();
    let study_file = out.join("study.json");
    let mut files = vec![write(
        &study_file,
        &study_json(&p, &machine, None, &study_file)?,
    )?];
    let t0 = Instant::now();
    let outcomes = run_all(
        &p.specs,
        &|s, d| p.study.execute(s, d),
        &runs_dir,
        p.par,
        progress,
    )?;
    let rows: Vec<_> = outcomes.iter().map(|o| o.row.clone()).collect();
    let results = write(&out.join("results.csv"), &to_csv(&rows)?)?;
    files.push(results.clone());
    files.push(write(
        &out.join("cells.csv"),
        &cells_csv(&aggregate(&rows))?,
    )?);
    let body = p.body(&outcomes, &plots)?;
    let wall = t0.elapsed().as_secs_f64();
    let md = report_md(&p, &machine, wall, &outcomes, &body);
    let report = write(&out.join("report.md"), &md)?;
    files.push(report.clone());
    files.push(write(
        &study_file,
        &study_json(&p, &machine, Some(wall), &study_file)?,
    )?);
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
        failed_runs: failed_ids(&rows),
        skipped: outcomes.iter().filter(|o| o.skipped).count(),
        wall_seconds: wall,
    })
}

/// Rewrite `report.md` (and its plots) of a finished study in `out` from the
/// files it wrote (`study.json`, `results.csv`, `runs/<id>/history.csv` and
/// `model.json`), with the current report code: for fixing a report without
/// repeating hours of training. The wall time is the one `study.json` recorded.
pub fn rereport(expect: &str, out: &Path) -> Result<StudyOutput> {
    let rec = read_study_json(out, expect)?;
    let p = Planned::new(expect, &rec.opts)?;
    let results = out.join("results.csv");
    let csv = std::fs::read_to_string(&results).map_err(|e| Error::io(&results, e))?;
    let rows = from_csv(&csv, &results)?;
    let mut outcomes = Vec::with_capacity(p.specs.len());
    for spec in p.specs.iter() {
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
    let mut body = p.body(&outcomes, &plots)?;
    body.budget_notes.push(format!(
        "this report was regenerated from the saved runs by `sapm study {expect} --out DIR --report-only` (sapm-study {}); training is as first run",
        env!("CARGO_PKG_VERSION")
    ));
    let md = report_md(&p, &rec.machine, rec.wall_seconds, &outcomes, &body);
    let report = write(&out.join("report.md"), &md)?;
    Ok(StudyOutput {
        report: report.clone(),
        results,
        files: vec![report],
        runs: outcomes.len(),
        failed: outcomes.iter().filter(|r| r.row.failed()).count(),
        failed_runs: failed_ids(outcomes.iter().map(|o| &o.row)),
        skipped: outcomes.len(),
        wall_seconds: rec.wall_seconds,
    })
}
