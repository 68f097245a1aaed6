//! `transport`: the PINN table over the transport speed beta.
//!
//! `u_t + beta u_x = 0` (`transport1d`, periodic in x) for several beta plus
//! the inflow problem (`transport_inflow`, beta = 1), tanh networks of a few
//! depths, and the five PINN methods of `docs/pinn.md` with the examples'
//! settings. Reports median [min, max] rel L2 per problem x depth x method,
//! the ratio of each auxiliary-variable method to Adam -> L-BFGS, failure
//! rates (rel L2 >= [`FAIL_THRESHOLD`]), rel L2 against beta, and heat maps
//! of the best and the median run of every method.

use super::pinn::{FAIL_THRESHOLD, METHODS, beta_str, by_rel_l2, execute_pinn, pinn_config};
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::Result;
use crate::pinnplot::solution_maps;
use crate::plot::{Axis, Figure, LineChart, Panel, Series, Style, save};
use crate::report::{frac, g, image, range, table};
use crate::results::{Quantiles, ResultRow};
use crate::runner::{RunOutcome, RunOutput, RunSpec};

/// The transport study (see the module docs).
pub struct Transport;

static INFO: StudyInfo = StudyInfo {
    name: "transport",
    about: "PINN accuracy over the transport speed beta: Adam, Adam -> L-BFGS, PM, SAPM cold and warm",
    budget: Budget {
        seeds: 3,
        iterations: 600,
        seconds: 0.0,
    },
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

/// Cells per axis of the study's heat maps (20 panels per figure).
const HEAT_GRID: usize = 48;

/// The Adam -> L-BFGS label every ratio is taken against.
const BASELINE: &str = "ls-adam-lbfgs";

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
        let mut body = ReportBody {
            definitions: super::pinn::definitions(),
            ..Default::default()
        };
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
        glance(&cells, &mut body.glance);
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

/// Aggregate of one (problem, depth, method) cell of a PINN study.
#[derive(Debug, Clone, PartialEq)]
pub struct PinnCell {
    /// Problem (the run's `variant`, e.g. `transport1d beta=10`).
    pub problem: String,
    /// Depth `L`.
    pub depth: usize,
    /// Method label.
    pub label: String,
    /// Runs.
    pub n: usize,
    /// Runs with rel L2 >= the failure threshold, not a number, or an error.
    pub failed: usize,
    /// Final rel L2 (not a number counts as +inf).
    pub rel_l2: Quantiles,
    /// Final rel L2 of the f32 model.
    pub rel_l2_f32: Quantiles,
    /// Final derivative gap (runs without one left out).
    pub gap: Quantiles,
    /// `|W_L|_F^2`.
    pub w_out: Quantiles,
    /// Training seconds.
    pub seconds: Quantiles,
    /// Iterations.
    pub iterations: Quantiles,
}

impl PinnCell {
    /// `failed / n`.
    pub fn failure_rate(&self) -> f64 {
        self.failed as f64 / self.n as f64
    }
}

/// Cells keyed by (problem, depth, label), in order of first appearance.
pub fn pinn_cells(rows: &[ResultRow]) -> Vec<PinnCell> {
    let mut keys: Vec<(String, usize, String)> = Vec::new();
    for r in rows {
        let k = (r.variant.clone(), r.depth, r.label.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(problem, depth, label)| {
            let rs: Vec<&ResultRow> = rows
                .iter()
                .filter(|r| r.variant == problem && r.depth == depth && r.label == label)
                .collect();
            let ex = |name: &'static str| {
                Quantiles::of(rs.iter().map(|r| r.extra(name).unwrap_or(f64::NAN)))
            };
            PinnCell {
                n: rs.len(),
                failed: rs.iter().filter(|r| r.failed()).count(),
                rel_l2: ex("rel_l2"),
                rel_l2_f32: ex("rel_l2_f32"),
                // Not a number here means "no auxiliaries", not a bad run.
                gap: Quantiles::of(
                    rs.iter()
                        .filter_map(|r| r.extra("derivative_gap"))
                        .filter(|v| !v.is_nan()),
                ),
                w_out: Quantiles::of(rs.iter().map(|r| r.output_weight_norm_sq)),
                seconds: Quantiles::of(rs.iter().map(|r| r.seconds)),
                iterations: Quantiles::of(rs.iter().map(|r| r.iterations as f64)),
                problem,
                depth,
                label,
            }
        })
        .collect()
}

/// Median rel L2 of `label` over that of [`BASELINE`] in the same problem and depth.
pub fn ratio_to_baseline(cells: &[PinnCell], c: &PinnCell) -> Option<f64> {
    let base = baseline(cells, c)?;
    let r = c.rel_l2.median / base.rel_l2.median;
    r.is_finite().then_some(r)
}

fn labels_of(cells: &[PinnCell]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for c in cells {
        if !v.contains(&c.label) {
            v.push(c.label.clone());
        }
    }
    v
}

fn main_table(cells: &[PinnCell]) -> String {
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            vec![
                c.problem.clone(),
                c.depth.to_string(),
                c.label.clone(),
                range(&c.rel_l2),
                ratio_to_baseline(cells, c).map_or("-".into(), g),
                frac(c.failed, c.n),
                g(c.rel_l2_f32.median),
                g(c.w_out.median),
                if c.gap.median.is_nan() {
                    "-".into()
                } else {
                    g(c.gap.median)
                },
                g(c.iterations.median),
                g(c.seconds.median),
            ]
        })
        .collect();
    table(
        &[
            "problem",
            "L",
            "method",
            "rel L2 median [min, max]",
            "ratio",
            "failed",
            "f32",
            "|W_L|²",
            "gap",
            "iters",
            "seconds",
        ],
        &rows,
    )
}

