//! The transport study's figures: rel L2 against beta, and heat maps of the
//! best and the median run of each method.

use crate::error::Result;
use crate::pinnplot::solution_maps;
use crate::plot::{Axis, Figure, LineChart, Panel, Series, Style};
use crate::report::g;
use crate::results::Quantiles;
use crate::runner::RunOutcome;
use crate::study::FAIL_THRESHOLD;
use crate::study::pinn::{beta_str, by_rel_l2};

/// Cells per axis of the study's heat maps (20 panels per figure).
const HEAT_GRID: usize = 48;

/// Final rel L2 against beta of `runs` at `depth`, one line (medians) and
/// dots (seeds) per method.
pub(super) fn beta_chart(runs: &[&RunOutcome], labels: &[String], depth: usize) -> LineChart {
    let mut c = LineChart::new(
        format!("L = {depth}"),
        Axis::log("beta"),
        Axis::log("final rel L2"),
    )
    .with_hline(FAIL_THRESHOLD, "failure threshold", 7);
    let rel = |r: &RunOutcome| r.row.extra("rel_l2").unwrap_or(f64::NAN);
    let beta = |r: &RunOutcome| r.row.extra("beta").unwrap_or(f64::NAN);
    for (k, l) in labels.iter().enumerate() {
        let mine: Vec<&&RunOutcome> = runs
            .iter()
            .filter(|r| &r.row.label == l && r.row.depth == depth)
            .collect();
        let mut bs: Vec<f64> = mine.iter().map(|r| beta(r)).collect();
        bs.sort_by(f64::total_cmp);
        bs.dedup();
        let med: Vec<(f64, f64)> = bs
            .iter()
            .map(|&b| {
                (
                    b,
                    Quantiles::of(mine.iter().filter(|r| beta(r) == b).map(|r| rel(r))).median,
                )
            })
            .filter(|p| p.1.is_finite() && p.1 > 0.0)
            .collect();
        let dots: Vec<(f64, f64)> = mine
            .iter()
            .map(|r| (beta(r), rel(r)))
            .filter(|p| p.1.is_finite() && p.1 > 0.0)
            .collect();
        c = c
            .with(Series::line(l.clone(), med, k))
            .with(Series::new("", dots, k, Style::Points).unlabelled());
    }
    c
}

/// Best and median run of each method: prediction and error heat maps.
pub(super) fn heat_figure(
    runs: &[&RunOutcome],
    labels: &[String],
    beta: f64,
    depth: usize,
) -> Result<Option<Figure>> {
    let mut panels = Vec::new();
    let rel = |r: &RunOutcome| r.row.extra("rel_l2").unwrap_or(f64::NAN);
    for l in labels {
        let mine: Vec<&RunOutcome> = runs.iter().copied().filter(|r| &r.row.label == l).collect();
        let sorted = by_rel_l2(&mine, rel);
        let (Some(best), Some(median)) = (
            sorted.first(),
            sorted.get(sorted.len().saturating_sub(1) / 2),
        ) else {
            continue;
        };
        for (what, r) in [("best", best), ("median", median)] {
            let (Some(model), Some(pde)) = (&r.model, &r.spec.cfg.pde) else {
                continue;
            };
            let problem = pde.problem()?;
            let name = format!("{l} {what}, s{}, rel L2 {}", r.row.seed, g(rel(r)));
            let maps = solution_maps(&model.net, &problem, HEAT_GRID, &name)?;
            let err = maps.error(format!("{l} {what}: |u - u_exact|"))?;
            // A map without a finite value (NaN prediction, exact fit on a log
            // scale) cannot be drawn; leave it out rather than lose the report.
            panels.extend(
                std::iter::once(maps.prediction)
                    .chain(err)
                    .filter(|h| h.limits().is_some())
                    .map(Panel::Heat),
            );
        }
    }
    if panels.is_empty() {
        return Ok(None);
    }
    Ok(Some(Figure::grid(
        Some(format!(
            "transport1d beta = {}, L = {depth}: best and median run of each method",
            beta_str(beta)
        )),
        panels,
        4,
        480,
        340,
    )))
}
