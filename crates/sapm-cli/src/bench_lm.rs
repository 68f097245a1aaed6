//! `sapm bench --mode lm`: the cost of one Levenberg-Marquardt iteration
//! against a plain faer GEMM and Cholesky factorisation of the same size,
//! measured interleaved in one run.
//!
//! At `N` residuals and `P` parameters (`N < P`, the dual form) one LM
//! iteration is: the Jacobian's Khatri-Rao factors, the Gram matrix
//! `J J^T` from them (`N^2 sum_l (m_l + m_{l-1} + 1)` multiply-adds instead
//! of the `N^2 P` of a GEMM), its Cholesky factorisation (`N^3 / 3`) and a
//! trial evaluation. The reference rows are faer's own GEMM `J J^T` and
//! Cholesky (with faer's parallelism) of the same shapes.

use crate::bench_cmd::{BenchArgs, Case, StepCase, print_rate_rows};
use anyhow::{Result, bail};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, Par};
use sapm::optim::lm::{dense, factored};
use sapm::optim::{Lm, LmConfig, LmSolve, Trainer};
use sapm::perf::Workload;
use sapm::task::khatri_rao::{KhatriRao, KrFactors};
use sapm::task::regression::LsObjective;

fn par() -> Par {
    Par::rayon(rayon::current_num_threads())
}

/// faer's GEMM `C = J J^T` (`N x P` times `P x N`), faer's parallelism.
struct FaerGemm {
    j: Mat<f64>,
    c: Mat<f64>,
}

impl Case for FaerGemm {
    fn name(&self) -> String {
        "faer GEMM J J^T (N x P x N)".into()
    }
    fn run(&mut self) -> Result<f64> {
        let j = self.j.as_ref();
        matmul(
            self.c.as_mut(),
            Accum::Replace,
            j,
            j.transpose(),
            1.0,
            par(),
        );
        Ok(2.0 * (j.nrows() * j.nrows()) as f64 * j.ncols() as f64)
    }
}

