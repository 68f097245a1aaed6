//! `sapm train`: config, data and memory checked before the output folder
//! is touched; the folder locked and probed; outputs published all at once.

use crate::signals::{self, EXIT_INTERRUPTED, Phase};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sapm::checkpoint::StateReader;
use sapm::config::{Checked, TrainConfig};
use sapm::driver::{Observer, Status, StopRules};
use sapm::fit::{CheckpointFile, Fitted, checkpoint_config, fit_checkpointed};
use sapm::memory::RunShape;
use sapm::outdir::{OutDir, Staging, is_window};
use sapm::record::Record;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Exit code when training stopped because it diverged (outputs are still written).
const EXIT_DIVERGED: u8 = 3;

/// Plots `sapm plot` writes into a run folder: stale once a new run is published.
const PLOTS: [&str; 3] = ["loss", "prediction", "solution"];

// The arguments of `sapm train` (its help text is the `Train` variant's doc
// comment in main.rs; a doc comment here would replace it).
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Config file (see examples/). Without it, the defaults (SAPM on sin_x2) are used.
    #[arg(long, conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Override a config key, e.g. --set sapm.tau=0.5 --set method=ls-adam (repeatable).
    /// With --resume only train.max_iterations, train.max_seconds and train.checkpoint_every.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output folder (created if missing; with --resume, defaults to the resumed folder).
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its checkpoint.sapm (config from the checkpoint).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Worker threads (overrides the config's `threads`; 0 = all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Refuse a run whose estimated memory exceeds this (e.g. 8G, 512M, 50%; default 80% of the physical memory).
    #[arg(long, value_name = "SIZE", value_parser = crate::parse_size)]
    pub max_memory: Option<u64>,
}

pub fn train(a: TrainArgs) -> Result<ExitCode> {
    let t0 = Instant::now();
    signals::set_phase(Phase::Setup);
    let Some(out) = a.out.as_deref().or(a.resume.as_deref()) else {
        bail!(crate::Usage("--out is required".into()));
    };
    let mut reader = match &a.resume {
        Some(dir) => {
            let p = dir.join(sapm::checkpoint::FILE_NAME);
            if !p.exists() {
                bail!(
                    "--resume {}: no {} in that folder (was the run started with train.checkpoint_every > 0 or interrupted?)",
                    dir.display(),
                    sapm::checkpoint::FILE_NAME
                );
            }
            Some(StateReader::open(&p)?)
        }
        None => None,
    };
    let cfg = load_config(&a, reader.as_ref())?;
    // Everything that can be wrong with the spec or the data is found
    // before the output folder exists.
    let threads = if cfg.threads == 0 {
        rayon::current_num_threads()
    } else {
        cfg.threads
    };
    let limit = a.max_memory.or_else(sapm::memory::default_limit);
    let (data, shape) = match &cfg.pde {
        Some(pde) => {
            let p = pde.problem()?;
            let d = p.dim();
            let n_test = pde.test_per_axis(d).saturating_pow(d as u32);
            let shape = RunShape {
                inputs: p.embedded_dim(),
                outputs: 1,
                n_train: pde.n_interior,
                n_test,
                n_boundary: pde.n_boundary,
                coordinates: d,
                threads,
            };
            (None, shape)
        }
        None => {
            if cfg.data.train.is_none()
                && let Some(limit) = limit
            {
                // A built-in target's size is known before it is generated.
                let franke = cfg.data.builtin.as_deref() == Some("franke");
                let shape = RunShape {
                    inputs: if franke { 2 } else { 1 },
                    outputs: 1,
                    n_train: cfg.data.n_train,
                    n_test: cfg.data.n_test,
                    n_boundary: 0,
                    coordinates: 0,
                    threads,
                };
                sapm::memory::run_estimate(&cfg, shape).check(limit, "this run")?;
            }
            let data = cfg.data.load(cfg.seed)?;
            let shape = RunShape {
                inputs: data.train.input_dim(),
                outputs: data.train.output_dim(),
                n_train: data.train.len(),
                n_test: data.test.len(),
                n_boundary: 0,
                coordinates: 0,
                threads,
            };
            (Some(data), shape)
        }
    };
    let estimate = sapm::memory::run_estimate(&cfg, shape);
    if let Some(limit) = limit {
        estimate.check(limit, "this run")?;
    }
    let outdir = OutDir::open(out)?;
    if outdir.created() {
        signals::cleanup_on_exit(Some(outdir.path().to_path_buf()));
    }
    let res = (|| {
        if let Some(dir) = &a.resume
            && let Some((status, done)) = finished_run(dir)
            && cfg.train.max_iterations <= done
        {
            eprintln!(
                "nothing to do: {} holds a finished run ({status} after {done} iterations); train.max_iterations = {} would retrain it from its checkpoint and replace it with a run of at most that many iterations. To continue it, resume with --set train.max_iterations=K, K > {done}",
                dir.display(),
                cfg.train.max_iterations
            );
            return Ok(ExitCode::SUCCESS);
        }
        outdir.probe(sapm::memory::output_bytes(&cfg, shape))?;
        if outdir.cleaned() > 0 && !a.quiet {
            eprintln!(
                "{}: finished or removed {} leftovers of an interrupted run",
                out.display(),
                outdir.cleaned()
            );
        }
        run(
            &a,
            &cfg,
            data,
            &outdir,
            reader.as_mut(),
            t0,
            estimate.total(),
            shape,
        )
    })();
    signals::cleanup_on_exit(None);
    if res.is_err() {
        outdir.abandon();
    }
    res
}

