//! `depth`: every method at several depths, at equal wall time per method.
//!
//! Methods: ls-gd, ls-adam, ls-lbfgs, ls-adam-lbfgs, elm, pm, sapm (cold) and
//! sapm-warm (Adam warm start, then SAPM with per-layer norm caps), with
//! random (`uniform`) initial biases at every depth and zero initial biases
//! at the deep end (`study.zero_depths`, default L = 30). Every run at depth L gets
//! `S x L / 10` seconds of training (`--seconds S`, default 3.5), so that every
//! method can afford the same number of forward passes at every depth.
//! Reported per method and depth: median/min/max train and test MSE, failure
//! rate, and fragility (f32 test MSE, output-weight norm).
//!
//! Files: this one (the plan and the budget notes), `grid` (the cells by
//! variant, depth and method), `glance` (the "At a glance" sentences),
//! `sections` (plots and tables per bias variant).

mod glance;
mod grid;
mod sections;

use super::regression::{SAVE_ALL_MODELS, data_description, method_grid};
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::Result;
use crate::report::frac;
use crate::results::Quantiles;
use crate::runner::{RunOutcome, RunSpec};
use grid::Grid;

/// The depth study (see the module docs).
pub struct Depth;

/// Method labels, in report order.
pub const LABELS: [&str; 8] = [
    "ls-gd",
    "ls-adam",
    "ls-lbfgs",
    "ls-adam-lbfgs",
    "elm",
    "pm",
    "sapm",
    "sapm-warm",
];
/// Labels of methods with auxiliary variables.
const AUX: [&str; 3] = ["pm", "sapm", "sapm-warm"];
/// The standard optimisers SAPM must beat at equal time.
const LS_STRONG: [&str; 3] = ["ls-adam", "ls-lbfgs", "ls-adam-lbfgs"];
/// SAPM variants.
const SAPM: [&str; 2] = ["sapm", "sapm-warm"];

static INFO: StudyInfo = StudyInfo {
    name: "depth",
    about: "robustness to depth of every method at equal wall time, with random and zero initial biases",
    budget: Budget {
        seeds: 10,
        // Time decides; this only guards against a run with no time limit.
        iterations: 1_000_000_000,
        // 3.5 s per 10 layers: the 2000 warm-start Adam steps take about
        // 2-2.5 s per 10 layers on the 2-core test machine, leaving SAPM a
        // real share, while the default depth + consistency studies stay
        // under 30 min on 2 cores (estimate in docs/studies.md).
        seconds: 3.5,
    },
    options: &[
        OptionDoc::new(
            "study.depths",
            "[6, 8, 10, 20, 30]",
            "numbers of affine layers L (>= 2)",
        ),
        OptionDoc::new(
            "study.methods",
            "all eight labels",
            "subset of ls-gd, ls-adam, ls-lbfgs, ls-adam-lbfgs, elm, pm, sapm, sapm-warm",
        ),
        OptionDoc::new(
            "study.biases",
            "[\"uniform\", \"zero\"]",
            "initial-bias variants (network.bias_init)",
        ),
        OptionDoc::new(
            "study.zero_depths",
            "[30]",
            "depths at which the zero-bias variant runs (the deep end, where random biases make gradients vanish; more depths cost more time)",
        ),
        OptionDoc::new(
            "study.warm_start",
            "2000",
            "Adam steps before SAPM in sapm-warm (sapm.warm_start)",
        ),
        OptionDoc::new(
            "study.cap_output",
            "100",
            "sapm-warm's cap on |W_L|_F^2 (sapm.cap_output)",
        ),
        OptionDoc::new(
            "study.cap_hidden",
            "30",
            "sapm-warm's cap on hidden |W_l|_F^2 (sapm.cap_hidden)",
        ),
        OptionDoc::new(
            "study.time_per_depth",
            "true",
            "true: a run at depth L gets S x L / 10 seconds; false: every run gets S seconds",
        ),
        SAVE_ALL_MODELS,
    ],
};

fn variant(bias: &str) -> String {
    format!("bias={bias}")
}

