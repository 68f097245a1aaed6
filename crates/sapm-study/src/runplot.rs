//! Plots of single runs: loss curves from a history, prediction vs truth for
//! 1-D regression, and `sapm plot RUN_DIR` for a `sapm train` output folder.

use crate::error::{Error, Result};
use crate::pinnplot::PLOT_GRID;
use crate::plot::{Axis, Figure, LineChart, Panel, Series, Style, save};
use sapm::config::TrainConfig;
use sapm::data::Split;
use sapm::model::Model;
use sapm::record::Record;
use std::path::{Path, PathBuf};

/// Horizontal axis of a history plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Iterations.
    Iteration,
    /// Training seconds.
    Seconds,
}

impl XAxis {
    fn of(self, r: &Record) -> f64 {
        match self {
            XAxis::Iteration => r.iteration as f64,
            XAxis::Seconds => r.seconds,
        }
    }
    fn label(self) -> &'static str {
        match self {
            XAxis::Iteration => "iteration",
            XAxis::Seconds => "training seconds",
        }
    }
}

/// Loss curves of one run on a log vertical axis: the objective, the
/// auxiliary loss (PM/SAPM) and every recorded metric.
pub fn history_chart(
    title: &str,
    metric_names: &[String],
    history: &[Record],
    x: XAxis,
) -> LineChart {
    let mut c = LineChart::new(title, Axis::linear(x.label()), Axis::log("loss / error"));
    c = c.with(Series::line(
        "objective",
        history.iter().map(|r| (x.of(r), r.objective)).collect(),
        0,
    ));
    let aux: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|r| Some((x.of(r), r.aux_loss?)))
        .collect();
    if !aux.is_empty() {
        c = c.with(Series::new(
            "aux_loss (J_PM / J_SAPM)",
            aux,
            4,
            Style::Dashed,
        ));
    }
    for (k, name) in metric_names.iter().enumerate() {
        let color = match name.as_str() {
            "train_mse" => 3,
            "test_mse" => 2,
            _ => 5 + k,
        };
        c = c.with(Series::line(
            name.clone(),
            history
                .iter()
                .filter_map(|r| Some((x.of(r), *r.values.get(k)?)))
                .collect(),
            color,
        ));
    }
    c
}

/// Prediction vs truth on the test set of a 1-D regression problem, with the
/// f32 evaluation of the same network and the training points marked.
/// Spikes between training points show up here, not in the training MSE.
pub fn prediction_chart(title: &str, model: &Model, data: &Split) -> Result<LineChart> {
    let (train, test) = (&data.train, &data.test);
    if test.input_dim() != 1 || test.output_dim() != 1 {
        return Err(Error::PlotInput(format!(
            "prediction plots need 1 input and 1 output, the data have {} and {}",
            test.input_dim(),
            test.output_dim()
        )));
    }
    // The model's predictions in the data's units (its scaling applied).
    let u = model.predict(test.x.as_ref())?;
    let u32 = model.predict_f32(test.x.as_ref());
    let mut order: Vec<usize> = (0..test.len()).collect();
    order.sort_by(|&a, &b| test.x[(0, a)].total_cmp(&test.x[(0, b)]));
    let pts = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        order.iter().map(|&j| (test.x[(0, j)], f(j))).collect()
    };
    let truth = pts(&|j| test.y[(0, j)]);
    let lo = truth.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = truth.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    // Fix the range around the truth so one wild f32 spike cannot flatten the plot.
    let pad = 0.5 * (hi - lo).max(1e-3);
    let y = Axis::linear(format!(
        "{} (clipped to truth ± 50 %)",
        test.output_names[0]
    ))
    .with_range(lo - pad, hi + pad);
    // f32 first and thin: when it is fragile it is a wall of spikes that must not hide the rest.
    Ok(
        LineChart::new(title, Axis::linear(test.input_names[0].clone()), y)
            .with(Series::new(
                "prediction (f32)",
                pts(&|j| u32[(0, j)]),
                3,
                Style::Thin,
            ))
            .with(Series::new("truth", truth, 7, Style::Line))
            .with(Series::line("prediction (f64)", pts(&|j| u[(0, j)]), 0))
            .with(Series::new(
                "training points",
                (0..train.len())
                    .map(|j| (train.x[(0, j)], train.y[(0, j)]))
                    .collect(),
                1,
                Style::Crosses,
            )),
    )
}

