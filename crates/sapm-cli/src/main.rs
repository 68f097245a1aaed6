//! The `sapm` command: a thin layer over the `sapm` library.

mod bench_cmd;
mod bench_lm;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sapm::checkpoint::StateReader;
use sapm::config::TrainConfig;
use sapm::data::{Column, read_table};
use sapm::driver::{Observer, Status, StopRules};
use sapm::fit::{CheckpointFile, Fitted, checkpoint_config, fit_checkpointed};
use sapm::model::Model;
use sapm::record::Record;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

mod study_cmd;

/// Exit code when training stopped because it diverged (outputs are still written).
const EXIT_DIVERGED: u8 = 3;
/// Exit code when Ctrl-C or SIGTERM stopped training (outputs and a checkpoint are written).
const EXIT_INTERRUPTED: u8 = 4;

/// Set by the first Ctrl-C/SIGTERM; the training loop polls it between iterations.
static STOP: AtomicBool = AtomicBool::new(false);

/// Milliseconds since the epoch of the first Ctrl-C/SIGTERM.
static STOP_AT_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// First Ctrl-C/SIGTERM: stop after the current iteration (checkpoint and
/// outputs are written); another one at least a second later exits at once.
/// Why the second: `timeout` and some job controllers signal both the
/// process and its group, so two signals can arrive together.
fn install_stop_handler() {
    let res = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            if now_ms().saturating_sub(STOP_AT_MS.load(Ordering::SeqCst)) >= 1000 {
                eprintln!("second interrupt: exiting without writing outputs");
                std::process::exit(130);
            }
        } else {
            STOP_AT_MS.store(now_ms(), Ordering::SeqCst);
            eprintln!("interrupt: stopping after this iteration (again to exit at once)");
        }
    });
    if let Err(e) = res {
        eprintln!("warning: cannot catch Ctrl-C/SIGTERM ({e}); interrupting will lose the run");
    }
}

