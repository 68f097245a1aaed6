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

use super::regression::SAVE_ALL_MODELS;
use super::regression::{data_description, prediction_figure, train_mse};
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::Result;
use crate::plot::{Axis, BarChart, Figure, LineChart, Panel, Series, Style, save};
use crate::report::{CELL_HEADER, and_list, cell_acc, cell_row, frac, image, table};
use crate::results::{CellStats, aggregate};
use crate::runner::{RunOutcome, RunSpec};

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
                        match m.as_str() {
                            "sapm" => {
                                grid.extend(["method=sapm".into(), "sapm.warm_start=0".into()])
                            }
                            "sapm-warm" => grid.extend([
                                "method=sapm".into(),
                                format!("sapm.warm_start={warm}"),
                                format!("sapm.cap_output={cap_out}.0"),
                                format!("sapm.cap_hidden={cap_hid}.0"),
                            ]),
                            other => grid.push(format!("method={other}")),
                        }
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
        let runs = input.runs;
        let rows: Vec<_> = runs.iter().map(|r| r.row.clone()).collect();
        let cells = aggregate(&rows);
        let mut variants: Vec<String> = Vec::new();
        let mut depths: Vec<usize> = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        for c in &cells {
            if !variants.contains(&c.key.variant) {
                variants.push(c.key.variant.clone());
            }
            if !depths.contains(&c.key.depth) {
                depths.push(c.key.depth);
            }
            if !labels.contains(&c.key.label) {
                labels.push(c.key.label.clone());
            }
        }
        depths.sort_unstable();
        let cell = |v: &str, d: usize, l: &str| {
            cells
                .iter()
                .find(|c| c.key.variant == v && c.key.depth == d && c.key.label == l)
        };
        let has = |l: &str| labels.iter().any(|x| x == l);
        // Depths at which variant `v` ran (the zero-bias variant runs only at some).
        let variant_depths = |v: &str| -> Vec<usize> {
            depths
                .iter()
                .copied()
                .filter(|&d| labels.iter().any(|l| cell(v, d, l).is_some()))
                .collect()
        };
        let mut body = ReportBody::default();
        if let Some(r) = runs.first() {
            let per_depth = input.plan.params.bool("time_per_depth", true)?;
            body.budget_notes.push(if per_depth {
                format!(
                    "equal wall time per method: a run at depth L trains for {} x L / 10 s (L = {}: {} s), with max_iterations {} as a guard",
                    input.plan.budget.seconds,
                    depths.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                    depths.iter().map(|d| format!("{:.1}", input.plan.budget.seconds * *d as f64 / 10.0)).collect::<Vec<_>>().join(", "),
                    input.plan.budget.iterations
                )
            } else {
                format!("equal wall time per method: every run trains for {} s", input.plan.budget.seconds)
            });
            body.budget_notes.push(format!(
                "{}, width {}, {} activation; sapm-warm = {} Adam steps then SAPM with |W_L|² <= {} and hidden |W_l|² <= {} (the Adam steps count against its time)",
                data_description(r),
                r.spec.cfg.network.width,
                r.spec.cfg.network.activation.name(),
                input.plan.params.usize("warm_start", 2000)?,
                input.plan.params.usize("cap_output", 100)?,
                input.plan.params.usize("cap_hidden", 30)?
            ));
        }

        // How much of sapm-warm's time its Adam warm start took (from the history).
        let warm = input.plan.params.usize("warm_start", 2000)?;
        if has("sapm-warm") && warm > 0 {
            let shares: Vec<String> = depths
                .iter()
                .filter_map(|&d| {
                    let rs: Vec<&RunOutcome> = runs
                        .iter()
                        .filter(|r| r.row.label == "sapm-warm" && r.row.depth == d)
                        .collect();
                    if rs.is_empty() {
                        return None;
                    }
                    let reached = rs.iter().filter(|r| r.row.iterations > warm).count();
                    let share =
                        crate::results::Quantiles::of(rs.iter().map(|r| warm_share(r, warm)))
                            .median;
                    Some(format!(
                        "L = {d}: {:.0} %, SAPM phase reached in {}",
                        100.0 * share,
                        frac(reached, rs.len())
                    ))
                })
                .collect();
            body.budget_notes.push(format!(
                "share of sapm-warm's training time spent in its {warm} Adam steps (median): {}",
                shares.join("; ")
            ));
        }

        // (1) Consistency of SAPM at every depth.
        let sapm_runs: Vec<&RunOutcome> = runs
            .iter()
            .filter(|r| SAPM.contains(&r.row.label.as_str()) && r.row.max_ls_over_aux.is_finite())
            .collect();
        if !sapm_runs.is_empty() {
            let within = sapm_runs
                .iter()
                .filter(|r| r.row.max_ls_over_aux <= r.row.consistency_bound * (1.0 + 1e-9))
                .count();
            let worst = sapm_runs
                .iter()
                .map(|r| r.row.max_ls_over_aux / r.row.consistency_bound)
                .fold(0.0f64, f64::max);
            body.glance.push(format!(
                "**J_SAPM and the MSE {}**: the train MSE stayed within SAPM's consistency bound L x J_SAPM over the whole history in {} SAPM runs (cold and warm, all depths; largest MSE/J_SAPM relative to the bound: {}).",
                if within == sapm_runs.len() { "stay together" } else { "come apart in some runs" },
                frac(within, sapm_runs.len()),
                crate::report::g(worst)
            ));
        }

        // (2) Robustness to depth: failures by depth, SAPM vs GD and PM.
        for v in &variants {
            let depths = variant_depths(v);
            let fails = |l: &str| -> Option<Vec<usize>> {
                depths
                    .iter()
                    .map(|&d| cell(v, d, l).map(|c| c.failed))
                    .collect()
            };
            let n = depths
                .iter()
                .filter_map(|&d| cell(v, d, labels.first()?.as_str()))
                .map(|c| c.n)
                .next()
                .unwrap_or(0);
            let mut parts = Vec::new();
            for l in ["ls-gd", "pm", "sapm", "sapm-warm"] {
                if let Some(f) = fails(l).filter(|_| has(l)) {
                    parts.push(format!(
                        "{l} ({})",
                        f.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            if parts.is_empty() {
                continue;
            }
            let mut verdicts = Vec::new();
            for s in SAPM.iter().filter(|s| has(s)) {
                for base in ["ls-gd", "pm"].iter().filter(|b| has(b)) {
                    if let (Some(a), Some(b)) = (fails(s), fails(base)) {
                        verdicts.push(format!("{s} is {} {base}", robustness(&a, &b)));
                    }
                }
            }
            let fragile: Vec<String> =
                SAPM.iter()
                    .filter(|s| has(s))
                    .map(|s| {
                        let (k, ok) = depths.iter().filter_map(|&d| cell(v, d, s)).fold(
                            (0, 0),
                            |(k, ok), c| {
                                let good = runs.iter().filter(|r| {
                                    r.row.variant == *v
                                        && r.row.depth == c.key.depth
                                        && r.row.label == *s
                                        && !r.row.failed()
                                });
                                let (fk, fo) = good.fold((0, 0), |(a, b), r| {
                                    (a + usize::from(r.row.fragile), b + 1)
                                });
                                (k + fk, ok + fo)
                            },
                        );
                        format!("{s} {}", frac(k, ok))
                    })
                    .collect();
            body.glance.push(format!(
                "**Robustness to depth ({v})**: failed runs out of {n} at L = ({}): {}. So {}. Fragile among the runs that did not fail: {}.",
                depths.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                parts.join("; "),
                if verdicts.is_empty() { "no comparison is possible with the methods run".to_string() } else { and_list(&verdicts) },
                if fragile.is_empty() { "-".to_string() } else { fragile.join(", ") }
            ));
        }

        // (3) Equal time: best of Adam / L-BFGS / Adam->L-BFGS vs the best SAPM variant.
        let best = |v: &str, d: usize, set: &[&str]| -> Option<&CellStats> {
            set.iter()
                .filter_map(|l| cell(v, d, l))
                .min_by(|a, b| a.test_mse.median.total_cmp(&b.test_mse.median))
        };
        let mut ls_wins = 0;
        let mut sapm_wins = Vec::new();
        let mut total = 0;
        let mut detail = Vec::new();
        for v in &variants {
            for &d in &depths {
                if let (Some(a), Some(b)) = (best(v, d, &LS_STRONG), best(v, d, &SAPM)) {
                    total += 1;
                    let sapm_better = b.test_mse.median < a.test_mse.median;
                    if sapm_better {
                        sapm_wins.push(format!(
                            "L = {d} ({v}): {} {} vs {} {}{}",
                            b.key.label,
                            cell_acc(b),
                            a.key.label,
                            cell_acc(a),
                            sound_note(b)
                        ));
                    } else {
                        ls_wins += 1;
                    }
                    if d == *depths.last().unwrap_or(&d) || d == 10 {
                        detail.push(format!(
                            "L = {d} ({v}): best LS {} {}, best SAPM {} {}",
                            a.key.label,
                            cell_acc(a),
                            b.key.label,
                            cell_acc(b)
                        ));
                    }
                }
            }
        }
        if total > 0 {
            body.glance.push(format!(
                "**Against Adam and L-BFGS at equal time**: the best of {} had the lower median test MSE in {} (depth, bias) cells, the best SAPM variant in {}{}. For example: {}.",
                LS_STRONG.iter().filter(|l| has(l)).cloned().collect::<Vec<_>>().join(" / "),
                frac(ls_wins, total),
                frac(sapm_wins.len(), total),
                if sapm_wins.is_empty() { String::new() } else { format!(" ({})", sapm_wins.join("; ")) },
                detail.join("; ")
            ));
        }

        // (4) Where auxiliary variables win.
        let plain: Vec<&str> = LABELS
            .iter()
            .filter(|l| !AUX.contains(l))
            .cloned()
            .collect();
        let (mut sound_wins, mut fragile_wins, mut n_cells) = (Vec::new(), Vec::new(), 0);
        for v in &variants {
            for &d in &depths {
                if let (Some(a), Some(p)) = (best(v, d, &AUX), best(v, d, &plain)) {
                    n_cells += 1;
                    if a.test_mse.median < p.test_mse.median {
                        let s = format!(
                            "L = {d} ({v}): {} {} vs {} {}",
                            a.key.label,
                            cell_acc(a),
                            p.key.label,
                            cell_acc(p)
                        );
                        if 2 * a.fragile <= a.n && 2 * a.failed <= a.n {
                            sound_wins.push(s);
                        } else {
                            fragile_wins.push(format!(
                                "{s}, but {} fragile and {} failed",
                                frac(a.fragile, a.n),
                                frac(a.failed, a.n)
                            ));
                        }
                    }
                }
            }
        }
        if n_cells > 0 {
            body.glance.push(if sound_wins.is_empty() {
                format!(
                    "**Where auxiliary variables win**: nowhere in this study. In all {n_cells} cells a method without auxiliary variables had a lower median test MSE{}.",
                    if fragile_wins.is_empty() {
                        String::new()
                    } else {
                        format!(", except where the auxiliary-variable winner was fragile or failing in more than half its runs ({})", fragile_wins.join("; "))
                    }
                )
            } else {
                format!(
                    "**Where auxiliary variables win** (lower median test MSE than every method without them, fragile and failed in at most half the runs): {} of {n_cells} cells: {}{}.",
                    sound_wins.len(),
                    sound_wins.join("; "),
                    if fragile_wins.is_empty() { String::new() } else { format!("; unsound wins: {}", fragile_wins.join("; ")) }
                )
            });
        }

        // Plots.
        let s = &mut body.sections;
        for v in &variants {
            let depths = variant_depths(v);
            let group_names: Vec<String> = depths.iter().map(|d| format!("L={d}")).collect();
            let tag = v.trim_start_matches("bias=");
            let bars = |rate: fn(&CellStats) -> f64| -> Vec<(String, Vec<f64>)> {
                labels
                    .iter()
                    .map(|l| {
                        (
                            l.clone(),
                            depths
                                .iter()
                                .map(|&d| cell(v, d, l).map_or(f64::NAN, rate))
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
                let mut c =
                    LineChart::new(title, Axis::linear("depth L"), Axis::log("median test MSE"));
                for (k, l) in labels.iter().enumerate() {
                    let pts: Vec<(f64, f64)> = depths
                        .iter()
                        .filter_map(|&d| cell(v, d, l).map(|c| (d as f64, f(c))))
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
                for (k, l) in labels.iter().enumerate() {
                    if let Some(r) = runs.iter().find(|r| {
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
                let firsts: Vec<(&str, &RunOutcome)> = runs
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
            let t: Vec<Vec<String>> = labels
                .iter()
                .map(|l| {
                    let mut row = vec![l.clone()];
                    row.extend(depths.iter().map(|&d| {
                        cell(v, d, l).map_or("-".into(), |c| {
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
                let t: Vec<Vec<String>> = labels
                    .iter()
                    .filter_map(|l| cell(v, d, l).map(|c| cell_row(l, c)))
                    .collect();
                s.push_str(&table(&CELL_HEADER, &t));
            }
            s.push('\n');
        }
        Ok(body)
    }
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

/// Compare failures by depth of method `a` with method `b`.
pub fn robustness(a: &[usize], b: &[usize]) -> &'static str {
    let (sa, sb): (usize, usize) = (a.iter().sum(), b.iter().sum());
    let le = a.iter().zip(b).all(|(x, y)| x <= y);
    let ge = a.iter().zip(b).all(|(x, y)| x >= y);
    if le && ge {
        "as robust as"
    } else if le && sa < sb {
        "more robust than"
    } else if ge && sa > sb {
        "less robust than"
    } else {
        "neither clearly more nor less robust than (mixed by depth)"
    }
}

fn sound_note(c: &CellStats) -> String {
    if 2 * c.fragile > c.n {
        format!(", but fragile in {}", frac(c.fragile, c.n))
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robustness_verdicts() {
        assert_eq!(robustness(&[0, 1, 2], &[0, 3, 5]), "more robust than");
        assert_eq!(robustness(&[1, 1], &[1, 1]), "as robust as");
        assert_eq!(robustness(&[2, 4], &[1, 4]), "less robust than");
        assert!(robustness(&[0, 5], &[3, 1]).starts_with("neither"));
    }
}
