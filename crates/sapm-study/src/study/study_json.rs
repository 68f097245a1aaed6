//! `study.json`: the plan and machine of a study, written when it starts and
//! again with its wall time when it ends, and read back by `--report-only`.

use super::options::StudyOptions;
use super::plan::{Budget, Planned};
use crate::error::{Error, Result};
use crate::machine::MachineInfo;
use serde::Serialize;
use std::path::Path;

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

/// The text of `study.json` (at `path`) of planned study `p` on `machine`;
/// `wall` is the study's wall time once it is known.
pub(super) fn study_json(
    p: &Planned,
    machine: &MachineInfo,
    wall: Option<f64>,
    path: &Path,
) -> Result<String> {
    serde_json::to_string_pretty(&StudyFile {
        study: p.study.name(),
        version: env!("CARGO_PKG_VERSION"),
        command: &p.opts.command,
        budget: p.input.budget,
        first_seed: p.input.first_seed,
        sets: &p.opts.sets,
        jobs: p.par.jobs,
        threads_per_run: p.par.threads_per_run,
        machine,
        runs: p.specs.iter().map(|s| s.id.as_str()).collect(),
        wall_seconds: wall,
    })
    .map_err(|e| Error::format(path, e.to_string()))
}

/// What a finished study recorded in its `study.json`.
pub(super) struct Recorded {
    /// The options it ran with.
    pub opts: StudyOptions,
    /// Its machine.
    pub machine: MachineInfo,
    /// Its wall time (NaN if not recorded).
    pub wall_seconds: f64,
}

/// Read `out/study.json` of a study named `expect`.
pub(super) fn read_study_json(out: &Path, expect: &str) -> Result<Recorded> {
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
    Ok(Recorded {
        opts,
        machine,
        wall_seconds: wall,
    })
}
