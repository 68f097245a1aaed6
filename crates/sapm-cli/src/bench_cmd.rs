//! `sapm bench`: time one PM/SAPM iteration, one Adam step and a plain GEMM
//! of the same shape in one interleaved run, and report GFLOP/s from the flop
//! model (`sapm::perf`) and the ratio to the GEMM. Also scaling tables (time
//! per iteration against N and L), one- against two-thread runs, and a memory
//! run (peak RSS). Prints Markdown tables to stdout.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use sapm::driver::Clock;
use sapm::engine::loss::Weighting;
use sapm::engine::{PenaltyConfig, PenaltyTrainer};
use sapm::linalg::{SampleBlocks, SolveMethod, balanced_block};
use sapm::optim::{Adam, AdamConfig, Trainer};
use sapm::perf::{self, Workload};
use sapm::task::regression::LsObjective;
use std::time::Instant;

/// What `sapm bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// GEMM reference, SAPM (TSQR and Cholesky), PM and Adam at every N and width.
    Iteration,
    /// SAPM time per iteration against N (widths[0], depth) and against L (N = n[0]).
    Scaling,
    /// SAPM iteration on 1 and on 2 threads, interleaved, at every N.
    Threads,
    /// Start a trainer at N = n[0], run `--iterations`, report its buffers and peak RSS.
    Memory,
    /// One Levenberg-Marquardt iteration against faer's GEMM and Cholesky of
    /// the same size (defaults N = 2000, width 31, L = 5: P = 3070).
    Lm,
}

/// Options of `sapm bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "iteration")]
    pub mode: Mode,
    /// Sample counts, comma-separated (default 1000,10000,100000; lm mode 2000).
    #[arg(long, value_delimiter = ',')]
    pub n: Vec<usize>,
    /// Hidden widths, comma-separated (default 20,64; lm mode 31).
    #[arg(long, value_delimiter = ',')]
    pub width: Vec<usize>,
    /// Affine layers L (scaling mode: comma-separated list for the L table;
    /// default 10; lm mode 5).
    #[arg(long, value_delimiter = ',')]
    pub depth: Vec<usize>,
    /// Timed repetitions per case (medians are reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Samples per block.
    #[arg(long, default_value_t = 2048)]
    pub block: usize,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Memory mode: iterations to run after start; lm mode: untimed LM
    /// iterations before timing.
    #[arg(long, default_value_t = 3)]
    pub iterations: usize,
    /// lm mode: add the primal-form LM iteration.
    #[arg(long)]
    pub primal: bool,
    /// Weight-step solver of the SAPM runs in scaling, threads and memory modes.
    #[arg(long, default_value = "qr")]
    pub solver: String,
}

/// Wall and CPU seconds of one run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
    flops: f64,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Medians of wall time, CPU time and flops per run.
pub(crate) struct Summary {
    pub(crate) wall: f64,
    pub(crate) cpu: f64,
    pub(crate) flops: f64,
    pub(crate) spread: f64,
}

fn summarise(s: &[Sample]) -> Summary {
    let mut w: Vec<f64> = s.iter().map(|x| x.wall).collect();
    let mut c: Vec<f64> = s.iter().map(|x| x.cpu).collect();
    let mut f: Vec<f64> = s.iter().map(|x| x.flops).collect();
    let lo = w.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = w.iter().cloned().fold(0.0, f64::max);
    let wall = median(&mut w);
    Summary {
        wall,
        cpu: median(&mut c),
        flops: median(&mut f),
        spread: (hi - lo) / wall,
    }
}

fn timed(f: impl FnOnce() -> Result<f64>) -> Result<Sample> {
    let (w0, c0) = (Instant::now(), Clock::Cpu.now());
    let flops = f()?;
    Ok(Sample {
        wall: w0.elapsed().as_secs_f64(),
        cpu: Clock::Cpu.now() - c0,
        flops,
    })
}

/// A benchmark case: something that runs one unit of work and returns its flops.
pub(crate) trait Case {
    fn name(&self) -> String;
    fn run(&mut self) -> Result<f64>;
}

/// `C = W P` with `W` `m x (m+1)` and `P` `(m+1) x N`, block-parallel over
/// sample blocks exactly as the trainers' passes (faer sequential inside).
struct GemmBlocks {
    w: Mat<f64>,
    p: Mat<f64>,
    c: Mat<f64>,
    blocks: SampleBlocks,
}

