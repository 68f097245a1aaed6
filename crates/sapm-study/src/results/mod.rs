//! One row per run (`results.csv`), and per-cell aggregates: median/min/max,
//! failure rate and fragility rate.
//!
//! **Failure**: a run *fails* when its final train MSE is above the MSE of the
//! best constant predictor on the same training set (the variance of the
//! targets, `summary.diagnostics.constant_predictor_mse`), when the train MSE
//! is not a number, or when the run ended in an error. Such a run learned
//! nothing a constant could not. Diverged runs are judged on the last finite
//! model the driver kept, and counted separately as well.
//!
//! **Fragility**: a run is *fragile* when evaluating its model in f32 gives a
//! test MSE above `2 x` the f64 test MSE `+ 1e-10`
//! (`summary.diagnostics.fragile`): the fit relies on cancellation between
//! large weights. Read every accuracy number next to `test_mse_f32` and the
//! output-weight norm `|W_L|_F^2`.
//!
//! **PINN runs** carry the extra columns `rel_l2` and `fail_rel_l2` (a
//! threshold); for them the rule is instead: `rel_l2 >= fail_rel_l2`, `rel_l2`
//! not a number, or an error (the MSE against a constant says little about a
//! PDE solution whose error is already relative).
//!
//! Files: `results_csv` (writing and reading `results.csv`), `quantiles`
//! ([`Quantiles`]), `cells` (per-cell aggregates and `cells.csv`).

mod cells;
mod quantiles;
mod results_csv;

pub use cells::{CellKey, CellStats, aggregate, cells_csv};
pub use quantiles::Quantiles;
pub use results_csv::{COLUMNS, from_csv, to_csv};

/// One run's outcome, as a row of `results.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// Study name.
    pub study: String,
    /// Run id (its folder under `runs/`).
    pub run: String,
    /// Method label within the study (e.g. `sapm-warm`).
    pub label: String,
    /// The config's `method`.
    pub method: String,
    /// Number of affine layers `L`.
    pub depth: usize,
    /// Study-specific variant (e.g. `bias=zero`, or an ablation knob).
    pub variant: String,
    /// Run seed.
    pub seed: u64,
    /// `summary.status`, or `error` if the run could not train.
    pub status: String,
    /// Stop reason or error message.
    pub message: String,
    /// Iterations completed.
    pub iterations: usize,
    /// Training seconds (evaluation excluded).
    pub seconds: f64,
    /// Wall seconds of the whole run (data, training, evaluation, files).
    pub wall_seconds: f64,
    /// Final train MSE.
    pub train_mse: f64,
    /// Final test MSE (f64).
    pub test_mse: f64,
    /// Final test MSE of the model evaluated in f32.
    pub test_mse_f32: f64,
    /// `summary.diagnostics.fragile`.
    pub fragile: bool,
    /// `|W_L|_F^2`.
    pub output_weight_norm_sq: f64,
    /// Product of the layers' spectral norms.
    pub spectral_norm_product: f64,
    /// Condition number of the output layer's design matrix.
    pub output_design_cond: f64,
    /// Final PM/SAPM loss (NaN for other methods).
    pub aux_loss: f64,
    /// Final `J_LS / J_aux` (NaN for other methods).
    pub ls_over_aux: f64,
    /// Largest `train_mse / aux_loss` over the recorded history (NaN for other methods).
    pub max_ls_over_aux: f64,
    /// `L max(1, K^(2(L-1)))`, SAPM's consistency constant.
    pub consistency_bound: f64,
    /// MSE of the best constant predictor on the training set.
    pub constant_predictor_mse: f64,
    /// Study-specific extra columns (same names on every row of a study).
    pub extra: Vec<(String, f64)>,
}

