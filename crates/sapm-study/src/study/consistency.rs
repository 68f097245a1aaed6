//! `consistency`: does the auxiliary loss track the true MSE?
//!
//! SAPM's J_SAPM and the train MSE vs iterations next to PM's penalty loss and
//! MSE, on sin(x^2) with L = 10 (the paper's key figure: SAPM's two curves
//! fall together, PM's penalty loss can fall while its MSE does not).

use super::regression::DEPTH;
use super::regression::{data_description, median_curve, prediction_figure, train_mse};
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::Result;
use crate::plot::{Axis, Figure, LineChart, Panel, Series, Style, save};
use crate::report::{acc, cell_acc, frac, g, image, table, yes_no};
use crate::results::{Quantiles, aggregate};
use crate::runner::{RunOutcome, RunSpec};

/// The consistency study (see the module docs).
pub struct Consistency;

static INFO: StudyInfo = StudyInfo {
    name: "consistency",
    about: "SAPM's J_SAPM and the true MSE vs iterations, next to PM's penalty loss and MSE",
    budget: Budget::by_iterations(10, 2000),
    options: &[
        DEPTH,
        OptionDoc::new(
            "study.methods",
            "[\"sapm\", \"pm\"]",
            "auxiliary-variable methods to compare (sapm, pm)",
        ),
        OptionDoc::new(
            "study.save_models",
            "true",
            "write model.json into every run folder",
        ),
    ],
};

/// Ratio tolerance for "within the bound": round-off in the losses.
const BOUND_TOL: f64 = 1e-9;

