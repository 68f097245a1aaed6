//! `report.md`: the page every study's report body is set in.

use super::ReportBody;
use super::plan::Planned;
use crate::machine::MachineInfo;
use crate::report::{g, table};
use crate::runner::RunOutcome;

/// The text of `report.md` of planned study `p`: its `body` under "At a
/// glance", how it was run (on `machine`, in `wall` seconds) and the definitions.
pub(super) fn report_md(
    p: &Planned,
    machine: &MachineInfo,
    wall: f64,
    runs: &[RunOutcome],
    body: &ReportBody,
) -> String {
    let (study, opts, input, par, sum) = (p.study.as_ref(), &p.opts, &p.input, p.par, &p.sum);
    let b = &input.budget;
    let seeds: Vec<u64> = input.seeds().collect();
    let mut s = format!("# Study `{}`: {}\n\n", study.name(), study.about());
    s.push_str("## At a glance\n\n");
    for line in &body.glance {
        s.push_str(&format!("- {line}\n"));
    }
    s.push_str(if body.definitions.is_empty() {
        "\nEvery sentence above is computed from `results.csv` by the report generator; accuracy numbers are medians over seeds, each followed by the median f32 test MSE and the median output-weight norm |W_L|_F^2 (see *Definitions*).\n\n"
    } else {
        "\nEvery sentence above is computed from `results.csv` by the report generator (see *Definitions*).\n\n"
    });
    s.push_str("## How this was run\n\n");
    s.push_str(&format!(
        "```sh\n{}\n```\n\n",
        if opts.command.is_empty() {
            "(command not recorded)"
        } else {
            &opts.command
        }
    ));
    let errors = runs.iter().filter(|r| r.row.status == "error").count();
    let mut rows = vec![
        vec![
            "runs".into(),
            format!("{} ({} ended in an error)", runs.len(), errors),
        ],
        vec![
            "seeds".into(),
            format!(
                "{} ({}..={})",
                b.seeds,
                seeds.first().copied().unwrap_or(0),
                seeds.last().copied().unwrap_or(0)
            ),
        ],
        vec!["max iterations per run".into(), b.iterations.to_string()],
        vec![
            "max training seconds per run".into(),
            if b.seconds > 0.0 {
                format!("{}", b.seconds)
            } else {
                "none".into()
            },
        ],
        vec![
            "`--set` overrides".into(),
            if opts.sets.is_empty() {
                "none".into()
            } else {
                format!("`{}`", opts.sets.join("` `"))
            },
        ],
        vec![
            "parallelism".into(),
            format!(
                "{} runs at once, {} thread(s) each",
                par.jobs, par.threads_per_run
            ),
        ],
        vec![
            "planned training-time bound".into(),
            format!(
                "{:.0} s of time limits / {} jobs = {:.1} min",
                sum.limited_seconds,
                sum.jobs,
                sum.wall_bound() / 60.0
            ),
        ],
        vec![
            "wall time of the study".into(),
            format!("{:.1} min", wall / 60.0),
        ],
        vec![
            "machine".into(),
            format!(
                "{} cores, {} ({})",
                machine.nproc, machine.cpu_model, machine.os
            ),
        ],
        vec!["started".into(), machine.started_utc.clone()],
        vec![
            "sapm-study version".into(),
            env!("CARGO_PKG_VERSION").into(),
        ],
    ];
    for n in &body.budget_notes {
        rows.push(vec!["note".into(), n.clone()]);
    }
    s.push_str(&table(&["", ""], &rows));
    let cpu = runs
        .iter()
        .any(|r| matches!(r.spec.cfg.train.clock, sapm::driver::Clock::Cpu));
    s.push_str(if cpu {
        "\nTime limits are CPU seconds of the run's threads (`train.clock = \"cpu\"`, evaluation excluded), so runs that share the machine get the same compute;"
    } else {
        "\nTime limits are wall-clock training time (evaluation excluded);"
    });
    s.push_str(" runs that stop on time are not bit-reproducible, and concurrent jobs share memory bandwidth. Each run's folder `runs/<id>/` holds `config.toml` (repeat with `sapm train --config runs/<id>/config.toml --out DIR`), `history.csv`, `summary.json` and, where saved, `model.json` (`sapm plot runs/<id>` draws it).\n\n");
    s.push_str(&body.sections);
    s.push_str("\n## Definitions\n\n");
    for d in &body.definitions {
        s.push_str(&format!("- {d}\n"));
    }
    if body.definitions.is_empty() {
        regression_definitions(&mut s);
    }
    s.push_str(&format!("\nFiles: `results.csv` (one row per run), `cells.csv` (aggregates), `study.json` (plan and machine), `plots/`, `runs/`. Median of {} seeds unless stated. Total failures: {}.\n", b.seeds, g(runs.iter().filter(|r| r.row.failed()).count() as f64)));
    s
}

fn regression_definitions(s: &mut String) {
    s.push_str("- **failed**: final train MSE above the MSE of the best constant predictor on the same training set (the targets' variance, `constant_predictor_mse`), or not a number, or the run ended in an error. A diverged run is judged on the last finite model it kept.\n");
    s.push_str("- **fragile**: evaluating the final model in f32 gives a test MSE above 2 x the f64 test MSE + 1e-10: the fit relies on cancellation between large weights and is not a usable model.\n");
    s.push_str("- **|W_L|²**: squared Frobenius norm of the output layer's weights; huge values signal an ELM-like fit on nearly collinear features.\n");
    s.push_str("- **max MSE/J_aux**: largest ratio of the train MSE to the PM/SAPM loss over the recorded history; for SAPM with tanh it is bounded by L (the consistency bound), for PM it is not.\n");
    s.push_str("- Medians over seeds count a missing number (error) as +inf; `[min, max]` are over seeds.\n");
}