/// The run's config: from the resumed checkpoint, else `--config`, else
/// the defaults; `--set` overrides and `--threads` on top.
pub fn load_config(a: &TrainArgs, reader: Option<&StateReader>) -> Result<Checked> {
    let cfg = match (reader, &a.config) {
        (Some(r), _) => checkpoint_config(r, &a.set)?,
        (None, Some(p)) => TrainConfig::load(p, &a.set)?,
        (None, None) => TrainConfig::from_toml_str("", &a.set, None)?,
    };
    // --threads changes no result (results do not depend on the thread count).
    Ok(match a.threads {
        Some(t) => {
            let mut c = cfg.into_inner();
            c.threads = t;
            c.check()?
        }
        None => cfg,
    })
}

/// Status and iterations of the finished run in `dir` (its summary.json),
/// if it is one (not interrupted).
fn finished_run(dir: &Path) -> Option<(String, usize)> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let status = v.get("status")?.as_str()?.to_string();
    let it = v.get("iterations")?.as_u64()? as usize;
    (status != Status::Interrupted.as_str()).then_some((status, it))
}

fn run(
    a: &TrainArgs,
    cfg: &Checked,
    data: Option<sapm::data::Split>,
    outdir: &OutDir,
    reader: Option<&mut StateReader>,
    t0: Instant,
    estimate: f64,
    shape: RunShape,
) -> Result<ExitCode> {
    let out = outdir.path();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .context("starting worker threads")?;
    let mut obs = Progress::new(a.quiet, cfg, t0, shape);
    let ckpt_path = out.join(sapm::checkpoint::FILE_NAME);
    let mut ckpt = CheckpointFile::new(&ckpt_path, cfg);
    // PINN runs (no `data`) take their points from [pde].
    let fitted =
        pool.install(|| fit_checkpointed(cfg, data.as_ref(), &mut obs, Some(&mut ckpt), reader))?;
    obs.finish();
    signals::set_phase(Phase::Writing);
    let tw = Instant::now();
    let mut stage = outdir.stage()?;
    // A checkpoint of another run (an earlier one in this folder) is stale.
    let ours = ckpt.writes > 0 || a.resume.as_deref() == Some(out);
    if !ours {
        stage.remove(sapm::checkpoint::FILE_NAME)?;
    }
    for p in PLOTS {
        for ext in ["png", "svg"] {
            stage.remove(&format!("{p}.{ext}"))?;
        }
    }
    let mut phases = obs.phases();
    phases.checkpoints = ckpt.seconds;
    write_run(
        &mut stage,
        out,
        "",
        &fitted,
        Some((&mut phases, tw, estimate)),
    )?;
    stage.publish()?;
    if ckpt.writes > 0 && !a.quiet {
        eprintln!(
            "wrote {} checkpoints of {:.1} MB in {:.3} s",
            ckpt.writes,
            ckpt.bytes as f64 / 1e6,
            ckpt.seconds
        );
    }
    report(&fitted, out, &phases);
    let s = &fitted.summary;
    if s.status == Status::Diverged {
        eprintln!("warning: {}", s.message);
        return Ok(ExitCode::from(EXIT_DIVERGED));
    }
    if s.status == Status::Interrupted {
        // Curriculum and time-marching PINN runs stop cleanly too, but write no checkpoint.
        if ckpt.writes > 0 {
            eprintln!(
                "{}; continue with: sapm train --resume {}",
                s.message,
                out.display()
            );
        } else {
            eprintln!("{}", s.message);
        }
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Wall seconds of each phase of `sapm train`, written to summary.json.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Phases {
    /// Config, data, memory estimate, output folder checks, trainer set-up.
    pub setup: f64,
    /// The training loops (history evaluations and checkpoints included).
    pub training: f64,
    /// Of which writing checkpoints.
    pub checkpoints: f64,
    /// Final evaluation: metrics and diagnostics on the full data and test grid.
    pub evaluation: f64,
    /// Writing model.json and history.csv (summary.json is written last).
    pub writing: f64,
}

/// Stage `model.json`, `history.csv` and `summary.json` of `f` under `rel`
/// (`""` or `window-k/`); a time-marching run stages each window's files in
/// `window-k/` and no top-level model.json (the solution is piecewise;
/// summary.json holds the global `rel_l2`). Stale files of an earlier run
/// in `out` are removed when the stage is published.
pub(crate) fn write_run(
    stage: &mut Staging<'_>,
    out: &Path,
    rel: &str,
    f: &Fitted,
    phases: Option<(&mut Phases, Instant, f64)>,
) -> Result<()> {
    if rel.is_empty() {
        let keep: Vec<String> = (0..f.windows.len())
            .map(|k| format!("window-{k}"))
            .collect();
        for e in std::fs::read_dir(out).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_window(&name) && !keep.contains(&name) {
                stage.remove(&name)?;
            }
        }
    }
    if f.windows.is_empty() {
        stage.write(&format!("{rel}model.json"), f.model.to_json().as_bytes())?;
    } else {
        stage.remove("model.json")?;
        for (k, w) in f.windows.iter().enumerate() {
            write_run(stage, out, &format!("window-{k}/"), w, None)?;
        }
    }
    stage.write_with(&format!("{rel}history.csv"), |w| {
        w.write_all(sapm::record::history_csv(&f.metric_names, &f.history).as_bytes())
    })?;
    let extra = match phases {
        Some((p, tw, estimate)) => {
            p.writing = tw.elapsed().as_secs_f64();
            vec![
                ("phase_seconds", serde_json::to_value(*p)?),
                ("memory_estimate_bytes", serde_json::json!(estimate.round())),
            ]
        }
        None => Vec::new(),
    };
    let json = sapm::verdict::summary_json(&f.summary, &f.history, &extra)?;
    stage.write(&format!("{rel}summary.json"), json.as_bytes())?;
    Ok(())
}

/// The console lines after a run: what it reached, whether the fit is
/// FRAGILE (f32 disagrees) or FAILED (no better than a constant), and where.
pub(crate) fn report(f: &Fitted, out: &Path, p: &Phases) {
    for l in report_lines(f, out, p) {
        eprintln!("{l}");
    }
}

/// ` (second derivatives g)` when the run has second-derivative auxiliaries.
fn second_gap(s: &sapm::fit::Summary) -> String {
    s.derivative_gap_second
        .map(|g| format!(" (second derivatives {g:.2e})"))
        .unwrap_or_default()
}

fn report_lines(f: &Fitted, out: &Path, p: &Phases) -> Vec<String> {
    let s = &f.summary;
    let mut lines = Vec::new();
    let fragile = if s.diagnostics.fragile {
        ", FRAGILE"
    } else {
        ""
    };
    let slow = p.setup + p.evaluation + p.writing;
    let phases = if slow > 1.0 {
        format!(
            " (+ {:.2} s setup, {:.2} s evaluation, {:.2} s writing)",
            p.setup, p.evaluation, p.writing
        )
    } else {
        String::new()
    };
    if let Some(r) = s.rel_l2 {
        lines.push(format!(
            "{}: {} after {} iterations in {:.2} s{phases}: rel L2 {:.3e} (f32 {:.3e}{fragile}), PDE loss {:.3e}, BC loss {:.3e}{}, |W_L|^2 {:.3e}; wrote {}",
            s.method,
            s.status.as_str(),
            s.iterations,
            s.seconds,
            r,
            s.rel_l2_f32.unwrap_or(f64::NAN),
            s.pde_loss.unwrap_or(f64::NAN),
            s.bc_loss.unwrap_or(f64::NAN),
            s.derivative_gap
                .map(|g| format!(", derivative gap {g:.2e}{}", second_gap(s)))
                .unwrap_or_default(),
            s.diagnostics.output_weight_norm_sq,
            out.display()
        ));
    } else {
        lines.push(format!(
            "{}: {} after {} iterations in {:.2} s{phases}: train MSE {:.3e}, test MSE {:.3e} (f32 {:.3e}{fragile}), |W_L|^2 {:.3e}; wrote {}",
            s.method,
            s.status.as_str(),
            s.iterations,
            s.seconds,
            s.train_mse,
            s.test_mse,
            s.diagnostics.test_mse_f32,
            s.diagnostics.output_weight_norm_sq,
            out.display()
        ));
    }
    for w in s.windows.iter().flatten() {
        lines.push(format!(
            "  window {} (t in [{:.4}, {:.4}]): rel L2 {:.3e}, {} iterations",
            w.index,
            w.t_lo,
            w.t_hi,
            w.rel_l2.unwrap_or(f64::NAN),
            w.iterations
        ));
    }
    if let Some(why) = sapm::verdict::failure(s, &f.history) {
        lines.push(format!("FAILED: {why}"));
    }
    lines
}

/// Progress bar with the current losses, and the phase clock.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    shape: RunShape,
    names: Vec<String>,
    last: String,
    started: Instant,
    phases: Phases,
    mark: Option<Instant>,
    /// The objective of the last iteration, when its message is due.
    due: Option<f64>,
}