impl Case for GemmBlocks {
    fn name(&self) -> String {
        "GEMM W P (blocks)".into()
    }
    fn run(&mut self) -> Result<f64> {
        let (w, p) = (self.w.as_ref(), self.p.as_ref());
        self.c
            .as_mut()
            .par_col_chunks_mut(block_len(&self.blocks))
            .zip(self.blocks.ranges().par_iter())
            .for_each(|(c, r)| {
                matmul(
                    c,
                    Accum::Replace,
                    w,
                    p.subcols(r.start, r.len()),
                    1.0,
                    Par::Seq,
                );
            });
        Ok(perf::gemm_flops(w.nrows(), w.ncols(), p.ncols()))
    }
}

fn block_len(b: &SampleBlocks) -> usize {
    b.ranges().first().map_or(1, |r| r.len())
}

/// The same product as one faer call with faer's own rayon parallelism.
struct GemmFaer {
    w: Mat<f64>,
    p: Mat<f64>,
    c: Mat<f64>,
}

impl Case for GemmFaer {
    fn name(&self) -> String {
        "GEMM W P (faer par)".into()
    }
    fn run(&mut self) -> Result<f64> {
        let par = Par::rayon(rayon::current_num_threads());
        matmul(
            self.c.as_mut(),
            Accum::Replace,
            self.w.as_ref(),
            self.p.as_ref(),
            1.0,
            par,
        );
        Ok(perf::gemm_flops(
            self.w.nrows(),
            self.w.ncols(),
            self.p.ncols(),
        ))
    }
}

struct PenaltyCase<'a> {
    label: String,
    net: sapm::Network,
    t: PenaltyTrainer<'a>,
}

impl Case for PenaltyCase<'_> {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn run(&mut self) -> Result<f64> {
        let before = self.t.flops().unwrap_or_default();
        self.t.step(&mut self.net)?;
        let after = self.t.flops().unwrap_or_default();
        Ok(after.since(&before).total())
    }
}

/// One step of trainer `t` on `net`, credited with `flops` from a model.
pub(crate) struct StepCase<T> {
    pub(crate) label: String,
    pub(crate) net: sapm::Network,
    pub(crate) t: T,
    pub(crate) flops: f64,
}

impl<T: Trainer> Case for StepCase<T> {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn run(&mut self) -> Result<f64> {
        self.t.step(&mut self.net)?;
        Ok(self.flops)
    }
}

/// Runs `cases` interleaved and prints a row per case: `| {lead} | name |`
/// then the median wall time in ms (`ms_digits` decimals), CPU/wall, the
/// spread, GFLOP/s and the rate over `reference_rate(results)`.
pub(crate) fn print_rate_rows(
    cases: &mut [&mut dyn Case],
    reps: usize,
    lead: &str,
    ms_digits: usize,
    reference_rate: impl Fn(&[Summary]) -> f64,
) -> Result<()> {
    let names: Vec<String> = cases.iter().map(|c| c.name()).collect();
    let res = interleave(cases, reps)?;
    let reference = reference_rate(&res);
    for (name, s) in names.iter().zip(&res) {
        let rate = s.flops / s.wall;
        println!(
            "| {lead} | {name} | {:.ms_digits$} | {:.2} | {:.0}% | {:.1} | {:.2} |",
            s.wall * 1e3,
            s.cpu / s.wall,
            100.0 * s.spread,
            rate / 1e9,
            rate / reference
        );
    }
    Ok(())
}

fn penalty<'a>(
    wl: &'a Workload,
    solver: SolveMethod,
    weighting: Weighting,
    block: usize,
    label: &str,
) -> Result<PenaltyCase<'a>> {
    let cfg = PenaltyConfig {
        solver,
        block,
        ..PenaltyConfig::default()
    };
    let mut t = PenaltyTrainer::new(cfg, weighting, wl.x.as_ref(), wl.y.as_ref(), 0);
    let net = wl.net.clone();
    t.start(&net)?;
    Ok(PenaltyCase {
        label: label.into(),
        net,
        t,
    })
}

fn parse_solver(s: &str) -> Result<SolveMethod> {
    Ok(match s {
        "qr" => SolveMethod::Qr,
        "cholesky" => SolveMethod::Cholesky,
        _ => bail!("--solver must be qr or cholesky, got {s:?}"),
    })
}

/// Run `cases` interleaved: one warm-up each, then `reps` rounds.
pub(crate) fn interleave(cases: &mut [&mut dyn Case], reps: usize) -> Result<Vec<Summary>> {
    for c in cases.iter_mut() {
        c.run()
            .with_context(|| format!("warm-up of {}", c.name()))?;
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cases.len()];
    for _ in 0..reps.max(1) {
        for (c, s) in cases.iter_mut().zip(&mut samples) {
            s.push(timed(|| c.run())?);
        }
    }
    Ok(samples.iter().map(|s| summarise(s)).collect())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "n/a".into())
}

pub(crate) fn header(args: &BenchArgs) {
    println!(
        "<!-- sapm bench --mode {:?}, threads {}, block {}, reps {}, load average at start {} -->",
        args.mode,
        rayon::current_num_threads(),
        args.block,
        args.reps,
        load()
    );
}