impl ResultRow {
    /// An empty row for a run that could not train (`status = "error"`).
    pub fn error(
        study: &str,
        run: &str,
        label: &str,
        method: &str,
        depth: usize,
        variant: &str,
        seed: u64,
        message: String,
    ) -> Self {
        ResultRow {
            study: study.into(),
            run: run.into(),
            label: label.into(),
            method: method.into(),
            depth,
            variant: variant.into(),
            seed,
            status: "error".into(),
            message,
            iterations: 0,
            seconds: 0.0,
            wall_seconds: f64::NAN,
            train_mse: f64::NAN,
            test_mse: f64::NAN,
            test_mse_f32: f64::NAN,
            fragile: false,
            output_weight_norm_sq: f64::NAN,
            spectral_norm_product: f64::NAN,
            output_design_cond: f64::NAN,
            aux_loss: f64::NAN,
            ls_over_aux: f64::NAN,
            max_ls_over_aux: f64::NAN,
            consistency_bound: f64::NAN,
            constant_predictor_mse: f64::NAN,
            extra: Vec::new(),
        }
    }

    /// See the module docs: train MSE above the constant predictor's, not a number, or an error.
    pub fn failed(&self) -> bool {
        match self.extra(FAIL_REL_L2).filter(|t| t.is_finite()) {
            // Only "less than" passes, so a NaN rel_l2 fails.
            Some(t) => {
                self.status == "error"
                    || self.extra("rel_l2").unwrap_or(f64::NAN).partial_cmp(&t)
                        != Some(std::cmp::Ordering::Less)
            }
            None => is_failure(&self.status, self.train_mse, self.constant_predictor_mse),
        }
    }

