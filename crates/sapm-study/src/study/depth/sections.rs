//! The depth study's sections, one per bias variant: failure and fragility
//! rates, median test MSE and training curves by depth, predictions, and
//! the per-depth tables.

use super::grid::Grid;
use crate::error::Result;
use crate::plot::{Axis, BarChart, Figure, LineChart, Panel, Series, Style, save};
use crate::report::{CELL_HEADER, cell_row, frac, image, table};
use crate::results::CellStats;
use crate::runner::RunOutcome;
use crate::study::ReportInput;
use crate::study::regression::{prediction_figure, train_mse};

/// Draw the plots of variant `v` and append its section to `s`.
pub(super) fn variant(
    g: &Grid<'_>,
    v: &str,
    input: &ReportInput<'_>,
    s: &mut String,
) -> Result<()> {
    let depths = g.variant_depths(v);
    let group_names: Vec<String> = depths.iter().map(|d| format!("L={d}")).collect();
    let tag = v.trim_start_matches("bias=");
    let bars = |rate: fn(&CellStats) -> f64| -> Vec<(String, Vec<f64>)> {
        g.labels
            .iter()
            .map(|l| {
                (
                    l.clone(),
                    depths
                        .iter()
                        .map(|&d| g.cell(v, d, l).map_or(f64::NAN, rate))
                        .collect(),
                )
            })
            .collect()
    };
    let rates = Figure::grid(
        Some(format!("Failure and fragility rates by depth ({v})")),
        vec![
            Panel::Bar(BarChart {
                title: "failure rate (train MSE above the constant predictor's)".into(),
                y_label: "share of seeds".into(),
                y_max: Some(1.05),
                groups: group_names.clone(),
                bars: bars(CellStats::failure_rate),
            }),
            Panel::Bar(BarChart {
                title: "fragile rate (f32 test MSE > 2 x f64)".into(),
                y_label: "share of seeds".into(),
                y_max: Some(1.05),
                groups: group_names.clone(),
                bars: bars(CellStats::fragile_rate),
            }),
        ],
        1,
        1000,
        420,
    );
    save(&rates, &input.plots_dir.join(format!("rates_{tag}")))?;
    let mse_panel = |title: &str, f: fn(&CellStats) -> f64| {
        let mut c = LineChart::new(title, Axis::linear("depth L"), Axis::log("median test MSE"));
        for (k, l) in g.labels.iter().enumerate() {
            let pts: Vec<(f64, f64)> = depths
                .iter()
                .filter_map(|&d| g.cell(v, d, l).map(|c| (d as f64, f(c))))
                .collect();
            c = c
                .with(Series::line(l.clone(), pts.clone(), k))
                .with(Series::new("", pts, k, Style::Points).unlabelled());
        }
        Panel::Line(c)
    };
    let mse = Figure::grid(
        Some(format!("Median test MSE by depth ({v})")),
        vec![
            mse_panel("f64", |c| c.test_mse.median),
            mse_panel("same models evaluated in f32", |c| c.test_mse_f32.median),
        ],
        2,
        640,
        460,
    );
    save(&mse, &input.plots_dir.join(format!("test_mse_{tag}")))?;
    let mut curves = Vec::new();
    for &d in &depths {
        let mut c = LineChart::new(
            format!("L = {d}, first seed"),
            Axis::linear("training seconds"),
            Axis::log("train MSE"),
        );
        for (k, l) in g.labels.iter().enumerate() {
            if let Some(r) = g.runs.iter().find(|r| {
                r.row.variant == *v
                    && r.row.depth == d
                    && r.row.label == *l
                    && r.row.seed == input.plan.first_seed
            }) {
                c = c.with(Series::line(
                    l.clone(),
                    r.history
                        .iter()
                        .filter_map(|h| Some((h.seconds, train_mse(r, h)?)))
                        .collect(),
                    k,
                ));
            }
        }
        curves.push(Panel::Line(c));
    }
    save(
        &Figure::grid(
            Some(format!("Train MSE vs training time ({v})")),
            curves,
            2,
            640,
            440,
        ),
        &input.plots_dir.join(format!("curves_{tag}")),
    )?;

    s.push_str(&format!("## {v}\n\n"));
    s.push_str(&image(
        &format!("failure and fragility rates ({v})"),
        &format!("rates_{tag}"),
    ));
    s.push('\n');
    s.push_str(&image(
        &format!("median test MSE by depth ({v})"),
        &format!("test_mse_{tag}"),
    ));
    s.push('\n');
    s.push_str(&image(
        &format!("train MSE vs time ({v})"),
        &format!("curves_{tag}"),
    ));
    let mut pred_depths: Vec<usize> = depths.iter().copied().filter(|&d| d == 10).collect();
    if let Some(&deepest) = depths.last()
        && !pred_depths.contains(&deepest)
    {
        pred_depths.push(deepest);
    }
    for d in pred_depths {
        let firsts: Vec<(&str, &RunOutcome)> = g
            .runs
            .iter()
            .filter(|r| r.row.variant == *v && r.row.depth == d && r.model.is_some())
            .map(|r| (r.row.label.as_str(), r))
            .collect();
        let stem = format!("prediction_{tag}_L{d}");
        if let Some(f) = prediction_figure(
            &format!("Prediction vs truth, L = {d}, first seed ({v})"),
            &firsts,
            4,
        )? {
            save(&f, &input.plots_dir.join(&stem))?;
            s.push('\n');
            s.push_str(&image(
                &format!("prediction vs truth at L = {d} ({v})"),
                &stem,
            ));
        }
    }
    s.push_str(&format!("\n### Failed and fragile runs by depth ({v})\n\n"));
    let mut header = vec!["method".to_string()];
    header.extend(depths.iter().map(|d| format!("L={d}: failed, fragile")));
    let t: Vec<Vec<String>> = g
        .labels
        .iter()
        .map(|l| {
            let mut row = vec![l.clone()];
            row.extend(depths.iter().map(|&d| {
                g.cell(v, d, l).map_or("-".into(), |c| {
                    format!("{}, {}", frac(c.failed, c.n), frac(c.fragile, c.n))
                })
            }));
            row
        })
        .collect();
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    s.push_str(&table(&hdr, &t));
    for &d in &depths {
        s.push_str(&format!("\n### L = {d} ({v})\n\n"));
        let t: Vec<Vec<String>> = g
            .labels
            .iter()
            .filter_map(|l| g.cell(v, d, l).map(|c| cell_row(l, c)))
            .collect();
        s.push_str(&table(&CELL_HEADER, &t));
    }
    s.push('\n');
    Ok(())
}
