//! `derivatives`: do the derivative auxiliaries of PM/SAPM-PINN track the
//! network's true input derivatives?
//!
//! The PINN history records the relative gap `|d - dz|_F / |dz|_F` over all
//! hidden layers and interior points (`d` the auxiliaries, `dz` the exact
//! directional derivatives of the current network) every `record_every`
//! iterations. This study runs SAPM cold, SAPM warm and PM on
//! `transport1d` (beta = 1) and `transport_inflow`, plots the gap against
//! the iteration and reports the final gaps against the target [`TARGET`].

use super::pinn::{beta_str, execute_pinn, pinn_config, report_body};
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::Result;
use crate::plot::{Axis, Figure, LineChart, Panel, Series, save};
use crate::report::{frac, g, image, range, table};
use crate::results::Quantiles;
use crate::runner::{RunOutcome, RunOutput, RunSpec};

/// The derivatives study (see the module docs).
pub struct Derivatives;

/// Gap below which the auxiliaries count as tracking the true derivatives.
pub const TARGET: f64 = 1e-3;

const METHODS: [&str; 3] = ["sapm", "sapm-warm", "pm"];
const PROBLEMS: [&str; 2] = ["transport1d", "transport_inflow"];

static INFO: StudyInfo = StudyInfo {
    name: "derivatives",
    about: "PM/SAPM-PINN derivative auxiliaries against the network's true input derivatives, across iterations",
    budget: Budget::by_iterations(2, 1500),
    options: &[
        OptionDoc::new(
            "study.problems",
            "[\"transport1d\", \"transport_inflow\"]",
            "problems (both with speed study.beta)",
        ),
        OptionDoc::new("study.beta", "1", "transport speed"),
        OptionDoc::new(
            "study.methods",
            "[\"sapm\", \"sapm-warm\", \"pm\"]",
            "auxiliary-variable PINN methods (settings of examples/pde-*.toml)",
        ),
        OptionDoc::new("study.depth", "4", "number of affine layers L"),
    ],
};