fn failure_table(cells: &[PinnCell]) -> String {
    let mut problems: Vec<String> = Vec::new();
    for c in cells {
        if !problems.contains(&c.problem) {
            problems.push(c.problem.clone());
        }
    }
    let rows: Vec<Vec<String>> = labels_of(cells)
        .iter()
        .map(|l| {
            let mut row = vec![l.clone()];
            let (mut k, mut n) = (0, 0);
            for p in &problems {
                let (a, b) = cells
                    .iter()
                    .filter(|c| &c.label == l && &c.problem == p)
                    .fold((0, 0), |(a, b), c| (a + c.failed, b + c.n));
                row.push(if b == 0 { "-".into() } else { frac(a, b) });
                k += a;
                n += b;
            }
            row.push(format!(
                "{} ({:.0} %)",
                frac(k, n),
                100.0 * k as f64 / n.max(1) as f64
            ));
            row
        })
        .collect();
    let mut hdr: Vec<&str> = vec!["method"];
    hdr.extend(problems.iter().map(String::as_str));
    hdr.push("all");
    table(&hdr, &rows)
}

/// "At a glance": failures per method, and where the SAPM variants stand
/// against Adam -> L-BFGS.
fn glance(cells: &[PinnCell], out: &mut Vec<String>) {
    let labels = labels_of(cells);
    let parts: Vec<String> = labels
        .iter()
        .map(|l| {
            let (k, n) = cells
                .iter()
                .filter(|c| &c.label == l)
                .fold((0, 0), |(a, b), c| (a + c.failed, b + c.n));
            format!("{l} {}", frac(k, n))
        })
        .collect();
    out.push(format!(
        "**Failures** (rel L2 >= {FAIL_THRESHOLD}) over all problems and depths: {}.",
        parts.join("; ")
    ));
    for l in ["sapm", "sapm-warm", "pm"] {
        let mine: Vec<(&PinnCell, f64)> = cells
            .iter()
            .filter(|c| c.label == l)
            .filter_map(|c| Some((c, ratio_to_baseline(cells, c)?)))
            .collect();
        if mine.is_empty() {
            continue;
        }
        // Where both methods fail in most runs, a ratio of two errors near 1
        // says nothing: leave those cells out of the comparison.
        let mostly_failed = |c: &PinnCell| 2 * c.failed > c.n;
        let (compared, both_failed): (Vec<_>, Vec<_>) = mine.iter().partition(|(c, _)| {
            !(mostly_failed(c) && baseline(cells, c).is_some_and(mostly_failed))
        });
        let within = compared.iter().filter(|(_, r)| *r <= 10.0).count();
        let better = compared.iter().filter(|(_, r)| *r < 1.0).count();
        let list: Vec<String> = compared
            .iter()
            .map(|(c, r)| {
                format!(
                    "{} L={}: {}x{}",
                    c.problem,
                    c.depth,
                    g(*r),
                    if mostly_failed(c) { " (failed)" } else { "" }
                )
            })
            .collect();
        out.push(format!(
            "**{l} vs Adam -> L-BFGS** (ratio of median rel L2, same problem and depth; {} cells where both failed in most runs left out): better in {}, within 10x in {} cells; ratios: {}.",
            both_failed.len(),
            frac(better, compared.len()),
            frac(within, compared.len()),
            if list.is_empty() { "none".into() } else { list.join(", ") }
        ));
    }
}