/// A Cholesky factorisation of the `N x N` SPD matrix `a` (copied into `w`
/// first) by `factor`, which returns whether it succeeded.
struct Chol {
    label: &'static str,
    a: Mat<f64>,
    w: Mat<f64>,
    factor: fn(MatMut<'_, f64>) -> bool,
}

impl Case for Chol {
    fn name(&self) -> String {
        self.label.into()
    }
    fn run(&mut self) -> Result<f64> {
        let n = self.a.nrows();
        self.w.copy_from(&self.a);
        if !(self.factor)(self.w.as_mut()) {
            bail!("{} failed", self.label);
        }
        Ok((n * n) as f64 * n as f64 / 3.0)
    }
}

/// faer's Cholesky with faer's parallelism.
fn faer_cholesky(w: MatMut<'_, f64>) -> bool {
    let req = llt::factor::cholesky_in_place_scratch::<f64>(w.nrows(), par(), Default::default());
    let mut mem = MemBuffer::new(req);
    llt::factor::cholesky_in_place(
        w,
        Default::default(),
        par(),
        MemStack::new(&mut mem),
        Default::default(),
    )
    .is_ok()
}

/// The Gram matrix from Khatri-Rao factors, credited with the flops of the
/// `N^2 P` GEMM it replaces (lower triangle), so that its rate compares times.
struct KrGram {
    f: KrFactors,
    g: Mat<f64>,
    equiv: f64,
}

impl Case for KrGram {
    fn name(&self) -> String {
        "LM Gram J J^T (Khatri-Rao factors)".into()
    }
    fn run(&mut self) -> Result<f64> {
        factored::gram_lower(&self.f, self.f.layers.len(), self.g.as_mut());
        Ok(self.equiv)
    }
}

/// One LM iteration (Jacobian factors, Gram, Cholesky, trials).
type LmStep<'a> = StepCase<Lm<'a>>;

/// Phase seconds and factorisations of every LM case so far.
fn cases_lm_marks(cases: &[LmStep<'_>]) -> Vec<(f64, f64, f64, usize)> {
    cases
        .iter()
        .map(|c| {
            let (a, b, t) = c.t.phase_seconds();
            (a, b, t, c.t.stats().solves)
        })
        .collect()
}

/// Run `sapm bench --mode lm`.
pub fn lm_mode(args: &BenchArgs) -> Result<()> {
    crate::bench_cmd::header(args);
    println!("\n| N | P | case | wall ms (median) | CPU/wall | spread | GFLOP/s | vs faer GEMM |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &args.n {
        for &width in &args.width {
            let depth = args.depth[0];
            let wl = Workload::new(n, width, depth, 1)?;
            let p = wl.net.num_params();
            let j = Mat::from_fn(n, p, |i, k| ((i * 7 + k * 13) as f64 * 0.01).sin());
            let mut gemm = FaerGemm {
                c: Mat::zeros(n, n),
                j,
            };
            let mut spd = Mat::<f64>::zeros(n, n);
            matmul(
                spd.as_mut(),
                Accum::Replace,
                gemm.j.as_ref(),
                gemm.j.transpose(),
                1.0,
                par(),
            );
            for i in 0..n {
                spd[(i, i)] += 1e-3 * p as f64;
            }
            let mut fchol = Chol {
                label: "faer Cholesky (N x N)",
                w: spd.clone(),
                a: spd.clone(),
                factor: faer_cholesky,
            };
            // Our tiled Cholesky (the one LM uses), same matrix.
            let mut ochol = Chol {
                label: "LM Cholesky (tiled, deterministic)",
                w: spd.clone(),
                a: spd,
                factor: dense::cholesky_lower,
            };
            let mut obj = LsObjective::new(&wl.net, wl.x.as_ref(), wl.y.as_ref());
            let mut f = KrFactors::default();
            obj.kr_factors_into(&wl.net, &mut f);
            let gram_equiv = (n * n) as f64 * p as f64;
            let mut kr = KrGram {
                f,
                g: Mat::zeros(n, n),
                equiv: gram_equiv,
            };
            let chol = (n * n) as f64 * n as f64 / 3.0;
            let mut cases_lm = Vec::new();
            for solve in [LmSolve::Dual, LmSolve::Primal] {
                if solve == LmSolve::Primal && !args.primal {
                    continue;
                }
                let cfg = LmConfig {
                    solve,
                    ..LmConfig::default()
                };
                let obj = Box::new(LsObjective::new(&wl.net, wl.x.as_ref(), wl.y.as_ref()));
                let mut t = Lm::plain(obj, cfg);
                let mut net = wl.net.clone();
                t.start(&net)?;
                // Past the first iterations, which reject more trials.
                for _ in 0..args.iterations {
                    t.step(&mut net)?;
                }
                let (label, flops) = if solve == LmSolve::Dual {
                    ("LM iteration (dual, N x N)", gram_equiv + chol)
                } else {
                    let pf = p as f64;
                    (
                        "LM iteration (primal, P x P)",
                        n as f64 * pf * pf + pf * pf * pf / 3.0,
                    )
                };
                cases_lm.push(LmStep {
                    label: label.into(),
                    net,
                    t,
                    flops,
                });
            }
            let before = cases_lm_marks(&cases_lm);
            let mut cases: Vec<&mut dyn Case> = vec![&mut gemm, &mut fchol, &mut ochol, &mut kr];
            for c in cases_lm.iter_mut() {
                cases.push(c);
            }
            print_rate_rows(&mut cases, args.reps, &format!("{n} | {p}"), 1, |res| {
                res[0].flops / res[0].wall
            })?;
            for (c, b) in cases_lm.iter().zip(before) {
                let (lin, solve, trials) = c.t.phase_seconds();
                let its = (args.reps + 1) as f64;
                println!(
                    "<!-- {}: per iteration {:.1} ms Jacobian + Gram, {:.1} ms factorisations + solves, {:.1} ms trials; {:.2} factorisations per iteration (after {} warm-up iterations) -->",
                    c.label,
                    1e3 * (lin - b.0) / its,
                    1e3 * (solve - b.1) / its,
                    1e3 * (trials - b.2) / its,
                    (c.t.stats().solves - b.3) as f64 / its,
                    args.iterations
                );
            }
        }
    }
    println!(
        "\nGFLOP/s = model flops / median wall time. The Khatri-Rao Gram and the LM iterations are credited with the flops of the dense computation they replace (N^2 P for J J^T, N^3 / 3 for the Cholesky; N P^2 + P^3 / 3 for the primal form), so their rates compare times with the faer rows. `--primal` adds the primal iteration."
    );
    Ok(())
}
