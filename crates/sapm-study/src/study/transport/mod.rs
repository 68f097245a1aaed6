//! `transport`: the PINN table over the transport speed beta.
//!
//! `u_t + beta u_x = 0` (`transport1d`, periodic in x) for several beta plus
//! the inflow problem (`transport_inflow`, beta = 1), tanh networks of a few
//! depths, and the five PINN methods of `docs/pinn.md` with the examples'
//! settings. Reports median [min, max] rel L2 per problem x depth x method,
//! the ratio of each auxiliary-variable method to Adam -> L-BFGS, failure
//! rates (rel L2 >= [`FAIL_THRESHOLD`]), rel L2 against beta, and heat maps
//! of the best and the median run of every method.
//!
//! Files: this one (the plan and the report), `cells` (the per-cell
//! aggregates, tables and sentences), `figures` (rel L2 against beta, heat maps).

mod cells;
mod figures;

pub use cells::{PinnCell, pinn_cells, ratio_to_baseline};

use super::pinn::{FAIL_THRESHOLD, METHODS, beta_str, execute_pinn, pinn_config, report_body};
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::Result;
use crate::plot::{Figure, Panel, save};
use crate::report::image;
use crate::results::ResultRow;
use crate::runner::{RunOutcome, RunOutput, RunSpec};
use cells::{BASELINE, failure_table, glance, labels_of, main_table};
use figures::{beta_chart, heat_figure};

/// The transport study (see the module docs).
pub struct Transport;

static INFO: StudyInfo = StudyInfo {
    name: "transport",
    about: "PINN accuracy over the transport speed beta: Adam, Adam -> L-BFGS, PM, SAPM cold and warm",
    budget: Budget::by_iterations(3, 600),
    options: &[
        OptionDoc::new(
            "study.betas",
            "[1, 10, 30, 50]",
            "transport speeds of `transport1d`",
        ),
        OptionDoc::new(
            "study.inflow",
            "true",
            "also run `transport_inflow` (beta = 1)",
        ),
        OptionDoc::new("study.depths", "[4, 6]", "numbers of affine layers L"),
        OptionDoc::new(
            "study.methods",
            "[\"ls-adam\", \"ls-adam-lbfgs\", \"pm\", \"sapm\", \"sapm-warm\"]",
            "PINN methods (settings of examples/pde-*.toml)",
        ),
        OptionDoc::new(
            "study.heatmap_betas",
            "[1, 10]",
            "transport1d speeds whose best and median runs get heat maps (at the smallest depth)",
        ),
        OptionDoc::new(
            "study.save_models",
            "true",
            "write model.json into every run folder (`sapm plot runs/<id>`)",
        ),
    ],
};

/// One problem of the plan: variant name, problem, speed, run-id prefix.
struct Case {
    variant: String,
    problem: &'static str,
    beta: f64,
    prefix: String,
}

fn cases(p: &PlanInput) -> Result<Vec<Case>> {
    let mut v: Vec<Case> = p
        .params
        .positive_list("betas", &[1.0, 10.0, 30.0, 50.0])?
        .into_iter()
        .map(|b| Case {
            variant: format!("transport1d beta={}", beta_str(b)),
            problem: "transport1d",
            beta: b,
            prefix: format!("t1d-b{}", beta_str(b)),
        })
        .collect();
    if p.params.bool("inflow", true)? {
        v.push(Case {
            variant: "transport_inflow beta=1".into(),
            problem: "transport_inflow",
            beta: 1.0,
            prefix: "inflow".into(),
        });
    }
    Ok(v)
}

