//! The optimised PM/SAPM trainer (block passes, TSQR or Gram + in-place
//! Cholesky, no full-size `P`/`E`/trial copies) follows the straightforward
//! reference trainer to 1e-10 relative on fixed seeds, for every solver,
//! sweep, auxiliary order and regularisation.

#[path = "support/reference.rs"]
mod reference;

use faer::Mat;
use reference::ReferencePenaltyTrainer;
use sapm::NetworkSpec;
use sapm::engine::loss::Weighting;
use sapm::engine::{AuxOrder, PenaltyConfig, PenaltyTrainer, SweepOrder};
use sapm::linalg::SolveMethod;
use sapm::optim::Trainer;

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

fn aux_flat(a: &sapm::engine::loss::AuxVars) -> Vec<f64> {
    a.a.iter()
        .flat_map(|m| (0..m.ncols()).flat_map(move |j| m.col_as_slice(j).to_vec()))
        .collect()
}

#[test]
fn optimised_iterations_match_the_reference() {
    let n = 300;
    let x = Mat::from_fn(2, n, |i, j| ((3 * i + 7 * j) as f64 * 0.37).sin() * 1.5);
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * x[(1, j)]).sin() + 0.3 * x[(0, j)]);
    let base = PenaltyConfig {
        // Several sample blocks and more than one wave.
        block: 16,
        ..PenaltyConfig::default()
    };
    let variants: Vec<(&str, PenaltyConfig, Weighting)> = vec![
        ("sapm qr", base, Weighting::SelfAdaptive),
        (
            "sapm cholesky",
            PenaltyConfig {
                solver: SolveMethod::Cholesky,
                ..base
            },
            Weighting::SelfAdaptive,
        ),
        ("pm qr", base, Weighting::Constant(0.5)),
        (
            "sapm qr ridge+prox forward gauss-seidel",
            PenaltyConfig {
                ridge: 1e-3,
                prox: 1e-2,
                sweep: SweepOrder::Forward,
                aux_order: AuxOrder::GaussSeidel,
                ..base
            },
            Weighting::SelfAdaptive,
        ),
        (
            "pm cholesky prox, 2 aux steps",
            PenaltyConfig {
                solver: SolveMethod::Cholesky,
                prox: 1e-3,
                aux_steps: 2,
                ..base
            },
            Weighting::Constant(1.0),
        ),
        (
            "sapm cholesky capped",
            PenaltyConfig {
                solver: SolveMethod::Cholesky,
                cap_output: 2.0,
                cap_hidden: 3.0,
                ..base
            },
            Weighting::SelfAdaptive,
        ),
        (
            "sapm qr capped",
            PenaltyConfig {
                cap_output: 2.0,
                cap_hidden: 3.0,
                ..base
            },
            Weighting::SelfAdaptive,
        ),
    ];
    for (name, cfg, w) in variants {
        let net0 = NetworkSpec::new(vec![2, 7, 6, 5, 1]).build(3).unwrap();
        let (mut a, mut b) = (net0.clone(), net0.clone());
        let mut fast = PenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 11);
        let mut slow = ReferencePenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 11);
        fast.start(&a).unwrap();
        slow.start(&b).unwrap();
        let j0 = (fast.aux_loss().unwrap(), slow.aux_loss().unwrap());
        assert!((j0.0 - j0.1).abs() <= 1e-12 * j0.1, "{name}: start {j0:?}");
        for it in 0..6 {
            let fa = fast.step(&mut a).unwrap();
            let fb = slow.step(&mut b).unwrap();
            let dj = (fa.objective - fb.objective).abs() / fb.objective;
            let dp = rel(&a.params(), &b.params());
            let da = rel(
                &aux_flat(&fast.aux().unwrap()),
                &aux_flat(slow.aux().unwrap()),
            );
            if std::env::var("SHOW").is_ok() {
                eprintln!(
                    "{name} {it}: J {:e} dj {dj:e} dp {dp:e} da {da:e} |W_L| {:e}",
                    fb.objective,
                    b.weight(3).squared_norm_l2()
                );
            }
            assert!(
                dj < 1e-10 && dp < 1e-10 && da < 1e-10,
                "{name}, iteration {it}: objective {dj:e}, params {dp:e}, aux {da:e}"
            );
        }
        if std::env::var("SHOW").is_ok() {
            eprintln!("{:?}", fast.stats());
        }
        assert_eq!(fast.stats(), slow.stats(), "{name}");
    }
}

