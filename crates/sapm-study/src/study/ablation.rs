//! `ablation`: SAPM's knobs changed one at a time around the defaults, at
//! equal iterations (the evidence for the defaults).

use super::regression::{DEPTH, SAVE_ALL_MODELS};
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::Result;
use crate::plot::{Axis, Figure, LineChart, Panel, Series, Style, save};
use crate::report::{CELL_HEADER, cell_acc, cell_row, frac, image, join_or_none, table};
use crate::results::{CellStats, aggregate};
use crate::runner::RunSpec;

/// The ablation study (see the module docs).
pub struct Ablation;

/// `(name, overrides)` of every variant; `default` changes nothing.
pub const VARIANTS: [(&str, &[&str]); 18] = [
    ("default", &[]),
    ("omega_mode=frozen", &["sapm.omega_mode=frozen"]),
    ("ridge=1e-8", &["sapm.ridge=1e-8"]),
    ("ridge=1e-4", &["sapm.ridge=1e-4"]),
    ("prox=1e-6", &["sapm.prox=1e-6"]),
    ("prox=1e-2", &["sapm.prox=1e-2"]),
    ("solver=cholesky", &["sapm.solver=cholesky"]),
    ("tau=0.5", &["sapm.tau=0.5"]),
    ("tau=2", &["sapm.tau=2.0"]),
    ("aux_steps=3", &["sapm.aux_steps=3"]),
    ("backtrack=false", &["sapm.backtrack=false"]),
    ("sweep=forward", &["sapm.sweep=forward"]),
    ("aux_order=gauss-seidel", &["sapm.aux_order=gauss-seidel"]),
    ("aux_init=random", &["sapm.aux_init=random"]),
    ("warm_start=2000", &["sapm.warm_start=2000"]),
    (
        "caps=100/30",
        &["sapm.cap_output=100.0", "sapm.cap_hidden=30.0"],
    ),
    ("init=uniform", &["network.init=uniform"]),
    ("bias_init=zero", &["network.bias_init=zero"]),
];

static INFO: StudyInfo = StudyInfo {
    name: "ablation",
    about: "SAPM's knobs one at a time around the defaults, at equal iterations",
    budget: Budget::by_iterations(10, 1000),
    options: &[
        DEPTH,
        OptionDoc::new(
            "study.variants",
            "all",
            "subset of the variant names (default is always included)",
        ),
        SAVE_ALL_MODELS,
    ],
};

/// A variant "differs" from the default when its median test MSE is off by more than this factor.
const FACTOR: f64 = 2.0;

