//! The second-order study's own report parts: the methods the library
//! refused (with its reason) and the error heat maps of the 2-D problems.

use crate::error::Result;
use crate::pinnplot::solution_maps;
use crate::plot::{Figure, Panel, save};
use crate::report::{g, image};
use crate::runner::RunOutcome;
use std::path::Path;

/// Cells per axis of the heat maps (up to ten panels per figure).
const HEAT_GRID: usize = 48;

/// A section naming every refused method: one line per method with the
/// problems it was refused on and the library's reason (empty if none).
pub(super) fn refusals(refused: &[(&str, String, String)]) -> String {
    if refused.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## Methods left out\n\nThe library refuses these methods on these problems (its config check, before any training), so the study skipped them; they join as soon as the library accepts them:\n\n",
    );
    let mut methods: Vec<&str> = Vec::new();
    for r in refused {
        if !methods.contains(&r.1.as_str()) {
            methods.push(&r.1);
        }
    }
    for m in methods {
        let mine: Vec<&(&str, String, String)> = refused.iter().filter(|r| r.1 == m).collect();
        let problems: Vec<&str> = mine.iter().map(|r| r.0).collect();
        let mut reasons: Vec<&str> = mine.iter().map(|r| r.2.as_str()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        s.push_str(&format!(
            "- **{m}** on {}: {}\n",
            problems.join(", "),
            reasons.join(" / ")
        ));
    }
    s.push('\n');
    s
}

/// Per 2-D problem of `keys`, a figure `plots/error_map_<key>` of the
/// pointwise error `|u - u_exact|` of each method's first-seed run (the runs
/// that kept their model), and the section embedding them.
pub(super) fn heat_maps(
    runs: &[RunOutcome],
    keys: &[&str],
    methods: &[&str],
    plots: &Path,
) -> Result<String> {
    let mut s = String::new();
    for key in keys {
        let mut panels = Vec::new();
        for m in methods {
            let Some(r) = runs
                .iter()
                .find(|r| r.row.variant == *key && r.row.label == *m && r.model.is_some())
            else {
                continue;
            };
            let (Some(model), Some(pde)) = (&r.model, &r.spec.cfg.pde) else {
                continue;
            };
            let problem = pde.problem()?;
            if problem.dim() != 2 {
                continue;
            }
            let rel = r.row.extra("rel_l2").unwrap_or(f64::NAN);
            let maps = solution_maps(&model.net, &problem, HEAT_GRID, m)?;
            let title = format!("{m} s{}: rel L2 {}", r.row.seed, g(rel));
            // A map without a finite value cannot be drawn; leave it out.
            if let Some(h) = maps.error(title)?.filter(|h| h.limits().is_some()) {
                panels.push(Panel::Heat(h));
            }
        }
        if panels.is_empty() {
            continue;
        }
        let stem = format!("error_map_{key}");
        let fig = Figure::grid(
            Some(format!(
                "{key}: pointwise error |u - u_exact| of each method (first seed)"
            )),
            panels,
            4,
            480,
            340,
        );
        save(&fig, &plots.join(&stem))?;
        s.push_str(&format!("## Error maps: {key}\n\n"));
        s.push_str(&image(&format!("{key} error maps"), &stem));
        s.push('\n');
    }
    Ok(s)
}