impl Progress {
    fn new(quiet: bool, cfg: &TrainConfig, started: Instant, shape: RunShape) -> Self {
        let bar = (!quiet).then(|| {
            let b = ProgressBar::new(cfg.train.max_iterations as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_prefix(cfg.method.name());
            b
        });
        Progress {
            bar,
            quiet,
            shape,
            names: Vec::new(),
            last: String::new(),
            started,
            phases: Phases::default(),
            mark: None,
            due: None,
        }
    }

    /// Training is over (the fit returned): close the bar and the evaluation phase.
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if let Some(t) = self.mark.take() {
            self.phases.evaluation += t.elapsed().as_secs_f64();
        }
    }

    fn phases(&self) -> Phases {
        self.phases
    }
}

impl Observer for Progress {
    fn should_stop(&mut self) -> bool {
        signals::stop_requested()
    }
    fn on_start(&mut self, names: &[String], _rules: &StopRules) {
        self.names = names.to_vec();
        match self.mark.take() {
            // A later stage (curriculum, time window): the gap was evaluation.
            Some(t) => self.phases.evaluation += t.elapsed().as_secs_f64(),
            None => self.phases.setup = self.started.elapsed().as_secs_f64(),
        }
        self.mark = Some(Instant::now());
        signals::set_phase(Phase::Training);
    }
    fn on_finish(&mut self, _status: Status) {
        signals::set_phase(Phase::Evaluating);
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if !self.quiet {
            eprintln!(
                "evaluating the final model ({} training and {} test points; Ctrl-C exits without writing)",
                self.shape.n_train + self.shape.n_boundary,
                self.shape.n_test
            );
        }
        if let Some(t) = self.mark.take() {
            self.phases.training += t.elapsed().as_secs_f64();
        }
        self.mark = Some(Instant::now());
    }
    fn on_iteration(&mut self, it: usize, objective: f64) {
        if let Some(b) = &self.bar {
            b.set_position(it as u64);
            // The message follows in `on_progress`, with the trainer's numbers.
            self.due = it.is_multiple_of(16).then_some(objective);
        }
    }
    fn on_progress(&mut self, items: &[(&'static str, f64)]) {
        if let (Some(b), Some(objective)) = (&self.bar, self.due.take()) {
            let mut msg = format!("obj {objective:.3e} ");
            for (name, v) in items {
                msg.push_str(&format!("{name} {v:.2e} "));
            }
            msg.push_str(&self.last);
            b.set_message(msg);
        }
    }
    fn on_record(&mut self, r: &Record) {
        self.last = self
            .names
            .iter()
            .zip(&r.values)
            .map(|(n, v)| format!("{n} {v:.3e}"))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(a) = r.aux_loss {
            self.last.push_str(&format!(" aux {a:.3e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PINN line lacked the FRAGILE word the regression line prints.
    #[test]
    fn pinn_and_regression_lines_say_fragile_and_failed() {
        let cfg = TrainConfig::from_toml_str(
            "method = \"ls-adam\"\n[network]\ndepth = 2\nwidth = 4\n[pde]\nproblem = \"steady1d\"\nn_interior = 20\nn_boundary = 1\nn_test = 11\n[train]\nmax_iterations = 2\n",
            &[],
            None,
        )
        .unwrap();
        let mut f = sapm::fit::fit_pde(&cfg, &mut sapm::driver::NoObserver).unwrap();
        let p = Phases::default();
        let line = |f: &Fitted| report_lines(f, Path::new("out"), &p).join("\n");
        assert!(!line(&f).contains("FRAGILE"), "{}", line(&f));
        f.summary.diagnostics.fragile = true;
        assert!(line(&f).contains("f32"), "{}", line(&f));
        assert!(line(&f).contains(", FRAGILE)"), "{}", line(&f));
        // A regression fit worse than the mean says FAILED and why.
        let mut cfg = TrainConfig::default();
        cfg.method = sapm::Method::LsAdam;
        cfg.train.max_iterations = 3;
        let cfg = cfg.check().unwrap();
        let mut data = cfg.data.load(0).unwrap();
        for j in 0..data.train.len() {
            data.train.y[(0, j)] = 500.0 + 90.0 * data.train.y[(0, j)];
        }
        let f = sapm::fit(&cfg, &data).unwrap();
        let l = line(&f);
        assert!(
            l.contains("\nFAILED: train MSE") && l.contains("not scaled"),
            "{l}"
        );
    }
}
