//! What the regression studies (`consistency`, `depth`, `ablation`) share:
//! options, curves over seeds, prediction panels, and picking runs out of
//! the outcomes.

use super::OptionDoc;
use crate::error::Result;
use crate::plot::{Figure, Panel};
use crate::runner::RunOutcome;
use crate::runplot::prediction_chart;
use sapm::record::Record;
use std::collections::BTreeMap;

/// `study.depth` of the studies at one depth (default 10).
pub const DEPTH: OptionDoc = OptionDoc::new("study.depth", "10", "number of affine layers L");

/// `study.save_all_models`: `model.json` for every run, not the first seed's only.
pub const SAVE_ALL_MODELS: OptionDoc = OptionDoc::new(
    "study.save_all_models",
    "false",
    "write model.json for every run (default: first seed only)",
);

/// `key=value` overrides of a regression method label: `sapm` is cold SAPM,
/// `sapm-warm` SAPM after `warm` Adam steps with `|W_L|^2 <= cap_out` and
/// hidden `|W_l|^2 <= cap_hid`, any other label the method of that name.
pub fn method_grid(label: &str, warm: usize, cap_out: usize, cap_hid: usize) -> Vec<String> {
    match label {
        "sapm" => vec!["method=sapm".into(), "sapm.warm_start=0".into()],
        "sapm-warm" => vec![
            "method=sapm".into(),
            format!("sapm.warm_start={warm}"),
            format!("sapm.cap_output={cap_out}.0"),
            format!("sapm.cap_hidden={cap_hid}.0"),
        ],
        other => vec![format!("method={other}")],
    }
}

/// `(iteration, median over runs)` of `f` at every recorded iteration
/// (runs that stopped early simply drop out of later medians).
pub fn median_curve(
    runs: &[&RunOutcome],
    f: impl Fn(&RunOutcome, &Record) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let mut at: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for rec in &r.history {
            if let Some(v) = f(r, rec) {
                at.entry(rec.iteration).or_default().push(v);
            }
        }
    }
    at.into_iter()
        .map(|(it, v)| (it as f64, crate::results::Quantiles::of(v).median))
        .collect()
}

/// Index of the metric `name` in a run's history values.
pub fn metric(r: &RunOutcome, name: &str) -> Option<usize> {
    r.metric_names.iter().position(|n| n == name)
}

/// The train MSE of a record of run `r`.
pub fn train_mse(r: &RunOutcome, rec: &Record) -> Option<f64> {
    rec.values.get(metric(r, "train_mse")?).copied()
}

/// Prediction-vs-truth panels of the runs that kept their model and have
/// 1-D data, one panel per run, `cols` per row. `None` if no run qualifies.
pub fn prediction_figure(
    title: &str,
    runs: &[(&str, &RunOutcome)],
    cols: usize,
) -> Result<Option<Figure>> {
    let mut panels = Vec::new();
    for (name, r) in runs {
        let Some(model) = &r.model else { continue };
        if model.net.input_dim() != 1 || model.net.output_dim() != 1 {
            continue;
        }
        let data = r.spec.cfg.data.load(r.spec.cfg.seed)?;
        let t = format!(
            "{name}: test MSE {} (f32 {})",
            crate::report::g(r.row.test_mse),
            crate::report::g(r.row.test_mse_f32)
        );
        panels.push(Panel::Line(prediction_chart(&t, model, &data)?));
    }
    if panels.is_empty() {
        return Ok(None);
    }
    Ok(Some(Figure::grid(
        Some(title.to_string()),
        panels,
        cols,
        560,
        380,
    )))
}

/// A short description of a run's data set.
pub fn data_description(r: &RunOutcome) -> String {
    let d = &r.spec.cfg.data;
    match &d.train {
        Some(p) => format!("data file {}", p.display()),
        None => format!(
            "built-in `{}` ({} random training points, {} test points)",
            d.builtin.as_deref().unwrap_or("sin_x2"),
            d.n_train,
            d.n_test
        ),
    }
}