/// Fewer samples than design columns: every weight step is rank deficient and
/// both trainers take the SVD fallback, with the same minimum-norm answer.
#[test]
fn rank_deficient_steps_fall_back_identically() {
    let n = 5;
    let x = Mat::from_fn(1, n, |_, j| j as f64 * 0.4 - 1.0);
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * 2.0).sin());
    for solver in [SolveMethod::Qr, SolveMethod::Cholesky] {
        let cfg = PenaltyConfig {
            solver,
            block: 2,
            aux_init: sapm::engine::AuxInit::Random,
            ..PenaltyConfig::default()
        };
        let net0 = NetworkSpec::new(vec![1, 8, 8, 1]).build(5).unwrap();
        let (mut a, mut b) = (net0.clone(), net0.clone());
        let w = Weighting::Constant(1.0);
        let mut fast = PenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 2);
        let mut slow = ReferencePenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 2);
        fast.start(&a).unwrap();
        slow.start(&b).unwrap();
        for it in 0..3 {
            let fa = fast.step(&mut a).unwrap();
            let fb = slow.step(&mut b).unwrap();
            let dj = (fa.objective - fb.objective).abs() / fb.objective.max(1e-300);
            let dp = rel(&a.params(), &b.params());
            assert!(dj < 1e-9 && dp < 1e-9, "{solver:?} {it}: {dj:e} {dp:e}");
        }
        let (sf, ss) = (fast.stats(), slow.stats());
        assert!(ss.solve_fallbacks > 0, "{solver:?}: no fallback exercised");
        assert_eq!(sf, ss, "{solver:?}");
    }
}

/// A reducer that claims two processes (so both trainers take the Gram
/// path, as in a multi-process run) but sums nothing: exercises the packing
/// of Gram sums through the `Reducer` interface.
struct PretendTwo;

impl sapm::linalg::Reducer for PretendTwo {
    fn all_reduce_sum(&self, _buf: &mut [f64]) -> sapm::Result<()> {
        Ok(())
    }
    fn size(&self) -> usize {
        2
    }
}

#[test]
fn gram_sums_go_through_the_reducer() {
    let n = 200;
    let x = Mat::from_fn(1, n, |_, j| j as f64 / n as f64 * 4.0 - 2.0);
    let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * 3.0).sin());
    let cfg = PenaltyConfig {
        block: 16,
        prox: 1e-4,
        ..PenaltyConfig::default()
    };
    let net0 = NetworkSpec::new(vec![1, 6, 6, 1]).build(8).unwrap();
    let (mut a, mut b) = (net0.clone(), net0.clone());
    let w = Weighting::SelfAdaptive;
    let mut fast = PenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 0)
        .with_reducer(std::sync::Arc::new(PretendTwo));
    let mut slow = ReferencePenaltyTrainer::new(cfg, w, x.as_ref(), y.as_ref(), 0)
        .with_reducer(Box::new(PretendTwo));
    fast.start(&a).unwrap();
    slow.start(&b).unwrap();
    for it in 0..4 {
        let fa = fast.step(&mut a).unwrap();
        let fb = slow.step(&mut b).unwrap();
        let dj = (fa.objective - fb.objective).abs() / fb.objective;
        let dp = rel(&a.params(), &b.params());
        assert!(dj < 1e-10 && dp < 1e-10, "{it}: {dj:e} {dp:e}");
    }
}
