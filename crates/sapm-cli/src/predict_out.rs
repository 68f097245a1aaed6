//! What `sapm predict` writes: CSV (to a file or stdout, through the `csv`
//! crate's writer, so any column name round-trips), `.npy` (the predictions,
//! rows x outputs) or `.npz` (`inputs`, `predictions` and their names).

use crate::Usage;
use anyhow::Result;
use faer::Mat;
use sapm::model::Model;
use std::io::Write;
use std::path::Path;

/// An output format of `sapm predict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictFormat {
    /// Inputs, then predictions, with a header.
    Csv,
    /// Predictions only, `rows x outputs` f64.
    Npy,
    /// `inputs`, `predictions`, `input_names`, `prediction_names`.
    Npz,
}

impl PredictFormat {
    /// `--format` if given, else the extension of `output` (`.npy`, `.npz`;
    /// CSV otherwise, and for `-`, stdout).
    pub fn choose(format: Option<&str>, output: &Path) -> Result<PredictFormat> {
        let stdout = output.as_os_str() == "-";
        let f = match format {
            Some("csv") => PredictFormat::Csv,
            Some("npy") => PredictFormat::Npy,
            Some("npz") => PredictFormat::Npz,
            Some(other) => {
                return Err(Usage(format!("--format {other:?}: expected csv, npy or npz")).into());
            }
            None => match output
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("npy") => PredictFormat::Npy,
                Some("npz") => PredictFormat::Npz,
                _ => PredictFormat::Csv,
            },
        };
        if stdout && f != PredictFormat::Csv {
            return Err(Usage(
                "--output - writes CSV to stdout; give a file name for npy or npz".into(),
            )
            .into());
        }
        Ok(f)
    }
}

/// The CSV header: the model's inputs, then its outputs with `_pred`.
pub fn header(model: &Model) -> Vec<String> {
    model
        .input_names
        .iter()
        .cloned()
        .chain(model.output_names.iter().map(|n| format!("{n}_pred")))
        .collect()
}

/// A CSV writer on `w` with `header` written.
pub fn csv_writer<W: Write>(w: W, header: &[String]) -> Result<csv::Writer<W>> {
    let mut cw = csv::Writer::from_writer(w);
    cw.write_record(header)?;
    Ok(cw)
}

/// One row per sample: inputs, then predictions (shortest round-trip `e` notation).
pub fn csv_rows<W: Write>(w: &mut csv::Writer<W>, x: &Mat<f64>, u: &Mat<f64>) -> Result<()> {
    let mut row: Vec<String> = Vec::with_capacity(x.nrows() + u.nrows());
    for j in 0..x.ncols() {
        row.clear();
        row.extend((0..x.nrows()).map(|i| format!("{:e}", x[(i, j)])));
        row.extend((0..u.nrows()).map(|i| format!("{:e}", u[(i, j)])));
        w.write_record(&row)?;
    }
    Ok(())
}