impl Study for Transport {
    fn info(&self) -> &'static StudyInfo {
        &INFO
    }

    fn plan(&self, p: &PlanInput) -> Result<Vec<RunSpec>> {
        let depths = p.params.usize_list("depths", &[4, 6], 2)?;
        let methods = p.params.name_list("methods", &METHODS, &METHODS)?;
        let heat = p.params.positive_list("heatmap_betas", &[1.0, 10.0])?;
        let save_models = p.params.bool("save_models", true)?;
        let mut specs = Vec::new();
        for c in cases(p)? {
            for &d in &depths {
                for m in &methods {
                    for seed in p.seeds() {
                        let cfg = pinn_config(p, c.problem, c.beta, d, m, seed)?;
                        let id = format!("{}-L{d}-{m}-s{seed}", c.prefix);
                        let keep = c.problem == "transport1d" && heat.contains(&c.beta);
                        specs.push(RunSpec::new(id, m, &c.variant, cfg).models(save_models, keep));
                    }
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
        let rows: Vec<ResultRow> = runs.iter().map(|r| r.row.clone()).collect();
        let cells = pinn_cells(&rows);
        let mut body = report_body();
        let k = input.plan.budget.iterations;
        body.budget_notes.push(format!(
            "`--iterations` K = {k} sets every method's budget in the proportions of `examples/pde-*.toml` (K = 1500 there): ls-adam {} Adam steps; ls-adam-lbfgs {} Adam + {} L-BFGS iterations; pm and sapm {k} outer iterations; sapm-warm {} Adam steps + {k} SAPM iterations",
            4 * k,
            (4 * k).div_ceil(3),
            4 * k - (4 * k).div_ceil(3),
            (4 * k).div_ceil(3)
        ));
        if let Some(r) = runs.first() {
            body.budget_notes.push(format!(
                "width {}, {} activation, {} interior + {} boundary random points (seeded by the run seed), rel L2 on a {} x {} test grid, history every 50 (ls-*) or 10 (pm, sapm) iterations",
                r.spec.cfg.network.width,
                r.spec.cfg.network.activation.name(),
                r.spec.cfg.pde.as_ref().map_or(0, |p| p.n_interior),
                r.spec.cfg.pde.as_ref().map_or(0, |p| p.n_boundary),
                r.spec.cfg.pde.as_ref().map_or(0, |p| p.n_test),
                r.spec.cfg.pde.as_ref().map_or(0, |p| p.n_test),
            ));
        }
        body.glance = glance(&cells);
        let s = &mut body.sections;
        s.push_str(&format!("## rel L2 by problem, depth and method\n\nMedian [min, max] over seeds of the final rel L2 `|u - u_exact| / |u_exact|` on the test grid; **failed** = rel L2 >= {FAIL_THRESHOLD} or not a number or an error. `ratio` = median rel L2 / median rel L2 of {BASELINE} in the same problem and depth (< 1: more accurate than Adam -> L-BFGS). f32: median rel L2 of the model evaluated in single precision. gap: median final derivative gap (PM/SAPM).\n\n"));
        s.push_str(&main_table(&cells));
        s.push_str("\n## Failure rate by method and problem (all depths)\n\n");
        s.push_str(&failure_table(&cells));
        s.push('\n');

        // rel L2 against beta, one panel per depth.
        let mut depths: Vec<usize> = cells.iter().map(|c| c.depth).collect();
        depths.sort_unstable();
        depths.dedup();
        let labels = labels_of(&cells);
        let t1d: Vec<&RunOutcome> = runs
            .iter()
            .filter(|r| {
                r.spec
                    .cfg
                    .pde
                    .as_ref()
                    .is_some_and(|p| p.problem == "transport1d")
            })
            .collect();
        if !t1d.is_empty() {
            let panels: Vec<Panel> = depths
                .iter()
                .map(|&d| Panel::Line(beta_chart(&t1d, &labels, d)))
                .collect();
            let fig = Figure::grid(
                Some("transport1d: final rel L2 against beta (lines: medians, dots: seeds)".into()),
                panels,
                2,
                640,
                460,
            );
            save(&fig, &input.plots_dir.join("rel_l2_beta"))?;
            s.push_str("## rel L2 against beta\n\n");
            s.push_str(&image("rel L2 against beta", "rel_l2_beta"));
            s.push_str(&format!("\nOne panel per depth; log axes; the dashed line is the failure threshold {FAIL_THRESHOLD}. Every run is a dot.\n\n"));
        }

        // Heat maps of the best and the median run of each method.
        let heat_depth = depths.first().copied();
        let kept: Vec<&RunOutcome> = runs.iter().filter(|r| r.model.is_some()).collect();
        let mut betas: Vec<f64> = kept
            .iter()
            .filter_map(|r| r.spec.cfg.pde.as_ref().map(|p| p.beta))
            .collect();
        betas.sort_by(f64::total_cmp);
        betas.dedup();
        for b in betas {
            let Some(d) = heat_depth else { break };
            let stem = format!("heat_b{}_L{d}", beta_str(b));
            let of_beta: Vec<&RunOutcome> = kept
                .iter()
                .copied()
                .filter(|r| {
                    r.row.depth == d && r.spec.cfg.pde.as_ref().is_some_and(|p| p.beta == b)
                })
                .collect();
            if let Some(fig) = heat_figure(&of_beta, &labels, b, d)? {
                save(&fig, &input.plots_dir.join(&stem))?;
                s.push_str(&format!(
                    "## Solutions and errors, transport1d beta = {}, L = {d}\n\n",
                    beta_str(b)
                ));
                s.push_str(&image(&format!("heat maps beta = {}", beta_str(b)), &stem));
                s.push_str(&format!("\nOne row per method: prediction and pointwise error |u - u_exact| (log colour scale) of the best run, then of the median run (by rel L2; with an even number of seeds the better of the two middle runs). Exact solution: u = sin(x - {} t). Each panel has its own colour bar.\n\n", beta_str(b)));
            }
        }
        Ok(body)
    }
}
