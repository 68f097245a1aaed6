//! `sapm bench`: default sizes per mode, checks, the worker pool, and the
//! dispatch to the mode that measures (`bench_cmd` for the PM/SAPM modes,
//! `bench_lm` for one Levenberg-Marquardt iteration).

use crate::bench_cmd::{self, BenchArgs, Mode};
use crate::bench_lm;
use anyhow::{Context, Result, bail};

/// Run `sapm bench`.
pub fn run(mut args: BenchArgs) -> Result<()> {
    let lm = args.mode == Mode::Lm;
    if args.n.is_empty() {
        args.n = if lm {
            vec![2000]
        } else {
            vec![1000, 10_000, 100_000]
        };
    }
    if args.width.is_empty() {
        args.width = if lm { vec![31] } else { vec![20, 64] };
    }
    if args.depth.is_empty() {
        args.depth = vec![if lm { 5 } else { 10 }];
    }
    if let Some(bad) = args.n.iter().chain(&args.width).find(|&&v| v == 0) {
        bail!("sizes must be positive, got {bad}");
    }
    if args.depth.iter().any(|&l| l < 2) {
        bail!("--depth must be at least 2 (PM/SAPM need a hidden layer)");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("starting worker threads")?;
    pool.install(|| match args.mode {
        Mode::Iteration => bench_cmd::iteration_mode(&args),
        Mode::Scaling => bench_cmd::scaling_mode(&args),
        Mode::Threads => bench_cmd::threads_mode(&args),
        Mode::Memory => bench_cmd::memory_mode(&args),
        Mode::Lm => bench_lm::lm_mode(&args),
    })
}