impl Study for Ablation {
    fn info(&self) -> &'static StudyInfo {
        &INFO
    }

    fn plan(&self, p: &PlanInput) -> Result<Vec<RunSpec>> {
        let depth = p.params.usize_list("depth", &[10], 2)?[0];
        let names: Vec<&str> = VARIANTS.iter().map(|v| v.0).collect();
        let mut chosen = p.params.name_list("variants", &names, &names)?;
        if !chosen.iter().any(|c| c == "default") {
            chosen.insert(0, "default".into());
        }
        let save_all = p.params.bool("save_all_models", false)?;
        let base = [
            "train.record_every=10".to_string(),
            "method=sapm".to_string(),
        ];
        let mut specs = Vec::new();
        for (name, sets) in VARIANTS.iter().filter(|v| chosen.iter().any(|c| c == v.0)) {
            let mut grid: Vec<String> = vec![format!("network.depth={depth}")];
            grid.extend(sets.iter().map(|s| s.to_string()));
            let mut budget = p.budget_sets();
            // Warm-start steps count as iterations: give SAPM the same K iterations after them.
            if let Some(w) = sets.iter().find_map(|s| s.strip_prefix("sapm.warm_start=")) {
                let w: usize = w.parse().unwrap_or(0);
                budget[0] = format!("train.max_iterations={}", p.budget.iterations + w);
            }
            for seed in p.seeds() {
                let cfg = p.config(&base, &budget, &grid, seed)?;
                let id = format!("{}-s{seed}", name.replace(['=', '/'], "_"));
                let first = seed == p.first_seed;
                specs.push(
                    RunSpec::new(id, *name, format!("L={depth}"), cfg)
                        .models(first || save_all, false),
                );
            }
        }
        Ok(specs)
    }

    fn report(&self, input: &ReportInput<'_>) -> Result<ReportBody> {
        let runs = input.runs;
        let rows: Vec<_> = runs.iter().map(|r| r.row.clone()).collect();
        let cells = aggregate(&rows);
        let mut body = ReportBody::default();
        if let Some(r) = runs.first() {
            body.budget_notes.push(format!(
                "every variant runs {} SAPM iterations (warm_start=2000 adds its Adam steps on top), L = {}, width {}, {}",
                input.plan.budget.iterations,
                r.row.depth,
                r.spec.cfg.network.width,
                super::regression::data_description(r)
            ));
        }
        let Some(def) = cells.iter().find(|c| c.key.label == "default") else {
            return Ok(body);
        };
        body.glance.push(format!(
            "**Default SAPM**: median test MSE {}, failed {}, fragile {}, median {} s per run.",
            cell_acc(def),
            frac(def.failed, def.n),
            frac(def.fragile, def.n),
            crate::report::g(def.seconds.median)
        ));
        let (mut better, mut worse, mut same) = (Vec::new(), Vec::new(), Vec::new());
        let mut sound_better = Vec::new();
        for c in cells.iter().filter(|c| c.key.label != "default") {
            let (m, d) = (c.test_mse.median, def.test_mse.median);
            let line = format!(
                "{} {} (failed {}, fragile {})",
                c.key.label,
                cell_acc(c),
                frac(c.failed, c.n),
                frac(c.fragile, c.n)
            );
            if m * FACTOR < d {
                if c.fragile <= def.fragile && c.failed <= def.failed {
                    sound_better.push(c.key.label.clone());
                }
                better.push(line);
            } else if m > FACTOR * d || m.is_nan() {
                worse.push(c.key.label.clone());
            } else {
                same.push(c.key.label.clone());
            }
        }
        body.glance.push(format!(
            "**Better than the default** (median test MSE lower by more than {FACTOR}x): {}.",
            join_or_none(&better, "; ")
        ));
        body.glance.push(format!(
            "**Worse by more than {FACTOR}x**: {}. **Within {FACTOR}x**: {}.",
            join_or_none(&worse, ", "),
            join_or_none(&same, ", ")
        ));
        // Soundness matters more than accuracy: a fragile fit is not a usable model.
        let mut ranked: Vec<&CellStats> = cells.iter().filter(|c| c.sound()).collect();
        ranked.sort_by(|a, b| a.test_mse.median.total_cmp(&b.test_mse.median));
        body.glance.push(format!(
            "**Sound variants** (fragile and failed in at most half the runs), best first: {}.",
            join_or_none(
                &ranked
                    .iter()
                    .take(4)
                    .map(|c| format!("{} {}", c.key.label, cell_acc(c)))
                    .collect::<Vec<_>>(),
                "; "
            )
        ));
        body.glance.push(if !def.sound() {
            format!(
                "**Verdict**: the default is not a usable model at this depth and budget (fragile in {}, failed in {}){}.",
                frac(def.fragile, def.n),
                frac(def.failed, def.n),
                match ranked.first() {
                    Some(b) => format!(
                        "; the most accurate sound setting is {} with median test MSE {}",
                        b.key.label,
                        cell_acc(b)
                    ),
                    None => "; no variant is sound either".into(),
                }
            )
        } else if sound_better.is_empty() {
            "**Verdict**: no single-knob change beats the default by more than 2x without failing or being fragile more often, so these results support the defaults (at this depth and budget).".into()
        } else {
            format!(
                "**Verdict**: the default is not the best setting here: {} beat it by more than 2x without failing or being fragile more often.",
                sound_better.join(", ")
            )
        });

        // Plot: per-seed test MSE (f64 and f32) and |W_L|^2 by variant.
        let names: Vec<String> = cells.iter().map(|c| c.key.label.clone()).collect();
        let pos = |l: &str| {
            names
                .iter()
                .position(|n| n == l)
                .map_or(f64::NAN, |i| i as f64)
        };
        let pts = |f: fn(&crate::results::ResultRow) -> f64| -> Vec<(f64, f64)> {
            rows.iter().map(|r| (f(r), pos(&r.label))).collect()
        };
        let mse = LineChart::new(
            "test MSE per seed",
            Axis::log("test MSE"),
            Axis::categories("", names.clone()),
        )
        .with(Series::new("f64", pts(|r| r.test_mse), 0, Style::Points))
        .with(Series::new(
            "f32",
            pts(|r| r.test_mse_f32),
            3,
            Style::Crosses,
        ));
        let wl = LineChart::new(
            "output-weight norm per seed",
            Axis::log("|W_L|_F^2"),
            Axis::categories("", names.clone()),
        )
        .with(Series::new(
            "|W_L|²",
            pts(|r| r.output_weight_norm_sq),
            2,
            Style::Points,
        ));
        let h = (120 + 26 * names.len() as u32).max(320);
        save(
            &Figure::grid(
                Some("SAPM ablation: one knob at a time".into()),
                vec![Panel::Line(mse), Panel::Line(wl)],
                2,
                700,
                h,
            ),
            &input.plots_dir.join("ablation"),
        )?;
        let s = &mut body.sections;
        s.push_str("## Per variant\n\n");
        s.push_str(&image(
            "test MSE and output-weight norm by variant",
            "ablation",
        ));
        s.push('\n');
        let overrides = |l: &str| {
            VARIANTS
                .iter()
                .find(|v| v.0 == l)
                .map_or(String::new(), |v| v.1.join(" "))
        };
        let mut header = vec!["variant", "overrides"];
        header.extend(CELL_HEADER.iter().skip(1));
        let t: Vec<Vec<String>> = cells
            .iter()
            .map(|c: &CellStats| {
                let mut row = cell_row(&c.key.label, c);
                let o = overrides(&c.key.label);
                row.insert(
                    1,
                    if o.is_empty() {
                        "none".into()
                    } else {
                        format!("`{o}`")
                    },
                );
                row
            })
            .collect();
        s.push_str(&table(&header, &t));
        Ok(body)
    }
}
