//! `sapm predict` and `sapm eval`: columns matched by name, rows streamed in
//! batches (memory does not grow with the number of rows), non-finite
//! predictions refused, Ctrl-C honoured between batches.

use crate::predict_out::{self, PredictFormat};
use crate::signals;
use anyhow::{Result, bail};
use faer::Mat;
use sapm::data::RowReader;
use sapm::error::quoted_list;
use sapm::model::Model;
use std::path::Path;

/// Indices of the model's columns in the file: by name; by position (the
/// first `d` (+ `m`) columns, in order) only with `--by-position`.
fn pick_columns(
    model: &Model,
    names: &[String],
    path: &Path,
    by_position: bool,
    want_outputs: bool,
) -> Result<Vec<usize>> {
    let mut want: Vec<&String> = model.input_names.iter().collect();
    if want_outputs {
        want.extend(&model.output_names);
    }
    let found: Option<Vec<usize>> = want
        .iter()
        .map(|w| names.iter().position(|n| n == *w))
        .collect();
    if let Some(idx) = found {
        return Ok(idx);
    }
    let missing: Vec<String> = want
        .iter()
        .filter(|w| !names.contains(w))
        .map(|w| (*w).clone())
        .collect();
    if by_position {
        if names.len() != want.len() {
            bail!(
                "{}: --by-position needs exactly {} columns ({}), the file has {}",
                path.display(),
                want.len(),
                if want_outputs {
                    "the model's inputs, then its outputs"
                } else {
                    "the model's inputs"
                },
                names.len()
            );
        }
        return Ok((0..want.len()).collect());
    }
    bail!(
        "{}: expected columns {} of the model, missing {}; found {}. Rename the columns, or pass --by-position to take the file's {} columns in order",
        path.display(),
        quoted_list(&want.iter().map(|s| (*s).clone()).collect::<Vec<_>>()),
        quoted_list(&missing),
        quoted_list(names),
        want.len()
    )
}

/// Batches of the model's inputs (`d x rows`) and, for `eval`, targets.
struct Batches {
    rows: RowReader,
    cols: Vec<usize>,
    batch: usize,
    buf: Vec<f64>,
}

impl Batches {
    fn open(
        model: &Model,
        path: &Path,
        by_position: bool,
        want_outputs: bool,
        max_memory: Option<u64>,
    ) -> Result<Batches> {
        let rows = RowReader::open(path)?;
        let cols = pick_columns(model, rows.names(), path, by_position, want_outputs)?;
        let batch = match max_memory.or_else(sapm::memory::default_limit) {
            Some(limit) => sapm::memory::predict_batch_rows(model.net.widths(), limit)?,
            None => sapm::memory::MAX_BATCH_ROWS,
        };
        Ok(Batches {
            rows,
            cols,
            batch,
            buf: Vec::new(),
        })
    }

    /// The next batch as a `columns x rows` matrix (`None` at the end).
    fn next(&mut self) -> Result<Option<Mat<f64>>> {
        if signals::stop_requested() {
            return Err(sapm::Error::Interrupted(format!(
                "stopped after {} rows; nothing written",
                self.rows.rows_read()
            ))
            .into());
        }
        let k = self.rows.next_batch(self.batch, &mut self.buf)?;
        if k == 0 {
            return Ok(None);
        }
        let ncol = self.rows.names().len();
        let (cols, buf) = (&self.cols, &self.buf);
        Ok(Some(Mat::from_fn(cols.len(), k, |i, j| {
            buf[j * ncol + cols[i]]
        })))
    }
}

/// An error naming the first non-finite prediction.
fn check_finite(model: &Model, u: &Mat<f64>, first_row: usize) -> Result<()> {
    for j in 0..u.ncols() {
        for i in 0..u.nrows() {
            let v = u[(i, j)];
            if !v.is_finite() {
                bail!(
                    "row {}: the prediction of {:?} is {v} (the model overflows on these inputs: its weights or the inputs are too large); nothing written",
                    first_row + j + 1,
                    model.output_names[i]
                );
            }
        }
    }
    Ok(())
}

/// Push every batch through the model (predictions finite) and hand the
/// inputs and predictions to `sink`.
fn each_prediction(
    model: &Model,
    b: &mut Batches,
    mut sink: impl FnMut(&Mat<f64>, &Mat<f64>) -> Result<()>,
) -> Result<()> {
    let mut done = 0;
    while let Some(x) = b.next()? {
        let u = model.predict(x.as_ref())?;
        check_finite(model, &u, done)?;
        sink(&x, &u)?;
        done += x.ncols();
    }
    Ok(())
}