impl Study for Derivatives {
    fn info(&self) -> &'static StudyInfo {
        &INFO
    }

    fn plan(&self, p: &PlanInput) -> Result<Vec<RunSpec>> {
        let problems = p.params.name_list("problems", &PROBLEMS, &PROBLEMS)?;
        let methods = p.params.name_list("methods", &METHODS, &METHODS)?;
        let beta = p.params.f64("beta", 1.0, 1e-6, 1e6)?;
        let depth = p.params.usize_list("depth", &[4], 2)?[0];
        let mut specs = Vec::new();
        for prob in &problems {
            let short = if prob == "transport1d" {
                "t1d"
            } else {
                "inflow"
            };
            for m in &methods {
                for seed in p.seeds() {
                    let cfg = pinn_config(p, prob, beta, depth, m, seed)?;
                    let id = format!("{short}-b{}-{m}-s{seed}", beta_str(beta));
                    let variant = format!("{prob} beta={}", beta_str(beta));
                    specs.push(RunSpec::new(id, m, variant, cfg).models(true, false));
                }
            }
        }
        Ok(specs)
    }

    // PINN runs are not checkpointed (see docs/reliability.md), so `_dir` is unused.
    fn execute(&self, spec: &RunSpec, _dir: &std::path::Path) -> RunOutput {
        execute_pinn(self.name(), spec)
    }

    fn report(&self, input: &ReportInput<'_>) -> Result<ReportBody> {
        let runs = input.runs;
        let mut body = report_body();
        let k = input.plan.budget.iterations;
        body.budget_notes.push(format!(
            "`--iterations` K = {k}: pm and sapm run K outer iterations, sapm-warm {} Adam steps then K SAPM iterations (the gap exists only once the auxiliaries do, so its curve starts after the Adam phase); the gap is recorded every {} iterations",
            (4 * k).div_ceil(3),
            runs.first().map_or(10, |r| r.spec.cfg.train.record_every)
        ));
        let mut variants: Vec<String> = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        for r in runs {
            if !variants.contains(&r.row.variant) {
                variants.push(r.row.variant.clone());
            }
            if !labels.contains(&r.row.label) {
                labels.push(r.row.label.clone());
            }
        }
        let gap = |r: &RunOutcome| r.row.extra("derivative_gap").unwrap_or(f64::NAN);
        let rel = |r: &RunOutcome| r.row.extra("rel_l2").unwrap_or(f64::NAN);
        let mut rows = Vec::new();
        let (mut below_all, mut n_all) = (0, 0);
        for v in &variants {
            for l in &labels {
                let mine: Vec<&RunOutcome> = runs
                    .iter()
                    .filter(|r| &r.row.variant == v && &r.row.label == l)
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let below = mine.iter().filter(|r| gap(r) < TARGET).count();
                below_all += below;
                n_all += mine.len();
                let worst = Quantiles::of(mine.iter().map(|r| history_max(r)));
                rows.push(vec![
                    v.clone(),
                    l.clone(),
                    range(&Quantiles::of(mine.iter().map(|r| gap(r)))),
                    frac(below, mine.len()),
                    g(worst.max),
                    range(&Quantiles::of(mine.iter().map(|r| rel(r)))),
                ]);
            }
        }
        body.glance.push(format!(
            "**Final derivative gap below the target {}** in {} runs. Per problem and method: {}.",
            g(TARGET),
            frac(below_all, n_all),
            rows.iter()
                .map(|r| format!("{} {}: {} ({} below)", r[0], r[1], r[2], r[3]))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        let s = &mut body.sections;
        s.push_str("## Final derivative gaps\n\n`gap` = `|d - dz|_F / |dz|_F` over all hidden layers and interior points at the end of training (median [min, max] over seeds); `max over history` = the largest recorded gap of any seed once the auxiliaries exist; rel L2 for context.\n\n");
        s.push_str(&table(
            &[
                "problem",
                "method",
                "final gap median [min, max]",
                &format!("below {}", g(TARGET)),
                "max over history",
                "rel L2 median [min, max]",
            ],
            &rows,
        ));
        let panels: Vec<Panel> = variants
            .iter()
            .map(|v| {
                let mut c = LineChart::new(
                    v.clone(),
                    Axis::linear("iteration (warm runs include the Adam phase)"),
                    Axis::log("derivative gap |d - dz| / |dz|"),
                )
                .with_hline(TARGET, "target", 7);
                for (k, l) in labels.iter().enumerate() {
                    for (i, r) in runs
                        .iter()
                        .filter(|r| &r.row.variant == v && &r.row.label == l)
                        .enumerate()
                    {
                        let pts = gap_curve(r);
                        let sr = Series::line(l.clone(), pts, k);
                        // One legend entry per method, not per seed.
                        c = c.with(if i == 0 { sr } else { sr.unlabelled() });
                    }
                }
                Panel::Line(c)
            })
            .collect();
        if !panels.is_empty() {
            save(
                &Figure::grid(
                    Some(
                        "Derivative auxiliaries vs true input derivatives (one line per seed)"
                            .into(),
                    ),
                    panels,
                    2,
                    640,
                    460,
                ),
                &input.plots_dir.join("derivative_gap"),
            )?;
            s.push_str("\n## Gap across iterations\n\n");
            s.push_str(&image("derivative gap vs iteration", "derivative_gap"));
            s.push_str(&format!(
                "\nLog vertical axis; the dashed line is the target {}.\n",
                g(TARGET)
            ));
        }
        Ok(body)
    }
}

/// `(iteration, gap)` of the recorded history where the gap is a positive number.
pub fn gap_curve(r: &RunOutcome) -> Vec<(f64, f64)> {
    let Some(k) = r.metric_names.iter().position(|n| n == "derivative_gap") else {
        return Vec::new();
    };
    r.history
        .iter()
        .filter_map(|h| {
            let v = *h.values.get(k)?;
            (v.is_finite() && v > 0.0).then_some((h.iteration as f64, v))
        })
        .collect()
}

fn history_max(r: &RunOutcome) -> f64 {
    gap_curve(r)
        .into_iter()
        .map(|p| p.1)
        .fold(f64::NAN, f64::max)
}
