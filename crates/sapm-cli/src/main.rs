//! The `sapm` command: a thin layer over the `sapm` library.
//!
//! Exit codes: 0 success, 1 bad input, I/O error or refusal (memory, locked
//! folder), 2 usage (command line), 3 training diverged, 4 interrupted by
//! Ctrl-C or SIGTERM.

mod bench;
mod bench_cmd;
mod bench_lm;
mod data_cmd;
mod export_cmd;
mod predict_out;
mod signals;
mod study_cmd;
mod train_cmd;
#[cfg(feature = "mpi")]
mod train_mpi;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a command-line (usage) error, as clap's own.
const EXIT_USAGE: u8 = 2;

/// A command-line error found after parsing (exit code 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn parse_size(s: &str) -> Result<u64, String> {
    sapm::memory::parse_size(s).map_err(|e| e.to_string())
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
    Train(train_cmd::TrainArgs),
    /// Predict with a trained model: reads the model's input columns (by name), writes inputs and predictions (columns OUTPUT_pred).
    Predict {
        /// A `sapm train --out` folder or its model.json.
        #[arg(long)]
        model: PathBuf,
        /// Input CSV with a header (or .npy).
        #[arg(long)]
        input: PathBuf,
        /// Output file: .csv (inputs and predictions), .npy (predictions, rows x outputs), .npz (inputs, predictions, names); `-` writes CSV to stdout.
        #[arg(long)]
        output: PathBuf,
        /// csv, npy or npz (default: from the --output extension; CSV for others).
        #[arg(long)]
        format: Option<String>,
        /// Take the file's columns in order when their names are not the model's.
        #[arg(long)]
        by_position: bool,
        /// Memory for one batch of rows is at most a quarter of this (default 80% of the physical memory).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_memory: Option<u64>,
    },
    /// Run a study (many runs, results.csv, plots, report.md): consistency, depth, ablation, transport, derivatives, optimizers, second-order.
    Study {
        /// Study name: consistency, depth, ablation, transport (PINN table over beta), derivatives (PINN derivative auxiliaries), optimizers (every method at equal CPU time, issue 16) or second-order (every method on the second-order PDEs at equal CPU time, issue 12).
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
    /// Evaluate a model on labelled data; prints metrics as JSON (mse: mean over rows and outputs).
    Eval {
        /// A `sapm train --out` folder or its model.json.
        #[arg(long)]
        model: PathBuf,
        /// CSV (or .npy) with the model's input and output columns (by name).
        #[arg(long)]
        data: PathBuf,
        /// Take the file's columns in order (inputs, then outputs) when their names are not the model's.
        #[arg(long)]
        by_position: bool,
        /// Memory for one batch of rows is at most a quarter of this (default 80% of the physical memory).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_memory: Option<u64>,
    },
    /// Export a model's weights, biases, activation and scaling for numpy or PyTorch (docs/models.md).
    Export {
        /// A `sapm train --out` folder or its model.json.
        #[arg(long)]
        model: PathBuf,
        /// npz or safetensors (default: from the --output extension).
        #[arg(long)]
        format: Option<String>,
        /// The file to write (replaced atomically).
        #[arg(long)]
        output: PathBuf,
    },
    /// Time one SAPM/PM iteration, one Adam step and a GEMM of the same shape (GFLOP/s, ratios), scaling and memory.
    Bench(bench_cmd::BenchArgs),
}

/// Exit code for an error: 2 usage, 4 interrupted, else 1.
fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<Usage>().is_some() {
        return EXIT_USAGE;
    }
    let interrupted = matches!(
        e.downcast_ref::<sapm::Error>(),
        Some(sapm::Error::Interrupted(_))
    ) || matches!(
        e.downcast_ref::<sapm_study::error::Error>(),
        Some(sapm_study::error::Error::Sapm(sapm::Error::Interrupted(_)))
    );
    if interrupted {
        signals::EXIT_INTERRUPTED
    } else {
        1
    }
}

/// An allocation that fails despite the memory estimate (faer panics with
/// `AllocError`) ends with a message and exit code 1, not a panic (101).
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("AllocError") || msg.contains("capacity overflow") {
            eprintln!(
                "error: out of memory: an allocation failed ({msg}); lower the sizes, or set --max-memory to what this machine can give"
            );
            std::process::exit(1);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let res = match cli.cmd {
        // A process started by an MPI launcher is one rank of a data-parallel run.
        #[cfg(feature = "mpi")]
        Cmd::Train(args) if train_mpi::launched_by_mpi() => {
            signals::install();
            train_mpi::train(args)
        }
        Cmd::Train(args) => {
            signals::install();
            train_cmd::train(args)
        }
        Cmd::Predict {
            model,
            input,
            output,
            format,
            by_position,
            max_memory,
        } => {
            signals::install();
            data_cmd::predict(
                &model,
                &input,
                &output,
                format.as_deref(),
                by_position,
                max_memory,
            )
            .map(|_| ExitCode::SUCCESS)
        }
        Cmd::Eval {
            model,
            data,
            by_position,
            max_memory,
        } => {
            signals::install();
            data_cmd::eval(&model, &data, by_position, max_memory).map(|_| ExitCode::SUCCESS)
        }
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
        Cmd::Plot { run_dir } => {
            signals::install();
            study_cmd::plot(&run_dir, &signals::stop_requested).map(|_| ExitCode::SUCCESS)
        }
        Cmd::Export {
            model,
            format,
            output,
        } => export_cmd::export(&model, format.as_deref(), &output).map(|_| ExitCode::SUCCESS),
        Cmd::Bench(args) => bench::run(args).map(|_| ExitCode::SUCCESS),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", sapm::error::clip_message(&format!("{e:#}")));
            ExitCode::from(exit_code(&e))
        }
    }
}
