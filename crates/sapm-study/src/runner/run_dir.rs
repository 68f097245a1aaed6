//! A run's folder `runs/<id>/`: written when the run ends, read back when
//! an earlier invocation completed it.

use super::{RunOutput, RunSpec};
use crate::error::{Error, Result};
use sapm::model::Model;
use std::path::Path;

/// Write via a temporary file and a rename, without `fsync`: a study writes
/// thousands of small files, and syncing each one cost up to a second per run
/// on a busy disk (a crash loses at most the runs in flight, never leaves a torn file).
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let res = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Write a run's folder: `config.toml`, `history.csv`, `row.csv` (its
/// `results.csv` row), (if asked) `model.json` and, last, `summary.json`,
/// which marks the run complete; or `error.txt` for a run that could not
/// train.
pub(super) fn write_run(dir: &Path, spec: &RunSpec, out: &RunOutput) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let _ = std::fs::remove_file(dir.join("summary.json"));
    write_file(&dir.join("config.toml"), &spec.cfg.to_toml())?;
    match &out.summary_json {
        Some(json) => {
            write_file(
                &dir.join("history.csv"),
                &sapm::record::history_csv(&out.metric_names, &out.history),
            )?;
            write_file(
                &dir.join("row.csv"),
                &crate::results::to_csv(std::slice::from_ref(&out.row))?,
            )?;
            if spec.save_model
                && let Some(m) = &out.model
            {
                write_file(&dir.join("model.json"), &m.to_json())?;
            }
            write_file(&dir.join("summary.json"), json)?;
            // Complete: the checkpoint (as large as the auxiliaries) is no longer needed.
            let _ = std::fs::remove_file(dir.join(sapm::checkpoint::FILE_NAME));
        }
        None => write_file(&dir.join("error.txt"), &out.row.message)?,
    }
    Ok(())
}

/// The output of a run completed by an earlier invocation: its folder has
/// `summary.json` (written last), the same `config.toml` as `spec` and
/// everything the study needs from it. `None` means: train it (again).
pub(super) fn load_complete(dir: &Path, spec: &RunSpec) -> Option<RunOutput> {
    if !dir.join("summary.json").is_file() {
        return None;
    }
    let cfg = std::fs::read_to_string(dir.join("config.toml")).ok()?;
    if cfg != spec.cfg.to_toml() {
        return None;
    }
    let p = dir.join("row.csv");
    let mut rows = crate::results::from_csv(&std::fs::read_to_string(&p).ok()?, &p).ok()?;
    if rows.len() != 1 || rows[0].run != spec.id {
        return None;
    }
    let (metric_names, history) =
        crate::runplot::read_history_csv(&dir.join("history.csv")).ok()?;
    let model = if spec.save_model || spec.keep_model {
        Some(Model::load(&dir.join("model.json")).ok()?)
    } else {
        None
    };
    Some(RunOutput {
        row: rows.pop()?,
        history,
        metric_names,
        summary_json: None,
        model,
    })
}