    /// The extra column `name`, if present.
    pub fn extra(&self, name: &str) -> Option<f64> {
        self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// Extra column holding a PINN run's failure threshold on `rel_l2`.
pub const FAIL_REL_L2: &str = "fail_rel_l2";

/// The regression failure rule of the module docs.
pub fn is_failure(status: &str, train_mse: f64, constant_predictor_mse: f64) -> bool {
    // Not "less or equal" also covers NaN on either side.
    status == "error"
        || !matches!(
            train_mse.partial_cmp(&constant_predictor_mse),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A hand-made table: 2 cells x 4 seeds with known failures and fragility.
    /// Constant-predictor MSE 0.2 everywhere.
    const TABLE: &str = "\
study,run,label,method,depth,variant,seed,status,failed,fragile,iterations,seconds,wall_seconds,train_mse,test_mse,test_mse_f32,output_weight_norm_sq,spectral_norm_product,output_design_cond,aux_loss,ls_over_aux,max_ls_over_aux,consistency_bound,constant_predictor_mse,message,extra_a
depth,r1,gd,ls-gd,30,bias=uniform,0,time_limit,1,0,100,3,4,0.25,0.3,0.3,2,1,10,,,,30,0.2,,1
depth,r2,gd,ls-gd,30,bias=uniform,1,time_limit,0,0,100,3,4,0.2,0.2,0.2,2,1,10,,,,30,0.2,,1
depth,r3,gd,ls-gd,30,bias=uniform,2,time_limit,0,0,100,3,4,1e-3,2e-3,2e-3,2,1,10,,,,30,0.2,,1
depth,r4,gd,ls-gd,30,bias=uniform,3,diverged,0,0,100,3,4,NaN,NaN,NaN,2,1,10,,,,30,0.2,diverged at 3,1
depth,r5,sapm,sapm,30,bias=uniform,0,time_limit,0,1,10,3,4,1e-6,1e-5,40,1e13,1,10,1e-6,1,1.5,30,0.2,,2
depth,r6,sapm,sapm,30,bias=uniform,1,time_limit,0,0,10,3,4,2e-6,3e-5,3e-5,5,1,10,2e-6,1,1.2,30,0.2,,2
depth,r7,sapm,sapm,30,bias=uniform,2,error,0,0,0,0,4,,,,,,,,,,,,bad things,2
depth,r8,sapm,sapm,30,bias=uniform,3,max_iterations,1,1,10,3,4,0.19,0.5,60,1e14,1,10,1e-9,1e8,2e8,30,0.2,,2
";

    #[test]
    fn failure_and_fragility_rates_on_a_hand_made_table() {
        let rows = from_csv(TABLE, Path::new("hand.csv")).unwrap();
        assert_eq!(rows.len(), 8);
        // Rule: train MSE above the constant predictor's, NaN, or an error.
        let failed: Vec<bool> = rows.iter().map(ResultRow::failed).collect();
        assert_eq!(
            failed,
            [true, false, false, true, false, false, true, false]
        );
        let cells = aggregate(&rows);
        assert_eq!(cells.len(), 2);
        let gd = &cells[0];
        assert_eq!((gd.key.label.as_str(), gd.key.depth), ("gd", 30));
        assert_eq!(
            (gd.n, gd.failed, gd.fragile, gd.diverged, gd.errors),
            (4, 2, 0, 1, 0)
        );
        assert_eq!(gd.failure_rate(), 0.5);
        // NaN counts as +inf: sorted train MSE = [1e-3, 0.2, 0.25, inf].
        assert_eq!(gd.train_mse.median, 0.225);
        assert_eq!(gd.train_mse.min, 1e-3);
        assert_eq!(gd.train_mse.max, f64::INFINITY);
        let sapm = &cells[1];
        assert_eq!(
            (sapm.n, sapm.failed, sapm.fragile, sapm.errors),
            (4, 1, 2, 1)
        );
        assert_eq!(sapm.failure_rate(), 0.25);
        assert_eq!(sapm.fragile_rate(), 0.5);
        // The error row has no ratio: left out, not counted as +inf.
        assert_eq!(sapm.max_ls_over_aux.max, 2e8);
        assert_eq!(sapm.max_ls_over_aux.median, 1.5);
        assert!(gd.max_ls_over_aux.median.is_nan());
        assert_eq!(rows[4].extra("extra_a"), Some(2.0));
    }

    #[test]
    fn csv_round_trips() {
        let rows = from_csv(TABLE, Path::new("hand.csv")).unwrap();
        let text = to_csv(&rows).unwrap();
        let back = from_csv(&text, Path::new("x.csv")).unwrap();
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!(a.run, b.run);
            assert_eq!(a.failed(), b.failed());
            assert_eq!(a.train_mse.to_bits(), b.train_mse.to_bits());
            assert_eq!(a.test_mse_f32.to_bits(), b.test_mse_f32.to_bits());
            assert_eq!(a.message, b.message);
            assert_eq!(a.extra, b.extra);
        }
        // The failed column is written from the rule, whatever the input said.
        let failed_col: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(8).unwrap())
            .collect();
        assert_eq!(failed_col, ["1", "0", "0", "1", "0", "0", "1", "0"]);
        let cells = cells_csv(&aggregate(&rows)).unwrap();
        assert_eq!(cells.lines().count(), 3);
        assert!(
            cells
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("bias=uniform,30,gd,4,2,5e-1,")
        );
    }

    #[test]
    fn bad_tables_name_row_and_column() {
        let bad = TABLE.replace("r2,gd,ls-gd,30", "r2,gd,ls-gd,thirty");
        let e = from_csv(&bad, Path::new("t.csv")).unwrap_err().to_string();
        assert!(
            e.contains("t.csv") && e.contains("row 3") && e.contains("depth"),
            "{e}"
        );
        let e = from_csv("study,run\n", Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing column \"label\""), "{e}");
        assert!(Quantiles::of([]).median.is_nan());
        assert_eq!(Quantiles::of([3.0, 1.0, 2.0]).median, 2.0);
        assert!(is_failure("time_limit", 1.0, 0.5));
        assert!(!is_failure("time_limit", 0.5, 0.5));
        assert!(is_failure("error", 0.0, 0.5));
    }
}
