//! Cells (runs of one variant, depth and method over seeds), their
//! aggregates and `cells.csv`.

use super::results_csv::{csv_text, num};
use super::{Quantiles, ResultRow};
use crate::error::Result;

/// Which runs share a cell: same variant, depth and method label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CellKey {
    /// Study variant.
    pub variant: String,
    /// Depth `L`.
    pub depth: usize,
    /// Method label.
    pub label: String,
}

/// Aggregate over the seeds of one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellStats {
    /// The cell.
    pub key: CellKey,
    /// Runs in the cell.
    pub n: usize,
    /// Runs that failed (see the module docs).
    pub failed: usize,
    /// Runs whose f32 evaluation is fragile.
    pub fragile: usize,
    /// Runs that stopped as `diverged`.
    pub diverged: usize,
    /// Runs that ended in an error.
    pub errors: usize,
    /// Final train MSE.
    pub train_mse: Quantiles,
    /// Final test MSE.
    pub test_mse: Quantiles,
    /// Final test MSE in f32.
    pub test_mse_f32: Quantiles,
    /// `|W_L|_F^2`.
    pub output_weight_norm_sq: Quantiles,
    /// Training seconds.
    pub seconds: Quantiles,
    /// Iterations.
    pub iterations: Quantiles,
    /// Largest `train_mse / aux_loss` over each run's history (runs without
    /// an auxiliary loss are left out; NaN if none has one).
    pub max_ls_over_aux: Quantiles,
}

impl CellStats {
    /// `failed / n` (NaN for an empty cell).
    pub fn failure_rate(&self) -> f64 {
        self.failed as f64 / self.n as f64
    }
    /// `fragile / n` (NaN for an empty cell).
    pub fn fragile_rate(&self) -> f64 {
        self.fragile as f64 / self.n as f64
    }
    /// Sound: fragile and failed in at most half the runs.
    pub fn sound(&self) -> bool {
        2 * self.fragile <= self.n && 2 * self.failed <= self.n
    }
}

/// Aggregate rows into cells keyed by (variant, depth, label), in order of first appearance.
pub fn aggregate(rows: &[ResultRow]) -> Vec<CellStats> {
    let mut keys: Vec<CellKey> = Vec::new();
    for r in rows {
        let k = CellKey {
            variant: r.variant.clone(),
            depth: r.depth,
            label: r.label.clone(),
        };
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|key| {
            let rs: Vec<&ResultRow> = rows
                .iter()
                .filter(|r| {
                    r.variant == key.variant && r.depth == key.depth && r.label == key.label
                })
                .collect();
            let q = |f: fn(&ResultRow) -> f64| Quantiles::of(rs.iter().map(|r| f(r)));
            CellStats {
                n: rs.len(),
                failed: rs.iter().filter(|r| r.failed()).count(),
                fragile: rs.iter().filter(|r| r.fragile).count(),
                diverged: rs.iter().filter(|r| r.status == "diverged").count(),
                errors: rs.iter().filter(|r| r.status == "error").count(),
                train_mse: q(|r| r.train_mse),
                test_mse: q(|r| r.test_mse),
                test_mse_f32: q(|r| r.test_mse_f32),
                output_weight_norm_sq: q(|r| r.output_weight_norm_sq),
                seconds: q(|r| r.seconds),
                iterations: q(|r| r.iterations as f64),
                // Not a number here means "no auxiliary loss", not a failed run.
                max_ls_over_aux: Quantiles::of(
                    rs.iter().map(|r| r.max_ls_over_aux).filter(|v| !v.is_nan()),
                ),
                key,
            }
        })
        .collect()
}

/// `cells.csv` text: one row per cell with rates and quantiles.
pub fn cells_csv(cells: &[CellStats]) -> Result<String> {
    let mut header = vec![
        "variant",
        "depth",
        "label",
        "n",
        "failed",
        "failure_rate",
        "fragile",
        "fragile_rate",
        "diverged",
        "errors",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for q in [
        "train_mse",
        "test_mse",
        "test_mse_f32",
        "output_weight_norm_sq",
        "seconds",
        "iterations",
        "max_ls_over_aux",
    ] {
        for s in ["median", "min", "max"] {
            header.push(format!("{q}_{s}"));
        }
    }
    let records = cells.iter().map(|c| {
        let mut rec = vec![
            c.key.variant.clone(),
            c.key.depth.to_string(),
            c.key.label.clone(),
            c.n.to_string(),
            c.failed.to_string(),
            num(c.failure_rate()),
            c.fragile.to_string(),
            num(c.fragile_rate()),
            c.diverged.to_string(),
            c.errors.to_string(),
        ];
        for q in [
            c.train_mse,
            c.test_mse,
            c.test_mse_f32,
            c.output_weight_norm_sq,
            c.seconds,
            c.iterations,
            c.max_ls_over_aux,
        ] {
            rec.extend([num(q.median), num(q.min), num(q.max)]);
        }
        rec
    });
    csv_text("cells.csv", &header, records)
}