impl Study for Depth {
    fn info(&self) -> &'static StudyInfo {
        &INFO
    }

    fn plan(&self, p: &PlanInput) -> Result<Vec<RunSpec>> {
        let depths = p.params.usize_list("depths", &[6, 8, 10, 20, 30], 2)?;
        let methods = p.params.name_list("methods", &LABELS, &LABELS)?;
        let biases = p
            .params
            .name_list("biases", &["uniform", "zero"], &["uniform", "zero"])?;
        let zero_depths = p.params.usize_list("zero_depths", &[30], 2)?;
        let warm = p.params.usize("warm_start", 2000)?;
        let cap_out = p.params.usize("cap_output", 100)?;
        let cap_hid = p.params.usize("cap_hidden", 30)?;
        let per_depth = p.params.bool("time_per_depth", true)?;
        let save_all = p.params.bool("save_all_models", false)?;
        if p.budget.seconds <= 0.0 && p.budget.iterations >= self.budget().iterations {
            // No time limit and the guard as iteration limit would run for days.
            return Err(crate::Error::option(
                "--seconds",
                "the depth study compares methods at equal wall time: give --seconds > 0 (or an explicit --iterations)",
            ));
        }
        let base = ["train.record_every=50".to_string()];
        let mut specs = Vec::new();
        for bias in &biases {
            for &depth in &depths {
                if bias == "zero" && !zero_depths.contains(&depth) {
                    continue;
                }
                let secs = if per_depth {
                    p.budget.seconds * depth as f64 / 10.0
                } else {
                    p.budget.seconds
                };
                let budget = [
                    format!("train.max_iterations={}", p.budget.iterations),
                    format!("train.max_seconds={secs:?}"),
                ];
                for seed in p.seeds() {
                    for m in &methods {
                        let mut grid = vec![
                            format!("network.depth={depth}"),
                            format!("network.bias_init={bias}"),
                        ];
                        grid.extend(method_grid(m, warm, cap_out, cap_hid));
                        let cfg = p.config(&base, &budget, &grid, seed)?;
                        let id = format!("{bias}-L{depth}-{m}-s{seed}");
                        let first = seed == p.first_seed;
                        specs.push(
                            RunSpec::new(id, m, variant(bias), cfg)
                                .models(first || save_all, first),
                        );
                    }
                }
            }
        }
        Ok(specs)
    }

    fn report(&self, input: &ReportInput<'_>) -> Result<ReportBody> {
        let g = Grid::new(input.runs);
        let mut body = ReportBody {
            budget_notes: budget_notes(&g, input.plan)?,
            glance: glance::sentences(&g),
            ..Default::default()
        };
        for v in &g.variants {
            sections::variant(&g, v, input, &mut body.sections)?;
        }
        Ok(body)
    }
}

/// The budget notes: time per depth, the data and sapm-warm's settings, and
/// the share of sapm-warm's time its warm start took.
fn budget_notes(g: &Grid<'_>, plan: &PlanInput) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    if let Some(r) = g.runs.first() {
        let per_depth = plan.params.bool("time_per_depth", true)?;
        notes.push(if per_depth {
            format!(
                "equal wall time per method: a run at depth L trains for {} x L / 10 s (L = {}: {} s), with max_iterations {} as a guard",
                plan.budget.seconds,
                g.depths.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                g.depths.iter().map(|d| format!("{:.1}", plan.budget.seconds * *d as f64 / 10.0)).collect::<Vec<_>>().join(", "),
                plan.budget.iterations
            )
        } else {
            format!("equal wall time per method: every run trains for {} s", plan.budget.seconds)
        });
        notes.push(format!(
            "{}, width {}, {} activation; sapm-warm = {} Adam steps then SAPM with |W_L|² <= {} and hidden |W_l|² <= {} (the Adam steps count against its time)",
            data_description(r),
            r.spec.cfg.network.width,
            r.spec.cfg.network.activation.name(),
            plan.params.usize("warm_start", 2000)?,
            plan.params.usize("cap_output", 100)?,
            plan.params.usize("cap_hidden", 30)?
        ));
    }

    // How much of sapm-warm's time its Adam warm start took (from the history).
    let warm = plan.params.usize("warm_start", 2000)?;
    if g.has("sapm-warm") && warm > 0 {
        let shares: Vec<String> = g
            .depths
            .iter()
            .filter_map(|&d| {
                let rs: Vec<&RunOutcome> = g
                    .runs
                    .iter()
                    .filter(|r| r.row.label == "sapm-warm" && r.row.depth == d)
                    .collect();
                if rs.is_empty() {
                    return None;
                }
                let reached = rs.iter().filter(|r| r.row.iterations > warm).count();
                let share = Quantiles::of(rs.iter().map(|r| warm_share(r, warm))).median;
                Some(format!(
                    "L = {d}: {:.0} %, SAPM phase reached in {}",
                    100.0 * share,
                    frac(reached, rs.len())
                ))
            })
            .collect();
        notes.push(format!(
            "share of sapm-warm's training time spent in its {warm} Adam steps (median): {}",
            shares.join("; ")
        ));
    }
    Ok(notes)
}

/// Share of a run's training seconds spent in its first `warm` iterations,
/// read from the history (1 if the run never got past them).
fn warm_share(r: &RunOutcome, warm: usize) -> f64 {
    if r.row.iterations <= warm || r.row.seconds <= 0.0 {
        return 1.0;
    }
    r.history
        .iter()
        .filter(|h| h.iteration <= warm)
        .map(|h| h.seconds)
        .fold(0.0, f64::max)
        / r.row.seconds
}
