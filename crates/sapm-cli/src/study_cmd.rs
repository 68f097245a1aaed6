//! `sapm study` and `sapm plot`: thin wrappers over the `sapm-study` crate.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use sapm_study::runner::Progress;
use sapm_study::study::{PlanSummary, StudyOptions, plan, run_study};
use std::path::Path;
use std::sync::Mutex;

/// The command line as typed, quoted where needed, for the report.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty()
                || a.contains(|c: char| c.is_whitespace() || "\"'$`\\*?[]{}();&|<>".contains(c))
            {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe(p: &PlanSummary) -> String {
    format!(
        "{} runs, {} jobs; time limits sum to {:.0} s (<= {:.1} min of training wall time){}",
        p.runs,
        p.jobs,
        p.limited_seconds,
        p.wall_bound() / 60.0,
        if p.unlimited_runs > 0 {
            format!(
                ", plus {} runs limited by iterations only",
                p.unlimited_runs
            )
        } else {
            String::new()
        }
    )
}

/// `sapm study NAME --out DIR ...`.
#[allow(clippy::too_many_arguments)]
pub fn study(
    name: &str,
    out: &Path,
    seeds: Option<usize>,
    iterations: Option<usize>,
    seconds: Option<f64>,
    set: &[String],
    jobs: usize,
    threads: usize,
    dry_run: bool,
    quiet: bool,
) -> Result<()> {
    let opts = StudyOptions {
        seeds,
        iterations,
        seconds,
        sets: set.to_vec(),
        jobs,
        threads_per_run: threads,
        command: command_line(),
    };
    if dry_run {
        let (specs, sum) = plan(name, &opts)?;
        eprintln!("{name}: {}", describe(&sum));
        for s in specs.iter().take(5) {
            eprintln!(
                "  {}: sapm train --set {}",
                s.id,
                s.overrides.join(" --set ")
            );
        }
        if specs.len() > 5 {
            eprintln!("  ... and {} more", specs.len() - 5);
        }
        return Ok(());
    }
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let on_start = |p: &PlanSummary| {
        if !quiet {
            eprintln!("{name}: {}", describe(p));
            let b = ProgressBar::new(p.runs as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "[{elapsed_precise}] {bar:30} {pos}/{len} (eta {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            if let Ok(mut g) = bar.lock() {
                *g = Some(b);
            }
        }
    };
    let progress = |p: Progress<'_>| {
        if let Ok(g) = bar.lock()
            && let Some(b) = g.as_ref()
        {
            b.set_position(p.done as u64);
            // PINN rows report rel L2, regression rows the MSEs.
            let acc = match p.row.extra("rel_l2") {
                Some(r) => format!("rel L2 {r:.2e}"),
                None => format!("train {:.2e} test {:.2e}", p.row.train_mse, p.row.test_mse),
            };
            b.set_message(format!(
                "{}: {} {acc}{}",
                p.row.run,
                p.row.status,
                if p.row.failed() { " FAILED" } else { "" }
            ));
        }
    };
    let res = run_study(name, &opts, out, &on_start, &progress);
    if let Ok(mut g) = bar.lock()
        && let Some(b) = g.take()
    {
        b.finish_and_clear();
    }
    let o = res?;
    if o.skipped > 0 {
        eprintln!(
            "{name}: skipped {} complete runs (delete runs/<id>/summary.json to retrain one)",
            o.skipped
        );
    }
    eprintln!(
        "{name}: {} runs ({} failed) in {:.1} min; wrote {} and {}",
        o.runs,
        o.failed,
        o.wall_seconds / 60.0,
        o.report.display(),
        o.results.display()
    );
    print_failed(&o.failed_runs);
    Ok(())
}

/// `FAILED: id, id, ...` (at most 10 named), with where to read why.
fn print_failed(ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let mut named: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
    let more = format!("and {} more", ids.len().saturating_sub(10));
    if ids.len() > 10 {
        named.push(&more);
    }
    eprintln!(
        "FAILED ({} runs: train MSE above the constant predictor's, or PINN rel L2 over the study's threshold, or an error): {}; the rule is in report.md, the numbers in results.csv",
        ids.len(),
        named.join(", ")
    );
}

/// `sapm study NAME --out DIR --report-only`: rewrite a finished study's report.
pub fn report_only(name: &str, out: &Path) -> Result<()> {
    let o = sapm_study::study::rereport(name, out)?;
    eprintln!(
        "{name}: report of {} runs ({} failed) rewritten: {}",
        o.runs,
        o.failed,
        o.report.display()
    );
    print_failed(&o.failed_runs);
    Ok(())
}

/// `sapm plot RUN_DIR`: the files written, and what was skipped and why.
pub fn plot(dir: &Path, stop: &dyn Fn() -> bool) -> Result<()> {
    let o = sapm_study::runplot::plot_run_with(dir, stop)?;
    for f in &o.files {
        eprintln!("wrote {}", f.display());
    }
    for s in &o.skipped {
        eprintln!("skipped {s}");
    }
    Ok(())
}