/// The [`BASELINE`] cell of the same problem and depth.
fn baseline<'a>(cells: &'a [PinnCell], c: &PinnCell) -> Option<&'a PinnCell> {
    cells
        .iter()
        .find(|b| b.problem == c.problem && b.depth == c.depth && b.label == BASELINE)
}

fn beta_chart(runs: &[&RunOutcome], labels: &[String], depth: usize) -> LineChart {
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
fn heat_figure(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::from_csv;
    use std::path::Path;

    /// Two problems, two methods, three seeds; hand-computed medians and failures.
    fn table() -> Vec<ResultRow> {
        let head = "study,run,label,method,depth,variant,seed,status,failed,fragile,iterations,seconds,wall_seconds,train_mse,test_mse,test_mse_f32,output_weight_norm_sq,spectral_norm_product,output_design_cond,aux_loss,ls_over_aux,max_ls_over_aux,consistency_bound,constant_predictor_mse,message,beta,rel_l2,rel_l2_f32,pde_loss,bc_loss,derivative_gap,fail_rel_l2\n";
        let mut t = head.to_string();
        // label, problem, seed, status, rel_l2, gap, train_mse
        let rows = [
            (
                "ls-adam-lbfgs",
                "b1",
                0,
                "max_iterations",
                "1e-4",
                "",
                "1e-9",
            ),
            (
                "ls-adam-lbfgs",
                "b1",
                1,
                "max_iterations",
                "3e-4",
                "",
                "1e-9",
            ),
            (
                "ls-adam-lbfgs",
                "b1",
                2,
                "max_iterations",
                "2e-4",
                "",
                "1e-9",
            ),
            ("sapm", "b1", 0, "max_iterations", "2e-3", "1e-5", "5"),
            ("sapm", "b1", 1, "diverged", "NaN", "1e-4", "NaN"),
            ("sapm", "b1", 2, "max_iterations", "1e-3", "3e-5", "1e-6"),
            (
                "ls-adam-lbfgs",
                "b10",
                0,
                "max_iterations",
                "0.6",
                "",
                "1e-3",
            ),
            (
                "ls-adam-lbfgs",
                "b10",
                1,
                "max_iterations",
                "0.5",
                "",
                "1e-3",
            ),
            (
                "ls-adam-lbfgs",
                "b10",
                2,
                "max_iterations",
                "0.1",
                "",
                "1e-3",
            ),
            ("sapm", "b10", 0, "error", "", "", ""),
            ("sapm", "b10", 1, "max_iterations", "0.2", "2e-3", "1e-3"),
            ("sapm", "b10", 2, "max_iterations", "0.4999", "1e-3", "1e-3"),
        ];
        for (i, (l, p, s, st, rel, gap, mse)) in rows.iter().enumerate() {
            t.push_str(&format!(
                "transport,r{i},{l},{l},4,{p},{s},{st},0,0,10,1,1,{mse},,,2,1,1,,,,,0.1,,1,{rel},{rel},1e-3,1e-4,{gap},0.5\n"
            ));
        }
        from_csv(&t, Path::new("hand.csv")).unwrap()
    }

    #[test]
    fn medians_failures_and_ratios_on_a_hand_made_table() {
        let rows = table();
        let cells = pinn_cells(&rows);
        assert_eq!(cells.len(), 4);
        let cell = |p: &str, l: &str| {
            cells
                .iter()
                .find(|c| c.problem == p && c.label == l)
                .unwrap()
        };
        let base = cell("b1", "ls-adam-lbfgs");
        assert_eq!((base.n, base.failed), (3, 0));
        assert_eq!(base.rel_l2.median, 2e-4);
        assert_eq!((base.rel_l2.min, base.rel_l2.max), (1e-4, 3e-4));
        assert!(base.gap.median.is_nan(), "no gap for ls-*");
        // Train MSE 5 > constant 0.1 does not fail a PINN run; NaN rel L2 does.
        let s = cell("b1", "sapm");
        assert_eq!((s.n, s.failed), (3, 1));
        assert_eq!(s.rel_l2.median, 2e-3);
        assert_eq!(s.rel_l2.max, f64::INFINITY);
        assert_eq!(s.gap.median, 3e-5);
        assert!((ratio_to_baseline(&cells, s).unwrap() - 10.0).abs() < 1e-12);
        // 0.5 is a failure (>=), 0.4999 is not; an error row fails.
        let b = cell("b10", "ls-adam-lbfgs");
        assert_eq!((b.failed, b.failure_rate()), (2, 2.0 / 3.0));
        let s10 = cell("b10", "sapm");
        assert_eq!(s10.failed, 1);
        assert_eq!(s10.rel_l2.median, 0.4999);
        assert!((ratio_to_baseline(&cells, s10).unwrap() - 0.4999 / 0.5).abs() < 1e-12);
        assert_eq!(ratio_to_baseline(&cells, base), Some(1.0));

        let ft = failure_table(&cells);
        assert!(ft.contains("| sapm | 1/3 | 1/3 | 2/6 (33 %) |"), "{ft}");
        assert!(
            ft.contains("| ls-adam-lbfgs | 0/3 | 2/3 | 2/6 (33 %) |"),
            "{ft}"
        );
        let mt = main_table(&cells);
        assert!(
            mt.contains("| b1 | 4 | sapm | 2.00e-3 [1.00e-3, inf] | 10 | 1/3 |"),
            "{mt}"
        );
        let mut gl = Vec::new();
        glance(&cells, &mut gl);
        assert!(gl[0].contains("ls-adam-lbfgs 2/6; sapm 2/6"), "{}", gl[0]);
        // b10: sapm fails 1/3, the baseline 2/3: compared, not left out.
        assert!(
            gl[1].contains("better in 1/2, within 10x in 2/2"),
            "{}",
            gl[1]
        );
        assert!(gl[1].contains("0 cells where both failed"), "{}", gl[1]);
        // Both failing in most runs: the cell leaves the comparison.
        let mut both = cells.clone();
        for c in &mut both {
            if c.problem == "b10" {
                c.failed = 3;
            }
        }
        let mut gl = Vec::new();
        glance(&both, &mut gl);
        assert!(gl[1].contains("1 cells where both failed"), "{}", gl[1]);
        assert!(
            gl[1].contains("better in 0/1, within 10x in 1/1"),
            "{}",
            gl[1]
        );
    }
}
