//! Steady-state iterations of the optimised trainers allocate nothing.
//!
//! A counting global allocator (this test binary only) measures heap
//! allocations during a few iterations after warm-up. The counter is global,
//! so this file holds exactly one test.

use faer::Mat;
use sapm::NetworkSpec;
use sapm::engine::loss::Weighting;
use sapm::engine::{PenaltyConfig, PenaltyTrainer};
use sapm::linalg::SolveMethod;
use sapm::optim::{Adam, AdamConfig, Trainer};
use sapm::task::pde::{PdeConfig, PdeTask, Problem};
use sapm::task::regression::LsObjective;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in_steps(t: &mut dyn Trainer, net: &mut sapm::Network, steps: usize) -> usize {
    t.start(net).unwrap();
    for _ in 0..3 {
        t.step(net).unwrap();
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..steps {
        t.step(net).unwrap();
    }
    ALLOCS.load(Ordering::Relaxed) - before
}

#[test]
fn steady_state_iterations_do_not_allocate() {
    let n = 1000;
    let x = Mat::from_fn(1, n, |_, j| j as f64 / n as f64 * 6.0 - 3.0);
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * x[(0, j)]).sin());
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        // faer's GEMM kernel allocates one packing buffer per thread (twice
        // the L3 size) on its first product in that thread: a one-time cost,
        // so touch it on every worker before counting.
        pool.broadcast(|_| {
            let a = Mat::<f64>::from_fn(64, 64, |i, j| (i + j) as f64);
            let b = Mat::<f64>::from_fn(64, 512, |i, j| (i * j) as f64);
            std::hint::black_box(&a * &b);
        });
        pool.install(|| {
            let net0 = NetworkSpec::new(vec![1, 16, 16, 16, 1]).build(1).unwrap();
            // The undamped Cholesky path falls back to the (allocating) SVD on
            // these collinear deep features, so it runs damped here.
            let variants = |what: &str| {
                [
                    ("sapm", SolveMethod::Qr, 0.0, Weighting::SelfAdaptive),
                    ("sapm", SolveMethod::Cholesky, 1e-3, Weighting::SelfAdaptive),
                    ("pm", SolveMethod::Qr, 0.0, Weighting::Constant(1.0)),
                ]
                .map(|(method, solver, prox, w)| {
                    let name = format!("{method}{what} {solver:?}").to_lowercase();
                    let cfg = PenaltyConfig {
                        solver,
                        prox,
                        block: 128,
                        ..PenaltyConfig::default()
                    };
                    (name, cfg, w)
                })
            };
            let check = |name: &str, net0: &sapm::Network, mut t: PenaltyTrainer<'_>| {
                let mut net = net0.clone();
                let a = allocations_in_steps(&mut t, &mut net, 5);
                assert_eq!(
                    a, 0,
                    "{name}, {threads} threads: {a} allocations in 5 steps"
                );
                assert_eq!(t.stats().solve_fallbacks, 0, "{name}: took the SVD path");
            };
            for (name, cfg, w) in variants("") {
                check(
                    &name,
                    &net0,
                    PenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 0),
                );
            }
            // PINN rows: interior points with a derivative channel and
            // Omega rows, boundary points; the same engine.
            let pde = PdeConfig {
                n_interior: 600,
                n_boundary: 200,
                ..PdeConfig::default()
            };
            let task = PdeTask::new(Problem::transport1d(1.0), pde, 0).unwrap();
            let pnet0 = NetworkSpec::new(vec![3, 16, 16, 16, 1]).build(1).unwrap();
            for (name, cfg, w) in variants("-pinn") {
                check(
                    &name,
                    &pnet0,
                    PenaltyTrainer::with_sets(cfg, w, task.row_sets(), 0),
                );
            }
            // Second-order rows: second-derivative channels and per-point
            // readout coefficients (the mixed boundary's Neumann/Robin pieces).
            let pde = PdeConfig {
                n_interior: 400,
                n_boundary: 120,
                ..PdeConfig::default()
            };
            let task = PdeTask::new(Problem::poisson2d_mixed(), pde, 0).unwrap();
            let snet0 = NetworkSpec::new(vec![2, 16, 16, 16, 1]).build(1).unwrap();
            for (name, cfg, w) in variants("-second-order") {
                check(
                    &name,
                    &snet0,
                    PenaltyTrainer::with_sets(cfg, w, task.row_sets(), 0),
                );
            }
            let mut net = net0.clone();
            let obj = Box::new(LsObjective::new(&net, x.as_ref(), y.as_ref()));
            let mut adam = Adam::new(obj, AdamConfig::default());
            let a = allocations_in_steps(&mut adam, &mut net, 5);
            assert_eq!(a, 0, "adam, {threads} threads: {a} allocations in 5 steps");
        });
    }
}
