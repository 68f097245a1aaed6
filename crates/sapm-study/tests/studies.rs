//! Every study end to end in a tiny configuration: it must produce every file
//! it promises, with valid PNG/SVG plots that the report embeds.

mod common;

use common::{png_size, svg_size};
use sapm_study::results::from_csv;
use sapm_study::study::{PINN_COLUMNS, StudyOptions, run_study};
use std::path::Path;

/// Tiny problem shared by all studies: width 4, 20 training points.
fn tiny(sets: &[&str], seeds: usize, iterations: usize) -> StudyOptions {
    let mut all: Vec<String> = ["network.width=4", "data.n_train=20", "data.n_test=40"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    all.extend(sets.iter().map(|s| s.to_string()));
    StudyOptions {
        seeds: Some(seeds),
        iterations: Some(iterations),
        sets: all,
        jobs: 2,
        threads_per_run: 1,
        command: "sapm study (test)".into(),
        ..Default::default()
    }
}

/// One seed, 0.05 s per run, width 4, and `sets`.
fn timed(sets: &[&str]) -> StudyOptions {
    let mut all = vec!["network.width=4".to_string()];
    all.extend(sets.iter().map(|s| s.to_string()));
    StudyOptions {
        seeds: Some(1),
        seconds: Some(0.05),
        sets: all,
        jobs: 2,
        threads_per_run: 1,
        command: "sapm study (test)".into(),
        ..Default::default()
    }
}

/// Run a study and check the promised files; returns the report text.
fn check(name: &str, opts: &StudyOptions, plots: &[&str], expect_runs: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = run_study(
        name,
        opts,
        &out,
        &|p| assert_eq!(p.runs, expect_runs),
        &|_| {},
    )
    .unwrap();
    assert_eq!(o.runs, expect_runs);
    for f in ["report.md", "results.csv", "cells.csv", "study.json"] {
        assert!(out.join(f).is_file(), "{name}: missing {f}");
    }
    let rows = from_csv(&std::fs::read_to_string(&o.results).unwrap(), &o.results).unwrap();
    assert_eq!(rows.len(), expect_runs);
    for r in &rows {
        assert_eq!(r.study, name);
        assert_ne!(r.status, "error", "{}: {}", r.run, r.message);
        let d = out.join("runs").join(&r.run);
        for f in ["config.toml", "history.csv", "summary.json"] {
            assert!(d.join(f).is_file(), "{}: missing {f}", r.run);
        }
        // The library's verdict rides along in every run's summary.json.
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap())
                .unwrap();
        assert!(summary["failed"].is_boolean(), "{}: no failed field", r.run);
        assert!(
            summary.get("failure").is_some(),
            "{}: no failure field",
            r.run
        );
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.run.as_str())
        .collect();
    assert_eq!(o.failed_runs, failed, "{name}: failed_runs");
    assert_eq!(o.failed, failed.len());
    let report = std::fs::read_to_string(&o.report).unwrap();
    for stem in plots {
        let png = out.join("plots").join(format!("{stem}.png"));
        let svg = out.join("plots").join(format!("{stem}.svg"));
        let (w, h) = png_size(&png);
        assert!(w >= 400 && h >= 300, "{stem}: {w}x{h}");
        assert_eq!(svg_size(&svg), (w, h), "{stem}: SVG and PNG sizes differ");
        assert!(
            report.contains(&format!("plots/{stem}.png")),
            "{name}: report does not embed {stem}"
        );
    }
    // Every image the report links to exists.
    for part in report.split("](plots/").skip(1) {
        let file = &part[..part.find(')').unwrap()];
        assert!(
            out.join("plots").join(file).is_file(),
            "{name}: report links missing plots/{file}"
        );
    }
    assert!(report.contains("## At a glance"));
    assert!(
        report.contains("sapm study (test)"),
        "the command is quoted"
    );
    assert!(report.contains("cores"), "the machine is described");
    let study_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("study.json")).unwrap()).unwrap();
    assert!(study_json["wall_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(study_json["runs"].as_array().unwrap().len(), expect_runs);
    report
}

#[test]
fn consistency_study_end_to_end() {
    let opts = tiny(&["study.depth=3"], 2, 6);
    let report = check(
        "consistency",
        &opts,
        &["consistency", "ratio", "prediction"],
        4,
    );
    assert!(report.contains("SAPM"));
    assert!(report.contains("PM"));
    // The verdict for SAPM is one of the two computed forms, never absent.
    assert!(
        report.contains("SAPM keeps its loss and the MSE together")
            || report.contains("SAPM's loss and the MSE come apart")
    );
}

#[test]
fn depth_study_end_to_end() {
    let opts = tiny(
        &[
            "study.depths=[2, 3]",
            "study.zero_depths=[3]",
            "study.warm_start=3",
        ],
        2,
        8,
    );
    // 8 methods x 2 seeds x (2 uniform depths + 1 zero depth).
    let report = check(
        "depth",
        &opts,
        &[
            "rates_uniform",
            "rates_zero",
            "test_mse_uniform",
            "test_mse_zero",
            "curves_uniform",
            "prediction_uniform_L3",
            "prediction_zero_L3",
        ],
        48,
    );
    for q in [
        "Robustness to depth",
        "Against Adam and L-BFGS at equal time",
        "Where auxiliary variables win",
        "J_SAPM and the MSE",
    ] {
        assert!(report.contains(q), "depth report lacks {q:?}");
    }
    assert!(
        report.contains("Adam steps (median)"),
        "warm-start share note"
    );
}

#[test]
fn ablation_study_end_to_end() {
    let opts = tiny(
        &[
            "study.depth=3",
            "study.variants=[\"tau=0.5\", \"solver=cholesky\", \"warm_start=2000\"]",
        ],
        2,
        4,
    );
    let report = check("ablation", &opts, &["ablation"], 8);
    assert!(report.contains("**Default SAPM**"));
    assert!(report.contains("**Verdict**"));
    // Warm start gets its Adam steps on top of the SAPM iterations.
    let (specs, _) = sapm_study::study::plan("ablation", &opts).unwrap();
    let warm = specs.iter().find(|s| s.label == "warm_start=2000").unwrap();
    assert_eq!(warm.cfg.train.max_iterations, 2004);
}

/// Tiny PINN runs: few points, a coarse test grid, width 4 (no `[data]`
/// keys: a PINN run does not read them).
fn tiny_pinn(sets: &[&str], seeds: usize, iterations: usize) -> StudyOptions {
    let mut opts = tiny(
        &["pde.n_interior=40", "pde.n_boundary=12", "pde.n_test=11"],
        seeds,
        iterations,
    );
    opts.sets.retain(|s| !s.starts_with("data."));
    opts.sets.extend(sets.iter().map(|s| s.to_string()));
    opts
}

/// The PINN columns of results.csv and the failure rule on rel L2.
fn check_pinn_rows(out: &Path, expect_runs: usize) {
    let p = out.join("results.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    let header = text.lines().next().unwrap();
    for c in PINN_COLUMNS.iter().chain(&["output_weight_norm_sq"]) {
        assert!(header.split(',').any(|h| h == *c), "results.csv lacks {c}");
    }
    let rows = from_csv(&text, &p).unwrap();
    assert_eq!(rows.len(), expect_runs);
    for r in &rows {
        let rel = r.extra("rel_l2").unwrap();
        assert!(rel.is_finite() && rel > 0.0, "{}: rel_l2 {rel}", r.run);
        assert_eq!(r.extra("fail_rel_l2"), Some(0.5));
        assert_eq!(r.failed(), rel >= 0.5, "{}", r.run);
        let has_gap = r.extra("derivative_gap").unwrap().is_finite();
        assert_eq!(has_gap, r.method == "pm" || r.method == "sapm", "{}", r.run);
        assert!(out.join("runs").join(&r.run).join("model.json").is_file());
    }
}

#[test]
fn transport_study_end_to_end() {
    let opts = tiny_pinn(
        &["study.betas=[1]", "study.inflow=false", "study.depths=[3]"],
        2,
        3,
    );
    // 5 methods x 2 seeds x 1 beta x 1 depth.
    let report = check("transport", &opts, &["rel_l2_beta", "heat_b1_L3"], 10);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    run_study("transport", &opts, &out, &|_| {}, &|_| {}).unwrap();
    check_pinn_rows(&out, 10);
    // 5 methods x (best, median) x (prediction, error), 4 panels a row.
    assert_eq!(png_size(&out.join("plots/heat_b1_L3.png")), (1920, 1740));
    assert_eq!(svg_size(&out.join("plots/heat_b1_L3.svg")), (1920, 1740));
    for q in [
        "rel L2 median [min, max]",
        "Failure rate by method and problem",
        "sapm vs Adam -> L-BFGS",
        "| transport1d beta=1 | 3 | sapm |",
        "**failed**: rel L2 >= 0.5",
        "K = 3 sets every method's budget",
    ] {
        assert!(report.contains(q), "transport report lacks {q:?}");
    }
    // The report can be rewritten from the saved runs, with the same tables.
    let first = std::fs::read_to_string(out.join("report.md")).unwrap();
    std::fs::remove_file(out.join("plots/heat_b1_L3.png")).unwrap();
    let again = sapm_study::study::rereport("transport", &out).unwrap();
    assert_eq!(again.runs, 10);
    let second = std::fs::read_to_string(&again.report).unwrap();
    let table = |t: &str| {
        t[t.find("## rel L2 by problem").unwrap()..t.find("## rel L2 against").unwrap()].to_string()
    };
    assert_eq!(table(&first), table(&second));
    assert!(second.contains("regenerated from the saved runs"));
    assert_eq!(png_size(&out.join("plots/heat_b1_L3.png")), (1920, 1740));
    let e = sapm_study::study::rereport("derivatives", &out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not \"derivatives\""), "{e}");
    // The budget K scales every method as in the examples.
    let (specs, _) = sapm_study::study::plan("transport", &opts).unwrap();
    let it = |l: &str| {
        specs
            .iter()
            .find(|s| s.label == l)
            .unwrap()
            .cfg
            .train
            .max_iterations
    };
    assert_eq!(
        [
            it("ls-adam"),
            it("ls-adam-lbfgs"),
            it("pm"),
            it("sapm"),
            it("sapm-warm")
        ],
        [12, 12, 3, 3, 7]
    );
}

#[test]
fn derivatives_study_end_to_end() {
    let opts = tiny_pinn(&["study.problems=[\"transport1d\"]"], 2, 4);
    // 3 methods x 2 seeds.
    let report = check("derivatives", &opts, &["derivative_gap"], 6);
    assert!(report.contains("Final derivative gap below the target"));
    assert!(
        report.contains("| transport1d beta=1 | sapm-warm |"),
        "{report}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    run_study("derivatives", &opts, &out, &|_| {}, &|_| {}).unwrap();
    check_pinn_rows(&out, 6);
    // The gap is in every PM/SAPM history (NaN during a warm start's Adam steps).
    let h = std::fs::read_to_string(out.join("runs/t1d-b1-sapm-s0/history.csv")).unwrap();
    assert!(h.lines().next().unwrap().ends_with("derivative_gap"));
    assert!(h.lines().count() >= 2);
}

#[test]
fn bad_pinn_study_options_are_clear_errors() {
    for (study, set, key) in [
        ("transport", "study.betas=[0]", "study.betas"),
        ("transport", "study.betas=\"fast\"", "study.betas"),
        ("transport", "study.methods=[\"adam\"]", "study.methods"),
        ("transport", "study.depths=[1]", "study.depths"),
        ("transport", "study.bogus=1", "study.bogus"),
        ("transport", "pde.n_interior=0", "n_interior"),
        ("derivatives", "study.beta=-1", "study.beta"),
        (
            "derivatives",
            "study.problems=[\"steady1d\"]",
            "study.problems",
        ),
        (
            "derivatives",
            "study.methods=[\"ls-adam\"]",
            "study.methods",
        ),
    ] {
        let opts = StudyOptions {
            sets: vec![set.into()],
            ..Default::default()
        };
        let e = sapm_study::study::plan(study, &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{study} {set}: {e}");
    }
}

#[test]
fn unknown_studies_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let e = run_study(
        "bogus",
        &StudyOptions::default(),
        dir.path(),
        &|_| {},
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("unknown study") && e.contains("transport"),
        "{e}"
    );
    // Nothing was written for a study that did not start.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn default_budgets_fit_the_stated_time() {
    // The default depth + consistency plans: 30 min on 2 cores (docs/studies.md).
    let two = StudyOptions {
        jobs: 2,
        threads_per_run: 1,
        ..Default::default()
    };
    let (depth, d) = sapm_study::study::plan("depth", &two).unwrap();
    assert_eq!(depth.len(), 10 * 8 * (5 + 1));
    assert_eq!(d.unlimited_runs, 0);
    // Upper bound of training time with every run using its full time limit.
    // 10 seeds x 8 methods x 3.5 s x (6 + 8 + 10 + 20 + 30 + 30) / 10 / 2 jobs = 1456 s.
    assert!((d.wall_bound() - 1456.0).abs() < 1e-6, "{}", d.wall_bound());
    let no_time = StudyOptions {
        seconds: Some(0.0),
        ..Default::default()
    };
    let e = sapm_study::study::plan("depth", &no_time)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--seconds"), "{e}");
    // transport: 4 betas + inflow, 2 depths, 5 methods, 3 seeds, K = 600.
    let (tr, t) = sapm_study::study::plan("transport", &two).unwrap();
    assert_eq!(tr.len(), 5 * 2 * 5 * 3);
    assert_eq!(t.unlimited_runs, 150);
    assert!(tr.iter().any(|s| s.id == "inflow-L6-sapm-warm-s2"));
    let sapm = tr.iter().find(|s| s.id == "t1d-b50-L4-sapm-s0").unwrap();
    assert_eq!(sapm.cfg.train.max_iterations, 600);
    assert_eq!(sapm.cfg.pde.as_ref().unwrap().beta, 50.0);
    let (der, _) = sapm_study::study::plan("derivatives", &two).unwrap();
    assert_eq!(der.len(), 2 * 3 * 2);
    let (cons, _) = sapm_study::study::plan("consistency", &two).unwrap();
    assert_eq!(cons.len(), 20);
    assert!(
        cons.iter()
            .all(|s| s.cfg.train.max_iterations == 2000 && s.cfg.network.depth == 10)
    );
}

/// The optimizers study on two problems (one regression, one PINN) and three
/// methods: every run has the spike and time-to-reach columns, the report a
/// table per problem and the error-against-time plot.
#[test]
fn optimizers_study_end_to_end() {
    let opts = timed(&[
        "study.pinn_seconds=0.05",
        "study.problems=[\"sin_x2-L6\", \"steady1d\"]",
        "study.methods=[\"ls-adam\", \"sapm\", \"lm\"]",
    ]);
    let report = check("optimizers", &opts, &["error_time"], 6);
    for s in ["## sin_x2-L6", "## steady1d", "| lm |", "spike ratio"] {
        assert!(report.contains(s), "{s}: {report}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    run_study("optimizers", &opts, &out, &|_| {}, &|_| {}).unwrap();
    let p = out.join("results.csv");
    let rows = from_csv(&std::fs::read_to_string(&p).unwrap(), &p).unwrap();
    for r in &rows {
        let spikes = r.extra("spike_ratio").unwrap();
        let max_err = r.extra("max_err_between").unwrap();
        assert!(r.extra("max_err_test").unwrap() >= max_err, "{}", r.run);
        assert!(
            spikes > 0.0 && max_err > 0.0,
            "{}: {spikes} {max_err}",
            r.run
        );
        // Seconds, or +inf if never reached; NaN only for time marching.
        assert!(r.extra("t_1e-3").unwrap() >= 0.0, "{}", r.run);
        let pinn = r.variant == "steady1d";
        assert_eq!(r.extra("rel_l2").unwrap().is_finite(), pinn, "{}", r.run);
    }
}

/// The second-order study on two problems (1-D and 2-D) and four methods,
/// one of them refused by the library today (pm): the accepted ones run,
/// the report has a table per problem, the error-against-time plot, the
/// 2-D error maps, and names the refused method with the library's reason.
#[test]
fn second_order_study_end_to_end() {
    let opts = timed(&[
        "pde.n_interior=40",
        "pde.n_boundary=12",
        "pde.n_test=11",
        "study.problems=[\"poisson1d\", \"poisson2d\"]",
        "study.methods=[\"ls-adam\", \"elm\", \"varpro\", \"pm\"]",
    ]);
    let (specs, _) = sapm_study::study::plan("second-order", &opts).unwrap();
    let pm_runs = specs.iter().any(|s| s.label == "pm");
    let runs = if pm_runs { 8 } else { 6 };
    let plots = ["error_time", "error_map_poisson2d"];
    let report = check("second-order", &opts, &plots, runs);
    for s in ["## poisson1d", "## poisson2d", "| varpro |", "| elm |"] {
        assert!(report.contains(s), "{s}: {report}");
    }
    // Skipped, with the library's reason, while the library refuses it.
    assert_eq!(
        report.contains("**pm** on poisson1d, poisson2d"),
        !pm_runs,
        "{report}"
    );
}