pub(crate) fn iteration_mode(args: &BenchArgs) -> Result<()> {
    header(args);
    let depth = args.depth[0];
    println!("\n| N | width | case | wall ms (median) | CPU/wall | spread | GFLOP/s | vs GEMM |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &args.n {
        for &width in &args.width {
            let wl = Workload::new(n, width, depth, 1)?;
            let k = width + 1;
            let mut gb = GemmBlocks {
                w: Mat::from_fn(width, k, |i, j| ((i + 2 * j) as f64 * 0.1).sin()),
                p: Mat::from_fn(k, n, |i, j| ((i * 7 + j) as f64 * 0.01).cos()),
                c: Mat::zeros(width, n),
                blocks: SampleBlocks::new(n, balanced_block(n, args.block)),
            };
            let mut gf = GemmFaer {
                w: gb.w.clone(),
                p: gb.p.clone(),
                c: Mat::zeros(width, n),
            };
            let mut sq = penalty(
                &wl,
                SolveMethod::Qr,
                Weighting::SelfAdaptive,
                args.block,
                "SAPM iteration (TSQR)",
            )?;
            let mut sc = penalty(
                &wl,
                SolveMethod::Cholesky,
                Weighting::SelfAdaptive,
                args.block,
                "SAPM iteration (Cholesky)",
            )?;
            let mut pm = penalty(
                &wl,
                SolveMethod::Qr,
                Weighting::Constant(1.0),
                args.block,
                "PM iteration (TSQR)",
            )?;
            let net = wl.net.clone();
            let obj = Box::new(LsObjective::new(&net, wl.x.as_ref(), wl.y.as_ref()));
            let mut adam = Adam::new(obj, AdamConfig::default());
            adam.start(&net)?;
            let mut ad = StepCase {
                label: "Adam step".into(),
                flops: perf::adam_step_flops(net.widths(), n),
                net,
                t: adam,
            };
            let mut cases: Vec<&mut dyn Case> =
                vec![&mut gb, &mut gf, &mut sq, &mut sc, &mut pm, &mut ad];
            print_rate_rows(&mut cases, args.reps, &format!("{n} | {width}"), 3, |res| {
                res[..2]
                    .iter()
                    .map(|s| s.flops / s.wall)
                    .fold(0.0, f64::max)
            })?;
        }
    }
    println!(
        "\nGFLOP/s = model flops (sapm::perf) / median wall time; \"vs GEMM\" divides by the faster of the two GEMM rows of the same N and width (measured in the same run, interleaved)."
    );
    Ok(())
}

pub(crate) fn scaling_mode(args: &BenchArgs) -> Result<()> {
    header(args);
    let solver = parse_solver(&args.solver)?;
    let width = args.width[0];
    let depth = *args.depth.last().unwrap_or(&10);
    println!(
        "\n### Time per SAPM iteration against N (width {width}, L = {depth}, {} solver)\n",
        args.solver
    );
    println!(
        "| N | wall s (median) | CPU s | wall / N (ns) | relative to largest N | GFLOP/s | trials/iteration |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for &n in &args.n {
        let wl = Workload::new(n, width, depth, 1)?;
        let mut c = penalty(&wl, solver, Weighting::SelfAdaptive, args.block, "sapm")?;
        let mut cases: Vec<&mut dyn Case> = vec![&mut c];
        let s = interleave(&mut cases, args.reps)?.remove(0);
        let f = c.t.flops().unwrap_or_default();
        let tot: f64 = f.seconds.iter().sum();
        println!(
            "<!-- N = {n}: share of pass time: data {:.0}%, solves {:.0}%, direction {:.0}%, trials {:.0}%, updates {:.0}% -->",
            100.0 * f.seconds[0] / tot,
            100.0 * f.seconds[1] / tot,
            100.0 * f.seconds[2] / tot,
            100.0 * f.seconds[3] / tot,
            100.0 * f.seconds[4] / tot
        );
        rows.push((n, s, f.trial_passes as f64 / f.data_passes.max(1) as f64));
    }
    let last = rows
        .last()
        .map(|(n, s, _)| s.wall / *n as f64)
        .unwrap_or(1.0);
    for (n, s, trials) in &rows {
        let per = s.wall / *n as f64;
        println!(
            "| {n} | {:.3} | {:.3} | {:.1} | {:.3} | {:.1} | {trials:.2} |",
            s.wall,
            s.cpu,
            per * 1e9,
            per / last,
            s.flops / s.wall / 1e9
        );
    }
    if args.depth.len() > 1 {
        let n = args.n[0];
        println!("\n### Time per SAPM iteration against L (N = {n}, width {width})\n");
        println!("| L | wall s (median) | wall / L (ms) | GFLOP/s |");
        println!("|---|---|---|---|");
        for &l in &args.depth {
            let wl = Workload::new(n, width, l, 1)?;
            let mut c = penalty(&wl, solver, Weighting::SelfAdaptive, args.block, "sapm")?;
            let mut cases: Vec<&mut dyn Case> = vec![&mut c];
            let s = interleave(&mut cases, args.reps)?.remove(0);
            println!(
                "| {l} | {:.3} | {:.1} | {:.1} |",
                s.wall,
                s.wall / l as f64 * 1e3,
                s.flops / s.wall / 1e9
            );
        }
    }
    Ok(())
}