impl Study for Consistency {
    fn info(&self) -> &'static StudyInfo {
        &INFO
    }

    fn plan(&self, p: &PlanInput) -> Result<Vec<RunSpec>> {
        let depth = p.params.usize_list("depth", &[10], 2)?[0];
        let methods = p
            .params
            .name_list("methods", &["sapm", "pm"], &["sapm", "pm"])?;
        let save_models = p.params.bool("save_models", true)?;
        let base = ["train.record_every=10".to_string()];
        let mut specs = Vec::new();
        for m in &methods {
            for seed in p.seeds() {
                let grid = [format!("method={m}"), format!("network.depth={depth}")];
                let cfg = p.config(&base, &p.budget_sets(), &grid, seed)?;
                specs.push(
                    RunSpec::new(format!("{m}-s{seed}"), m, format!("L={depth}"), cfg)
                        .models(save_models, seed == p.first_seed),
                );
            }
        }
        Ok(specs)
    }

    fn report(&self, input: &ReportInput<'_>) -> Result<ReportBody> {
        let runs = input.runs;
        let rows: Vec<_> = runs.iter().map(|r| r.row.clone()).collect();
        let cells = aggregate(&rows);
        let labels: Vec<String> = cells.iter().map(|c| c.key.label.clone()).collect();
        let of =
            |l: &str| -> Vec<&RunOutcome> { runs.iter().filter(|r| r.row.label == l).collect() };
        let mut body = ReportBody::default();
        if let Some(r) = runs.first() {
            body.budget_notes.push(format!(
                "{} on {}, L = {}, width {}, {} activation; every method runs the same number of iterations (`--iterations`), history every {} iterations",
                labels.join(" and "),
                data_description(r),
                r.row.depth,
                r.spec.cfg.network.width,
                r.spec.cfg.network.activation.name(),
                r.spec.cfg.train.record_every
            ));
        }

        // At a glance: does each method keep its auxiliary loss and the MSE together?
        for c in &cells {
            let rs = of(&c.key.label);
            let with_aux: Vec<&&RunOutcome> = rs
                .iter()
                .filter(|r| r.row.max_ls_over_aux.is_finite())
                .collect();
            let bound = rs
                .iter()
                .map(|r| r.row.consistency_bound)
                .find(|b| b.is_finite())
                .unwrap_or(f64::NAN);
            let within = with_aux
                .iter()
                .filter(|r| r.row.max_ls_over_aux <= bound * (1.0 + BOUND_TOL))
                .count();
            let ratio = Quantiles::of(with_aux.iter().map(|r| r.row.max_ls_over_aux));
            let first_mse = Quantiles::of(
                rs.iter()
                    .filter_map(|r| r.history.first().and_then(|h| train_mse(r, h))),
            )
            .median;
            let aux = Quantiles::of(rs.iter().map(|r| r.row.aux_loss)).median;
            let name = c.key.label.to_uppercase();
            let kept = with_aux.len() == c.n && within == c.n;
            let verdict = if kept {
                format!(
                    "**{name} keeps its loss and the MSE together**: in all {} runs the train MSE stayed within the consistency bound {} x J_{name} over the whole history (largest MSE/J_{name}: median {}, max {})",
                    c.n,
                    g(bound),
                    g(ratio.median),
                    g(ratio.max)
                )
            } else {
                format!(
                    "**{name}'s loss and the MSE come apart**: MSE/J_{name} exceeded {} (SAPM's consistency bound) in {} of {} runs (largest ratio: median {}, max {})",
                    g(bound),
                    c.n - within,
                    c.n,
                    g(ratio.median),
                    g(ratio.max)
                )
            };
            body.glance.push(format!(
                "{verdict}; from a train MSE of {} at iteration 0, the final J_{name} is {} and the final train MSE {} (medians); test MSE {}; fragile in {}, failed in {}.",
                g(first_mse),
                g(aux),
                g(c.train_mse.median),
                cell_acc(c),
                frac(c.fragile, c.n),
                frac(c.failed, c.n)
            ));
        }

        // Plots: loss pairs per method, the ratio, predictions.
        let mut panels = Vec::new();
        for l in &labels {
            let rs = of(l);
            let mut chart = LineChart::new(
                format!(
                    "{}: J_{} and train MSE ({} seeds)",
                    l,
                    l.to_uppercase(),
                    rs.len()
                ),
                Axis::linear("iteration"),
                Axis::log("loss"),
            );
            for r in &rs {
                chart = chart
                    .with(
                        Series::new(
                            "",
                            r.history
                                .iter()
                                .filter_map(|h| Some((h.iteration as f64, h.aux_loss?)))
                                .collect(),
                            0,
                            Style::Thin,
                        )
                        .unlabelled(),
                    )
                    .with(
                        Series::new(
                            "",
                            r.history
                                .iter()
                                .filter_map(|h| Some((h.iteration as f64, train_mse(r, h)?)))
                                .collect(),
                            3,
                            Style::Thin,
                        )
                        .unlabelled(),
                    );
            }
            chart = chart
                .with(Series::line(
                    format!("J_{} (median)", l.to_uppercase()),
                    median_curve(&rs, |_, h| h.aux_loss),
                    0,
                ))
                .with(Series::new(
                    "train MSE (median)",
                    median_curve(&rs, train_mse),
                    3,
                    Style::Dashed,
                ));
            panels.push(Panel::Line(chart));
        }
        let stem = "consistency";
        save(
            &Figure::grid(
                Some("Auxiliary loss vs true train MSE (thin: single seeds)".into()),
                panels,
                2,
                640,
                440,
            ),
            &input.plots_dir.join(stem),
        )?;
        let mut ratio = LineChart::new(
            "train MSE / auxiliary loss",
            Axis::linear("iteration"),
            Axis::log("MSE / J_aux"),
        );
        for (k, l) in labels.iter().enumerate() {
            let rs = of(l);
            for r in &rs {
                ratio = ratio.with(
                    Series::new(
                        "",
                        r.history
                            .iter()
                            .filter_map(|h| {
                                Some((h.iteration as f64, train_mse(r, h)? / h.aux_loss?))
                            })
                            .collect(),
                        k,
                        Style::Thin,
                    )
                    .unlabelled(),
                );
            }
            ratio = ratio.with(Series::line(
                format!("{l} (median)"),
                median_curve(&rs, |r, h| Some(train_mse(r, h)? / h.aux_loss?)),
                k,
            ));
        }
        if let Some(b) = rows
            .iter()
            .map(|r| r.consistency_bound)
            .find(|b| b.is_finite())
        {
            ratio = ratio.with_hline(b, format!("SAPM bound {}", g(b)), 3);
        }
        save(
            &Figure::single(Panel::Line(ratio)),
            &input.plots_dir.join("ratio"),
        )?;
        let firsts: Vec<(&str, &RunOutcome)> = runs
            .iter()
            .filter(|r| r.model.is_some())
            .map(|r| (r.row.label.as_str(), r))
            .collect();
        let pred = prediction_figure("Prediction vs truth, first seed", &firsts, 2)?;
        if let Some(f) = &pred {
            save(f, &input.plots_dir.join("prediction"))?;
        }

        let s = &mut body.sections;
        s.push_str("## Loss curves\n\n");
        s.push_str(&image("auxiliary loss and train MSE per iteration", stem));
        s.push_str("\nThe SAPM bound says MSE <= L x J_SAPM for tanh at every iterate; PM has no such bound.\n\n");
        s.push_str(&image("ratio of train MSE to auxiliary loss", "ratio"));
        if pred.is_some() {
            s.push_str("\n## Predictions (first seed)\n\n");
            s.push_str(&image("prediction vs truth", "prediction"));
        }
        s.push_str("\n## Per run\n\n");
        let mut t = Vec::new();
        for r in runs {
            t.push(vec![
                r.row.label.clone(),
                r.row.seed.to_string(),
                r.row.status.clone(),
                r.row.iterations.to_string(),
                g(r.row.aux_loss),
                g(r.row.train_mse),
                g(r.row.max_ls_over_aux),
                acc(
                    r.row.test_mse,
                    r.row.test_mse_f32,
                    r.row.output_weight_norm_sq,
                ),
                yes_no(r.row.fragile),
                yes_no(r.row.failed()),
            ]);
        }
        s.push_str(&table(
            &[
                "method",
                "seed",
                "status",
                "iterations",
                "final J_aux",
                "final train MSE",
                "max MSE/J_aux",
                "test MSE (f32, |W_L|²)",
                "fragile",
                "failed",
            ],
            &t,
        ));
        Ok(body)
    }
}