/// Read a `history.csv` written by `sapm train`: metric names and records.
pub fn read_history_csv(path: &Path) -> Result<(Vec<String>, Vec<Record>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| Error::format(path, "empty file, expected a header"))?
        .split(',')
        .collect();
    let fixed = ["iteration", "seconds", "objective", "aux_loss"];
    if header.len() < 4 || header[..4] != fixed {
        return Err(Error::format(
            path,
            format!(
                "header must start with {}, found {:?}",
                fixed.join(","),
                header
            ),
        ));
    }
    let names: Vec<String> = header[4..].iter().map(|s| s.to_string()).collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let bad = |what: &str| Error::format(path, format!("line {}: {what}", i + 2));
        if f.len() != header.len() {
            return Err(bad(&format!(
                "{} fields, expected {}",
                f.len(),
                header.len()
            )));
        }
        let num = |k: usize| -> Result<f64> {
            f[k].trim().parse::<f64>().map_err(|_| {
                bad(&format!(
                    "column {:?}: {:?} is not a number",
                    header[k], f[k]
                ))
            })
        };
        rows.push(Record {
            iteration: f[0]
                .trim()
                .parse()
                .map_err(|_| bad(&format!("iteration {:?} is not a whole number", f[0])))?,
            seconds: num(1)?,
            objective: num(2)?,
            aux_loss: if f[3].trim().is_empty() {
                None
            } else {
                Some(num(3)?)
            },
            values: (4..f.len()).map(num).collect::<Result<_>>()?,
        });
    }
    Ok((names, rows))
}

/// Read the resolved config and method from a run's `summary.json`.
pub fn read_summary_config(path: &Path) -> Result<(String, TrainConfig)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::format(path, e.to_string()))?;
    let method = v
        .get("method")
        .and_then(|m| m.as_str())
        .ok_or_else(|| Error::format(path, "no \"method\" field"))?
        .to_string();
    let cfg_v = v
        .get("config")
        .cloned()
        .ok_or_else(|| Error::format(path, "no \"config\" field (not a sapm summary?)"))?;
    let cfg: TrainConfig =
        serde_json::from_value(cfg_v).map_err(|e| Error::format(path, format!("config: {e}")))?;
    Ok((method, cfg))
}

/// What [`plot_run`] wrote and what it left out, and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlotOutcome {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// One sentence per plot not drawn (multi-output, 3-D, time marching).
    pub skipped: Vec<String>,
}

/// Plots of a `sapm train` output folder (see [`plot_run_with`]), never stopped.
pub fn plot_run(dir: &Path) -> Result<PlotOutcome> {
    plot_run_with(dir, &|| false)
}

