//! One SAPM iteration, one PM iteration and one Adam step next to a plain
//! GEMM of the same shape (the machine's reference), at N in {1e3, 1e4, 1e5},
//! widths {20, 64}, L = 10 (tanh, one input, one output).
//!
//! Run: `cargo bench -p sapm --bench iteration` (filter with e.g. `-- sapm`).
//! Throughput is reported as "items/s" where **one item is one flop** of the
//! model in `sapm::perf` (SAPM/PM: one backtracking trial assumed; the trainer
//! counts the real passes, see `sapm bench`). `sapm bench` interleaves the
//! cases and prints ratios; prefer it for the documented numbers. CI only
//! compiles this file (`cargo bench --no-run`).

use divan::Bencher;
use divan::counter::ItemsCount;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use sapm::engine::loss::Weighting;
use sapm::engine::{PenaltyConfig, PenaltyTrainer};
use sapm::linalg::{SampleBlocks, SolveMethod, balanced_block};
use sapm::optim::{Adam, AdamConfig, Trainer};
use sapm::perf::{self, Workload};
use sapm::task::regression::LsObjective;

const DEPTH: usize = 10;
const BLOCK: usize = 2048;

/// Samples and hidden width of one case.
#[derive(Debug, Clone, Copy)]
struct Size {
    n: usize,
    width: usize,
}

const SIZES: [Size; 6] = [
    Size {
        n: 1_000,
        width: 20,
    },
    Size {
        n: 1_000,
        width: 64,
    },
    Size {
        n: 10_000,
        width: 20,
    },
    Size {
        n: 10_000,
        width: 64,
    },
    Size {
        n: 100_000,
        width: 20,
    },
    Size {
        n: 100_000,
        width: 64,
    },
];

fn main() {
    divan::main();
}

/// `C = W P`, `W` `m x (m + 1)`, `P` `(m + 1) x N`, over sample blocks in
/// parallel with faer sequential inside: the shape of a forward layer.
#[divan::bench(args = SIZES, sample_count = 10)]
fn gemm_reference(b: Bencher, s: Size) {
    let (m, k) = (s.width, s.width + 1);
    let w = Mat::from_fn(m, k, |i, j| ((i + 2 * j) as f64 * 0.1).sin());
    let p = Mat::from_fn(k, s.n, |i, j| ((7 * i + j) as f64 * 0.01).cos());
    let mut c = Mat::<f64>::zeros(m, s.n);
    let block = balanced_block(s.n, BLOCK);
    let blocks = SampleBlocks::new(s.n, block);
    b.counter(ItemsCount::new(perf::gemm_flops(m, k, s.n) as usize))
        .bench_local(|| {
            c.as_mut()
                .par_col_chunks_mut(block)
                .zip(blocks.ranges().par_iter())
                .for_each(|(c, r)| {
                    matmul(
                        c,
                        Accum::Replace,
                        w.as_ref(),
                        p.subcols(r.start, r.len()),
                        1.0,
                        Par::Seq,
                    )
                });
        });
}

fn penalty_bench(b: Bencher, s: Size, weighting: Weighting, solver: SolveMethod) {
    let wl = Workload::new(s.n, s.width, DEPTH, 1).expect("workload");
    let cfg = PenaltyConfig {
        solver,
        block: BLOCK,
        ..PenaltyConfig::default()
    };
    let mut net = wl.net.clone();
    let mut t = PenaltyTrainer::new(cfg, weighting, wl.x.as_ref(), wl.y.as_ref(), 0);
    t.start(&net).expect("start");
    let flops = perf::penalty_iteration_flops(net.widths(), s.n, BLOCK, solver, 1.0);
    b.counter(ItemsCount::new(flops as usize)).bench_local(|| {
        t.step(&mut net).expect("step");
    });
}

/// One SAPM iteration (default: TSQR weight steps, Jacobi auxiliary step).
#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn sapm_iteration(b: Bencher, s: Size) {
    penalty_bench(b, s, Weighting::SelfAdaptive, SolveMethod::Qr);
}

/// One SAPM iteration with Gram sums and Cholesky weight steps.
#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn sapm_iteration_cholesky(b: Bencher, s: Size) {
    penalty_bench(b, s, Weighting::SelfAdaptive, SolveMethod::Cholesky);
}

/// One PM iteration (constant penalty 1).
#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn pm_iteration(b: Bencher, s: Size) {
    penalty_bench(b, s, Weighting::Constant(1.0), SolveMethod::Qr);
}

/// One full-batch Adam step (backpropagation as block matrix products).
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn adam_step(b: Bencher, s: Size) {
    let wl = Workload::new(s.n, s.width, DEPTH, 1).expect("workload");
    let mut net = wl.net.clone();
    let obj = Box::new(LsObjective::new(&net, wl.x.as_ref(), wl.y.as_ref()));
    let mut t = Adam::new(obj, AdamConfig::default());
    t.start(&net).expect("start");
    let flops = perf::adam_step_flops(net.widths(), s.n);
    b.counter(ItemsCount::new(flops as usize)).bench_local(|| {
        t.step(&mut net).expect("step");
    });
}