pub(crate) fn threads_mode(args: &BenchArgs) -> Result<()> {
    header(args);
    let solver = parse_solver(&args.solver)?;
    let (width, depth) = (args.width[0], args.depth[0]);
    let p1 = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let p2 = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    println!("\n| N | threads | wall s (median) | CPU s (median) | CPU/wall | speed-up (wall) |");
    println!("|---|---|---|---|---|---|");
    for &n in &args.n {
        let wl = Workload::new(n, width, depth, 1)?;
        let mut c1 = penalty(&wl, solver, Weighting::SelfAdaptive, args.block, "1")?;
        let mut c2 = penalty(&wl, solver, Weighting::SelfAdaptive, args.block, "2")?;
        p1.install(|| c1.run())?;
        p2.install(|| c2.run())?;
        let (mut s1, mut s2) = (Vec::new(), Vec::new());
        for _ in 0..args.reps.max(1) {
            s1.push(p1.install(|| timed(|| c1.run()))?);
            s2.push(p2.install(|| timed(|| c2.run()))?);
        }
        let (a, b) = (summarise(&s1), summarise(&s2));
        println!(
            "| {n} | 1 | {:.3} | {:.3} | {:.2} | 1 |",
            a.wall,
            a.cpu,
            a.cpu / a.wall
        );
        println!(
            "| {n} | 2 | {:.3} | {:.3} | {:.2} | {:.2} |",
            b.wall,
            b.cpu,
            b.cpu / b.wall,
            a.wall / b.wall
        );
    }
    Ok(())
}

/// Peak resident set size of this process (Linux), in bytes.
fn peak_rss() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub(crate) fn memory_mode(args: &BenchArgs) -> Result<()> {
    header(args);
    let solver = parse_solver(&args.solver)?;
    let (n, width, depth) = (args.n[0], args.width[0], args.depth[0]);
    let wl = Workload::new(n, width, depth, 1)?;
    let data_bytes = 2 * sapm::linalg::mat_bytes(&wl.x);
    let cfg = PenaltyConfig {
        solver,
        block: args.block,
        ..PenaltyConfig::default()
    };
    let mut net = wl.net.clone();
    let gib = |b: f64| b / (1u64 << 30) as f64;
    let t0 = Instant::now();
    let (model, held) = {
        let mut t = PenaltyTrainer::new(
            cfg,
            Weighting::SelfAdaptive,
            wl.x.as_ref(),
            wl.y.as_ref(),
            0,
        );
        t.start(&net)?;
        for _ in 0..args.iterations {
            t.step(&mut net)?;
        }
        (perf::penalty_bytes_per_sample(net.widths()), t.memory())
    };
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "\nPenalty trainer, N = {n}, width {width}, L = {depth}, {} solver: start + {} iterations in {secs:.1} s",
        args.solver, args.iterations
    );
    println!("\n| quantity | value |\n|---|---|");
    println!("| model: per-sample bytes of the trainer | {model:.0} |");
    println!(
        "| model: trainer total | {:.2} GiB |",
        gib(model * n as f64)
    );
    if let Some(m) = held {
        println!(
            "| held: auxiliaries A | {:.2} GiB ({:.0} B/sample) |",
            gib(m.aux as f64),
            m.aux as f64 / n as f64
        );
        println!("| held: direction D | {:.2} GiB |", gib(m.direction as f64));
        println!(
            "| held: workspace (scratch, slots, layer data) | {:.1} MiB |",
            m.workspace as f64 / (1u64 << 20) as f64
        );
        println!(
            "| held: all per-sample buffers | {:.0} B/sample |",
            m.per_sample()
        );
    }
    println!(
        "| data x, y (faer pads 1-row matrices to 8 rows) | {:.2} GiB |",
        gib(data_bytes as f64)
    );
    match peak_rss() {
        Some(p) => println!("| peak RSS (VmHWM) | {:.2} GiB |", gib(p as f64)),
        None => println!("| peak RSS | n/a |"),
    }
    Ok(())
}