pub fn predict(
    model: &Path,
    input: &Path,
    output: &Path,
    format: Option<&str>,
    by_position: bool,
    max_memory: Option<u64>,
) -> Result<()> {
    let format = PredictFormat::choose(format, output)?;
    let model = Model::load_run_or_file(model)?;
    let mut b = Batches::open(&model, input, by_position, false, max_memory)?;
    let header = predict_out::header(&model);
    match format {
        PredictFormat::Csv if output.as_os_str() == "-" => {
            let mut w = predict_out::csv_writer(std::io::stdout().lock(), &header)?;
            each_prediction(&model, &mut b, |x, u| predict_out::csv_rows(&mut w, x, u))?;
            w.flush()?;
            Ok(())
        }
        PredictFormat::Csv => {
            // The file appears whole or not at all: an error inside the
            // atomic writer's closure is kept and reported as it was.
            let mut failure: Option<anyhow::Error> = None;
            let res = sapm::io::write_atomic_with(output, |w| {
                let run = || -> Result<()> {
                    let mut cw = predict_out::csv_writer(w, &header)?;
                    each_prediction(&model, &mut b, |x, u| predict_out::csv_rows(&mut cw, x, u))?;
                    cw.flush()?;
                    Ok(())
                };
                run().map_err(|e| {
                    failure = Some(e);
                    std::io::Error::other("stopped")
                })
            });
            match (failure, res) {
                (Some(e), _) => Err(e),
                (None, r) => Ok(r?),
            }
        }
        PredictFormat::Npy | PredictFormat::Npz => {
            let (d, m) = (model.input_names.len(), model.output_names.len());
            let (mut xs, mut us, mut n) = (Vec::new(), Vec::new(), 0usize);
            each_prediction(&model, &mut b, |x, u| {
                for j in 0..x.ncols() {
                    xs.extend((0..d).map(|i| x[(i, j)]));
                    us.extend((0..m).map(|i| u[(i, j)]));
                }
                n += x.ncols();
                Ok(())
            })?;
            let bytes = if format == PredictFormat::Npy {
                sapm::export::npy_f64(&[n, m], &us)
            } else {
                let pred_names: Vec<String> = header[d..].to_vec();
                sapm::export::npz_bytes(
                    &[("inputs", &[n, d], &xs), ("predictions", &[n, m], &us)],
                    &[
                        ("input_names", &model.input_names),
                        ("prediction_names", &pred_names),
                    ],
                )?
            };
            sapm::io::write_atomic(output, &bytes)?;
            Ok(())
        }
    }
}

pub fn eval(model: &Path, data: &Path, by_position: bool, max_memory: Option<u64>) -> Result<()> {
    let model = Model::load_run_or_file(model)?;
    let mut b = Batches::open(&model, data, by_position, true, max_memory)?;
    let (d, m) = (model.input_names.len(), model.output_names.len());
    let (mut se, mut se32, mut ny) = (vec![0.0; m], 0.0, 0.0);
    let mut maxe = 0.0f64;
    let mut n = 0usize;
    while let Some(xy) = b.next()? {
        let x = xy.as_ref().subrows(0, d);
        let y = xy.as_ref().subrows(d, m);
        let u = model.predict(x)?;
        check_finite(&model, &u, n)?;
        let u32 = model.predict_f32(x);
        for j in 0..xy.ncols() {
            for i in 0..m {
                let e = u[(i, j)] - y[(i, j)];
                se[i] += e * e;
                se32 += (u32[(i, j)] - y[(i, j)]).powi(2);
                ny += y[(i, j)] * y[(i, j)];
                maxe = maxe.max(e.abs());
            }
        }
        n += xy.ncols();
    }
    let nf = n as f64;
    let total: f64 = se.iter().sum();
    // Mean over rows and outputs (scikit-learn's and PyTorch's "mse").
    let mse = total / (nf * m as f64);
    let per_output: serde_json::Map<String, serde_json::Value> = model
        .output_names
        .iter()
        .zip(&se)
        .map(|(name, s)| (name.clone(), serde_json::json!(s / nf)))
        .collect();
    let v = serde_json::json!({
        "n": n,
        "outputs": m,
        "mse": mse,
        "mse_per_output": per_output,
        "rmse": mse.sqrt(),
        "max_abs_error": maxe,
        "rel_l2": if ny > 0.0 { (total / ny).sqrt() } else { f64::NAN },
        "mse_f32": se32 / (nf * m as f64),
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
