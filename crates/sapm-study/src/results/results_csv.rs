//! `results.csv`: one row per run, written and read back.

use super::ResultRow;
use crate::error::{Error, Result};
use std::path::Path;

/// Fixed columns of `results.csv`, in order (extras follow).
pub const COLUMNS: [&str; 25] = [
    "study",
    "run",
    "label",
    "method",
    "depth",
    "variant",
    "seed",
    "status",
    "failed",
    "fragile",
    "iterations",
    "seconds",
    "wall_seconds",
    "train_mse",
    "test_mse",
    "test_mse_f32",
    "output_weight_norm_sq",
    "spectral_norm_product",
    "output_design_cond",
    "aux_loss",
    "ls_over_aux",
    "max_ls_over_aux",
    "consistency_bound",
    "constant_predictor_mse",
    "message",
];

/// A number as `results.csv` and `cells.csv` write it (`1.5e-3`, `NaN`, `inf`).
pub(super) fn num(v: f64) -> String {
    format!("{v:e}")
}

/// `results.csv` text: a header of [`COLUMNS`] plus the first row's extra names.
pub fn to_csv(rows: &[ResultRow]) -> Result<String> {
    let extras: Vec<String> = rows
        .first()
        .map(|r| r.extra.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let mut header: Vec<String> = COLUMNS.iter().map(|s| s.to_string()).collect();
    header.extend(extras.iter().cloned());
    let records = rows.iter().map(|r| {
        let mut rec = vec![
            r.study.clone(),
            r.run.clone(),
            r.label.clone(),
            r.method.clone(),
            r.depth.to_string(),
            r.variant.clone(),
            r.seed.to_string(),
            r.status.clone(),
            u8::from(r.failed()).to_string(),
            u8::from(r.fragile).to_string(),
            r.iterations.to_string(),
            num(r.seconds),
            num(r.wall_seconds),
            num(r.train_mse),
            num(r.test_mse),
            num(r.test_mse_f32),
            num(r.output_weight_norm_sq),
            num(r.spectral_norm_product),
            num(r.output_design_cond),
            num(r.aux_loss),
            num(r.ls_over_aux),
            num(r.max_ls_over_aux),
            num(r.consistency_bound),
            num(r.constant_predictor_mse),
            r.message.clone(),
        ];
        for n in &extras {
            rec.push(num(r.extra(n).unwrap_or(f64::NAN)));
        }
        rec
    });
    csv_text("results.csv", &header, records)
}

/// CSV text of a `header` line and `records`; errors name the file `name`.
pub(super) fn csv_text(
    name: &str,
    header: &[String],
    records: impl IntoIterator<Item = Vec<String>>,
) -> Result<String> {
    let csv_err = |e: csv::Error| Error::format(name, e.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(csv_err)?;
    for rec in records {
        w.write_record(&rec).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::format(name, e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Error::format(name, e.to_string()))
}

/// A number field of `results.csv` (empty: NaN); errors name the row and column.
fn number(path: &Path, row_no: usize, column: &str, field: Option<&str>) -> Result<f64> {
    let t = field.unwrap_or("").trim();
    if t.is_empty() {
        return Ok(f64::NAN);
    }
    t.parse::<f64>().map_err(|_| {
        Error::format(
            path,
            format!("row {row_no}, column {column:?}: {t:?} is not a number"),
        )
    })
}

/// Parse `results.csv` text (as written by [`to_csv`]); `path` names the file in errors.
/// Missing numeric fields read as NaN; the `failed` column is ignored and
/// recomputed by [`ResultRow::failed`].
pub fn from_csv(text: &str, path: &Path) -> Result<Vec<ResultRow>> {
    let mut rd = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = rd
        .headers()
        .map_err(|e| Error::format(path, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| -> Result<usize> {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::format(path, format!("missing column {name:?}")))
    };
    let idx: Vec<usize> = COLUMNS.iter().map(|c| col(c)).collect::<Result<_>>()?;
    let extras: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !COLUMNS.contains(&h.as_str()))
        .map(|(i, h)| (i, h.clone()))
        .collect();
    let mut rows = Vec::new();
    for (line, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| Error::format(path, e.to_string()))?;
        let row_no = line + 2;
        let s = |k: usize| rec.get(idx[k]).unwrap_or("").to_string();
        let f = |k: usize| number(path, row_no, COLUMNS[k], rec.get(idx[k]));
        let u = |k: usize| -> Result<u64> {
            let t = rec.get(idx[k]).unwrap_or("").trim();
            t.parse::<u64>().map_err(|_| {
                Error::format(
                    path,
                    format!(
                        "row {row_no}, column {:?}: {t:?} is not a whole number",
                        COLUMNS[k]
                    ),
                )
            })
        };
        let extra = extras
            .iter()
            .map(|(i, name)| Ok((name.clone(), number(path, row_no, name, rec.get(*i))?)))
            .collect::<Result<Vec<_>>>()?;
        rows.push(ResultRow {
            study: s(0),
            run: s(1),
            label: s(2),
            method: s(3),
            depth: u(4)? as usize,
            variant: s(5),
            seed: u(6)?,
            status: s(7),
            fragile: u(9)? != 0,
            iterations: u(10)? as usize,
            seconds: f(11)?,
            wall_seconds: f(12)?,
            train_mse: f(13)?,
            test_mse: f(14)?,
            test_mse_f32: f(15)?,
            output_weight_norm_sq: f(16)?,
            spectral_norm_product: f(17)?,
            output_design_cond: f(18)?,
            aux_loss: f(19)?,
            ls_over_aux: f(20)?,
            max_ls_over_aux: f(21)?,
            consistency_bound: f(22)?,
            constant_predictor_mse: f(23)?,
            message: s(24),
            extra,
        });
    }
    Ok(rows)
}
