//! Executing a regression run (`sapm::fit` on the data its config names,
//! checkpointed into its folder) and its row of `results.csv`.

use super::{RunOutput, RunSpec};
use crate::results::ResultRow;
use sapm::checkpoint::StateReader;
use sapm::driver::NoObserver;
use sapm::fit::{CheckpointFile, Fitted, fit, fit_checkpointed};
use sapm::record::Record;
use std::path::Path;

/// Largest `train_mse / aux_loss` over the rows of `history` that have both
/// (NaN if none); `train_mse` is the metric named so in `metric_names`.
pub fn max_ls_over_aux(metric_names: &[String], history: &[Record]) -> f64 {
    let Some(k) = metric_names.iter().position(|n| n == "train_mse") else {
        return f64::NAN;
    };
    history
        .iter()
        .filter_map(|r| Some(r.values.get(k)? / r.aux_loss?))
        .fold(f64::NAN, |m, v| if v.is_nan() || v <= m { m } else { v })
}

/// The `results.csv` row of a finished regression fit.
pub fn regression_row(study: &str, spec: &RunSpec, f: &Fitted) -> ResultRow {
    let s = &f.summary;
    let d = &s.diagnostics;
    ResultRow {
        study: study.into(),
        run: spec.id.clone(),
        label: spec.label.clone(),
        method: s.method.clone(),
        depth: spec.cfg.network.spec(1, 1).widths.len() - 1,
        variant: spec.variant.clone(),
        seed: s.seed,
        status: s.status.as_str().into(),
        message: s.message.clone(),
        iterations: s.iterations,
        seconds: s.seconds,
        wall_seconds: f64::NAN,
        train_mse: s.train_mse,
        test_mse: s.test_mse,
        test_mse_f32: d.test_mse_f32,
        fragile: d.fragile,
        output_weight_norm_sq: d.output_weight_norm_sq,
        spectral_norm_product: d.spectral_norm_product,
        output_design_cond: d.output_design_cond,
        aux_loss: s.aux_loss.unwrap_or(f64::NAN),
        ls_over_aux: d.ls_over_aux.unwrap_or(f64::NAN),
        max_ls_over_aux: max_ls_over_aux(&f.metric_names, &f.history),
        consistency_bound: d.consistency_bound,
        constant_predictor_mse: d.constant_predictor_mse,
        extra: Vec::new(),
    }
}

/// The `results.csv` row of run `spec` (with `depth` layers) that could not
/// train: `status = "error"` and `message`.
pub fn error_row(study: &str, spec: &RunSpec, depth: usize, message: String) -> ResultRow {
    ResultRow::error(
        study,
        &spec.id,
        &spec.label,
        spec.cfg.method.name(),
        depth,
        &spec.variant,
        spec.cfg.seed,
        message,
    )
}

/// Train one regression run with `sapm::fit` on the data its config names.
/// Training errors become a row with `status = "error"`, not an `Err`.
pub fn execute_regression(study: &str, spec: &RunSpec) -> RunOutput {
    execute_regression_in(study, spec, None)
}

/// [`execute_regression`] with checkpoints in `dir/checkpoint.sapm` (per
/// `train.checkpoint_every` and `train.checkpoint_seconds`), continuing
/// from a checkpoint left there by an interrupted invocation of the same
/// run (same config); any other checkpoint is ignored and overwritten.
pub fn execute_regression_in(study: &str, spec: &RunSpec, dir: Option<&Path>) -> RunOutput {
    let depth = spec.cfg.network.spec(1, 1).widths.len() - 1;
    let fitted = spec
        .cfg
        .data
        .load(spec.cfg.seed)
        .and_then(|data| match dir {
            None => fit(&spec.cfg, &data),
            Some(dir) => {
                let path = dir.join(sapm::checkpoint::FILE_NAME);
                let mut ck = CheckpointFile::new(&path, &spec.cfg);
                let mut resume = StateReader::open(&path)
                    .ok()
                    .filter(|r| r.text("run.config").ok() == Some(spec.cfg.to_toml()));
                std::fs::create_dir_all(dir).map_err(|e| sapm::Error::io(dir, e))?;
                fit_checkpointed(
                    &spec.cfg,
                    Some(&data),
                    &mut NoObserver,
                    Some(&mut ck),
                    resume.as_mut(),
                )
            }
        });
    match fitted {
        Ok(f) => RunOutput::fitted(regression_row(study, spec, &f), f),
        Err(e) => RunOutput::error(error_row(study, spec, depth, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tiny_spec;
    use super::*;

    fn rec(it: usize, aux: Option<f64>, train: f64) -> Record {
        Record {
            iteration: it,
            seconds: 0.0,
            objective: 0.0,
            aux_loss: aux,
            values: vec![train, 0.0],
        }
    }

    #[test]
    fn max_ratio_ignores_rows_without_aux() {
        let names = vec!["train_mse".to_string(), "test_mse".to_string()];
        let h = vec![
            rec(0, None, 5.0),
            rec(1, Some(0.5), 1.0),
            rec(2, Some(0.25), 0.75),
            rec(3, Some(0.0), 0.0),
        ];
        assert_eq!(max_ls_over_aux(&names, &h), 3.0);
        assert!(max_ls_over_aux(&names, &h[..1]).is_nan());
        assert!(max_ls_over_aux(&["x".into()], &h).is_nan());
    }

    /// A run folder holding the checkpoint of an interrupted invocation of
    /// the same run continues from it (the rows before the checkpoint keep
    /// their recorded times) and ends with the same numbers.
    #[test]
    fn an_interrupted_study_run_continues_from_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = tiny_spec("r", sapm::Method::Sapm, 2, 6);
        spec.cfg = {
            let mut c = spec.cfg.into_inner();
            c.train.record_every = 1;
            c.train.checkpoint_every = 2;
            c.train.checkpoint_seconds = 0.0;
            c.check().unwrap()
        };
        let first = execute_regression_in("t", &spec, Some(dir.path()));
        let ck = dir.path().join(sapm::checkpoint::FILE_NAME);
        let r = StateReader::open(&ck).unwrap();
        assert_eq!(r.int("run.iteration").unwrap(), 4);
        let again = execute_regression_in("t", &spec, Some(dir.path()));
        let bits = |o: &RunOutput| -> Vec<Vec<u64>> {
            o.history
                .iter()
                .map(|h| h.values.iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        assert_eq!(bits(&first), bits(&again));
        assert_eq!(first.row.train_mse.to_bits(), again.row.train_mse.to_bits());
        for i in 0..=4 {
            assert_eq!(
                first.history[i].seconds.to_bits(),
                again.history[i].seconds.to_bits(),
                "row {i} was not read from the checkpoint"
            );
        }
        // A checkpoint of another config is ignored (and replaced).
        let mut other = spec.clone();
        other.cfg = {
            let mut c = other.cfg.into_inner();
            c.seed = 3;
            c.check().unwrap()
        };
        let o = execute_regression_in("t", &other, Some(dir.path()));
        assert_eq!(o.row.status, "max_iterations");
        assert_ne!(bits(&o), bits(&first));
    }
}