/// Plots of a `sapm train` output folder: `loss.{png,svg}` (history on log
/// axes); for 1-D regression `prediction.{png,svg}` (the data are
/// regenerated from the resolved config in `summary.json`); for a PINN
/// `solution.{png,svg}`: prediction, exact solution and error heat maps over
/// the 2-D domain, or prediction vs exact for a 1-D problem. A time-marching
/// folder gets its loss curves (its solution is piecewise, one model per
/// `window-k/`); plots that cannot be drawn are listed in
/// [`PlotOutcome::skipped`] with the reason. `stop` is asked before each
/// figure; when it says yes, the plotting ends with [`sapm::Error::Interrupted`].
pub fn plot_run_with(dir: &Path, stop: &dyn Fn() -> bool) -> Result<PlotOutcome> {
    if !dir.is_dir() {
        return Err(Error::format(
            dir,
            "not a folder (expected the --out folder of `sapm train`)",
        ));
    }
    let check = || -> Result<()> {
        if stop() {
            Err(sapm::Error::Interrupted(
                "plotting stopped; the plots written so far are complete".into(),
            )
            .into())
        } else {
            Ok(())
        }
    };
    let (names, history) = read_history_csv(&dir.join("history.csv"))?;
    let (method, cfg) = read_summary_config(&dir.join("summary.json"))?;
    let windows = cfg.pde.as_ref().map_or(1, |p| p.time_windows);
    let model_path = dir.join("model.json");
    let model = if windows > 1 && !model_path.exists() {
        None
    } else {
        Some(sapm::model::Model::load(&model_path)?)
    };
    let depth = model.as_ref().map_or(cfg.network.depth, |m| m.net.depth());
    let title = format!("{method}, L = {depth}, seed {}", cfg.seed);
    let mut out = PlotOutcome::default();
    check()?;
    out.files = save(
        &Figure::grid(
            Some(format!("{title}: loss curves")),
            vec![
                Panel::Line(history_chart(
                    "by iteration",
                    &names,
                    &history,
                    XAxis::Iteration,
                )),
                Panel::Line(history_chart(
                    "by training time",
                    &names,
                    &history,
                    XAxis::Seconds,
                )),
            ],
            2,
            700,
            480,
        ),
        &dir.join("loss"),
    )?;
    let Some(model) = model else {
        out.skipped.push(format!(
            "solution: a time-marching run's solution is piecewise over {windows} windows (one model in each window-k/ folder; summary.json holds the global rel L2); no top-level solution plot"
        ));
        return Ok(out);
    };
    check()?;
    if let Some(pde) = &cfg.pde {
        // A PINN: the solution over the problem's domain, not regression data.
        let problem = pde.problem()?;
        let panels = crate::pinnplot::solution_panels(&model.net, &problem, PLOT_GRID)?;
        if panels.is_empty() {
            out.skipped.push(format!(
                "solution: heat maps are drawn for problems in 1 or 2 coordinates; {} has {}",
                problem.name,
                problem.dim()
            ));
        } else {
            let cols = panels.len();
            let (w, h) = if cols == 1 { (800, 500) } else { (560, 440) };
            out.files.extend(save(
                &Figure::grid(
                    Some(format!("{title}: {} solution", problem.name)),
                    panels,
                    cols,
                    w,
                    h,
                ),
                &dir.join("solution"),
            )?);
        }
    } else if model.net.input_dim() == 1 && model.net.output_dim() == 1 {
        let data = cfg.data.load(cfg.seed)?;
        let chart = prediction_chart(
            &format!("{title}: prediction vs truth (test set)"),
            &model,
            &data,
        )?;
        out.files.extend(save(
            &Figure::single(Panel::Line(chart)),
            &dir.join("prediction"),
        )?);
    } else {
        out.skipped.push(format!(
            "prediction: drawn for 1 input and 1 output; this model has {} inputs and {} outputs (use `sapm eval` for its errors)",
            model.net.input_dim(),
            model.net.output_dim()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_csv_parses_and_rejects_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("history.csv");
        let rows = vec![
            Record {
                iteration: 0,
                seconds: 0.0,
                objective: 1.0,
                aux_loss: None,
                values: vec![1.0, 2.0],
            },
            Record {
                iteration: 10,
                seconds: 0.5,
                objective: 0.1,
                aux_loss: Some(0.05),
                values: vec![0.1, 0.2],
            },
        ];
        let names = vec!["train_mse".to_string(), "test_mse".to_string()];
        std::fs::write(&p, sapm::record::history_csv(&names, &rows)).unwrap();
        let (n, back) = read_history_csv(&p).unwrap();
        assert_eq!(n, names);
        assert_eq!(back, rows);
        std::fs::write(
            &p,
            "iteration,seconds,objective,aux_loss,train_mse\n0,0,1,,x\n",
        )
        .unwrap();
        let e = read_history_csv(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("train_mse"), "{e}");
        std::fs::write(&p, "a,b\n").unwrap();
        assert!(
            read_history_csv(&p)
                .unwrap_err()
                .to_string()
                .contains("header")
        );
        assert!(plot_run(&dir.path().join("nope")).is_err());
    }
}