#[derive(Parser)]
#[command(
    name = "sapm",
    version,
    about = "Train FNNs by least squares with LS, PM and SAPM (self-adaptive weighted auxiliary variables)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a model from a TOML config; writes model.json, history.csv and summary.json
    /// (and checkpoint.sapm every train.checkpoint_every iterations and on Ctrl-C/SIGTERM).
    Train {
        /// Config file (see examples/). Without it, the defaults (SAPM on sin_x2) are used.
        #[arg(long, conflicts_with = "resume")]
        config: Option<PathBuf>,
        /// Override a config key, e.g. --set sapm.tau=0.5 --set method=ls-adam (repeatable).
        /// With --resume only train.max_iterations, train.max_seconds and train.checkpoint_every.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Output folder (created if missing; with --resume, defaults to the resumed folder).
        #[arg(long, required_unless_present = "resume")]
        out: Option<PathBuf>,
        /// Continue the run in this folder from its checkpoint.sapm (config from the checkpoint).
        #[arg(long, value_name = "DIR")]
        resume: Option<PathBuf>,
        /// Worker threads (overrides the config's `threads`; 0 = all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Predict with a trained model: reads the model's input columns, writes inputs and predictions.
    Predict {
        /// model.json of a trained run.
        #[arg(long)]
        model: PathBuf,
        /// Input CSV with a header (or .npy).
        #[arg(long)]
        input: PathBuf,
        /// Output CSV.
        #[arg(long)]
        output: PathBuf,
    },
    /// Run a study (many runs, results.csv, plots, report.md): consistency, depth, ablation, transport, derivatives.
    Study {
        /// Study name: consistency, depth, ablation, transport (PINN table over beta) or derivatives (PINN derivative auxiliaries).
        name: String,
        /// Output folder (created if missing; files in it are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Seeds per cell (default: the study's; 10 for the regression studies).
        #[arg(long)]
        seeds: Option<usize>,
        /// train.max_iterations of each run (default: the study's; PINN studies: K, see docs/studies.md).
        #[arg(long)]
        iterations: Option<usize>,
        /// train.max_seconds of each run (depth: seconds per 10 layers; default: the study's).
        #[arg(long)]
        seconds: Option<f64>,
        /// study.KEY=VALUE sets a study option; any other key=value changes every run's config (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Runs at once (0 = one per core).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
        /// Threads per run (0 = cores / jobs).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print the plan and its time bound, run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rewrite report.md and the plots of a finished study in --out from its saved runs (no training).
        #[arg(long, conflicts_with = "dry_run")]
        report_only: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Plot a `sapm train` output folder: loss curves, (1-D) prediction vs truth, and for PINNs solution/exact/error heat maps, as PNG and SVG.
    Plot {
        /// The --out folder of `sapm train` (history.csv, summary.json, model.json).
        run_dir: PathBuf,
    },
    /// Evaluate a model on labelled data; prints metrics as JSON.
    Eval {
        /// model.json of a trained run.
        #[arg(long)]
        model: PathBuf,
        /// CSV (or .npy) with the model's input and output columns.
        #[arg(long)]
        data: PathBuf,
    },
    /// Time one SAPM/PM iteration, one Adam step and a GEMM of the same shape (GFLOP/s, ratios), scaling and memory.
    Bench(bench_cmd::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Train {
            config,
            set,
            out,
            resume,
            threads,
            quiet,
        } => {
            install_stop_handler();
            train(
                config.as_deref(),
                &set,
                out.as_deref(),
                resume.as_deref(),
                threads,
                quiet,
            )
        }
        Cmd::Predict {
            model,
            input,
            output,
        } => predict(&model, &input, &output).map(|_| ExitCode::SUCCESS),
        Cmd::Eval { model, data } => eval(&model, &data).map(|_| ExitCode::SUCCESS),
        Cmd::Study {
            name,
            out,
            seeds,
            iterations,
            seconds,
            set,
            jobs,
            threads,
            dry_run,
            report_only,
            quiet,
        } => if report_only {
            study_cmd::report_only(&name, &out)
        } else {
            study_cmd::study(
                &name, &out, seeds, iterations, seconds, &set, jobs, threads, dry_run, quiet,
            )
        }
        .map(|_| ExitCode::SUCCESS),
        Cmd::Plot { run_dir } => study_cmd::plot(&run_dir).map(|_| ExitCode::SUCCESS),
        Cmd::Bench(args) => bench_cmd::run(args).map(|_| ExitCode::SUCCESS),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn train(
    config: Option<&Path>,
    set: &[String],
    out: Option<&Path>,
    resume: Option<&Path>,
    threads: Option<usize>,
    quiet: bool,
) -> Result<ExitCode> {
    let Some(out) = out.or(resume) else {
        bail!("--out is required");
    };
    let mut reader = match resume {
        Some(dir) => {
            let p = dir.join(sapm::checkpoint::FILE_NAME);
            if !p.exists() {
                bail!(
                    "--resume {}: no {} in that folder (was the run started with train.checkpoint_every > 0 or interrupted? PINN runs with a curriculum (pde.curriculum) or time marching (pde.time_windows > 1) write none and cannot be resumed)",
                    dir.display(),
                    sapm::checkpoint::FILE_NAME
                );
            }
            Some(StateReader::open(&p)?)
        }
        None => None,
    };
    let mut cfg = match (&reader, config) {
        (Some(r), _) => checkpoint_config(r, set)?,
        (None, Some(p)) => TrainConfig::load(p, set)?,
        (None, None) => TrainConfig::from_toml_str("", set, None)?,
    };
    if let Some(t) = threads {
        cfg.threads = t;
        cfg.validate()?;
    }
    if out.exists() && !out.is_dir() {
        bail!("--out {} exists and is not a folder", out.display());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .context("starting worker threads")?;
    let mut obs = Progress::new(quiet, &cfg);
    let mut ckpt = CheckpointFile::new(&out.join(sapm::checkpoint::FILE_NAME), &cfg);
    let fitted = if cfg.pde.is_some() {
        // PINN run: points come from [pde]; [data] is ignored. Curriculum and
        // time-marching runs write no checkpoint and refuse --resume.
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        pool.install(|| {
            sapm::fit::pinn::fit_pde_checkpointed(&cfg, &mut obs, Some(&mut ckpt), reader.as_mut())
        })?
    } else {
        let data = cfg.data.load(cfg.seed)?;
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        pool.install(|| fit_checkpointed(&cfg, &data, &mut obs, Some(&mut ckpt), reader.as_mut()))?
    };
    obs.finish(&fitted);
    write_run(out, &fitted)?;
    if ckpt.writes > 0 && !quiet {
        eprintln!(
            "wrote {} checkpoints of {:.1} MB in {:.3} s",
            ckpt.writes,
            ckpt.bytes as f64 / 1e6,
            ckpt.seconds
        );
    }
    let s = &fitted.summary;
    if let Some(r) = s.rel_l2 {
        eprintln!(
            "{}: {} after {} iterations in {:.2} s: rel L2 {:.3e} (f32 {:.3e}), PDE loss {:.3e}, BC loss {:.3e}{}, |W_L|^2 {:.3e}; wrote {}",
            s.method,
            s.status.as_str(),
            s.iterations,
            s.seconds,
            r,
            s.rel_l2_f32.unwrap_or(f64::NAN),
            s.pde_loss.unwrap_or(f64::NAN),
            s.bc_loss.unwrap_or(f64::NAN),
            s.derivative_gap
                .map(|g| format!(", derivative gap {g:.2e}"))
                .unwrap_or_default(),
            s.diagnostics.output_weight_norm_sq,
            out.display()
        );
    } else {
        eprintln!(
            "{}: {} after {} iterations in {:.2} s: train MSE {:.3e}, test MSE {:.3e} (f32 {:.3e}{}), |W_L|^2 {:.3e}; wrote {}",
            s.method,
            s.status.as_str(),
            s.iterations,
            s.seconds,
            s.train_mse,
            s.test_mse,
            s.diagnostics.test_mse_f32,
            if s.diagnostics.fragile {
                ", FRAGILE"
            } else {
                ""
            },
            s.diagnostics.output_weight_norm_sq,
            out.display()
        );
    }
    for w in s.windows.iter().flatten() {
        eprintln!(
            "  window {} (t in [{:.4}, {:.4}]): rel L2 {:.3e}, {} iterations",
            w.index,
            w.t_lo,
            w.t_hi,
            w.rel_l2.unwrap_or(f64::NAN),
            w.iterations
        );
    }
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

/// Writes model.json, history.csv and summary.json; a time-marching run writes
/// each window's files to `window-k/` and no top-level model.json (the solution
/// is piecewise; summary.json holds the global `rel_l2`).
fn write_run(out: &Path, f: &Fitted) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if f.windows.is_empty() {
        f.model.save(&out.join("model.json"))?;
    } else {
        let stale = out.join("model.json");
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("removing {}", stale.display()))?;
        }
        for (k, w) in f.windows.iter().enumerate() {
            write_run(&out.join(format!("window-{k}")), w)?;
        }
    }
    sapm::io::write_atomic(
        &out.join("history.csv"),
        sapm::record::history_csv(&f.metric_names, &f.history).as_bytes(),
    )?;
    let json = serde_json::to_string_pretty(&f.summary).context("serialising the summary")?;
    sapm::io::write_atomic(&out.join("summary.json"), json.as_bytes())?;
    Ok(())
}

/// Columns of `path` that feed the model: its named inputs if present, else
/// the first `d` columns when the file has exactly `d` (or `d + m`) columns.
fn pick_columns(model: &Model, path: &Path, want_outputs: bool) -> Result<sapm::data::Dataset> {
    let table = read_table(path)?;
    let names = |v: &[String]| v.iter().cloned().map(Column::Name).collect::<Vec<_>>();
    let has = |v: &[String]| v.iter().all(|n| table.names.contains(n));
    let (d, m) = (model.input_names.len(), model.output_names.len());
    let (inputs, outputs) =
        if has(&model.input_names) && (!want_outputs || has(&model.output_names)) {
            (names(&model.input_names), names(&model.output_names))
        } else if table.names.len() == d + if want_outputs { m } else { 0 } {
            (
                (0..d).map(Column::Index).collect(),
                (d..d + m).map(Column::Index).collect(),
            )
        } else {
            bail!(
                "{}: expected columns {:?}{} (or exactly {} unnamed columns), found {:?}",
                path.display(),
                model.input_names,
                if want_outputs {
                    format!(" and {:?}", model.output_names)
                } else {
                    String::new()
                },
                d + if want_outputs { m } else { 0 },
                table.names
            );
        };
    if want_outputs {
        Ok(table.to_dataset(path, Some(&inputs), Some(&outputs))?)
    } else {
        // Predict needs no targets: use a dummy zero output column.
        let x = faer::Mat::from_fn(d, table.rows, |i, j| {
            let c = match &inputs[i] {
                Column::Name(n) => table.names.iter().position(|t| t == n).unwrap_or(0),
                Column::Index(k) => *k,
            };
            table.values[j * table.names.len() + c]
        });
        Ok(sapm::data::Dataset::new(
            x,
            faer::Mat::zeros(1, table.rows),
            model.input_names.clone(),
            vec!["_".into()],
        )?)
    }
}

fn predict(model: &Path, input: &Path, output: &Path) -> Result<()> {
    let model = Model::load(model)?;
    let data = pick_columns(&model, input, false)?;
    let u = model.predict(data.x.as_ref())?;
    let mut s = String::new();
    let header: Vec<String> = model
        .input_names
        .iter()
        .chain(&model.output_names)
        .cloned()
        .collect();
    s.push_str(&header.join(","));
    s.push('\n');
    for j in 0..data.len() {
        let row: Vec<String> = (0..data.input_dim())
            .map(|i| format!("{:e}", data.x[(i, j)]))
            .chain((0..u.nrows()).map(|i| format!("{:e}", u[(i, j)])))
            .collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    sapm::io::write_atomic(output, s.as_bytes())?;
    Ok(())
}

fn eval(model: &Path, data: &Path) -> Result<()> {
    let model = Model::load(model)?;
    let d = pick_columns(&model, data, true)?;
    let u = model.predict(d.x.as_ref())?;
    let u32 = model.net.predict_f32(d.x.as_ref());
    let n = d.len() as f64;
    let (mut se, mut se32, mut ny, mut maxe) = (0.0, 0.0, 0.0, 0.0f64);
    for j in 0..d.len() {
        for i in 0..u.nrows() {
            let e = u[(i, j)] - d.y[(i, j)];
            se += e * e;
            se32 += (u32[(i, j)] - d.y[(i, j)]).powi(2);
            ny += d.y[(i, j)] * d.y[(i, j)];
            maxe = maxe.max(e.abs());
        }
    }
    let v = serde_json::json!({
        "n": d.len(),
        "mse": se / n,
        "rmse": (se / n).sqrt(),
        "max_abs_error": maxe,
        "rel_l2": if ny > 0.0 { (se / ny).sqrt() } else { f64::NAN },
        "mse_f32": se32 / n,
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Progress bar with the current losses.
struct Progress {
    bar: Option<ProgressBar>,
    names: Vec<String>,
    last: String,
    /// The objective of the last iteration, when its message is due.
    due: Option<f64>,
}

impl Progress {
    fn new(quiet: bool, cfg: &TrainConfig) -> Self {
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
            names: Vec::new(),
            last: String::new(),
            due: None,
        }
    }
    fn finish(&mut self, _f: &Fitted) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn should_stop(&mut self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
    fn on_start(&mut self, names: &[String], _rules: &StopRules) {
        self.names = names.to_vec();
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
