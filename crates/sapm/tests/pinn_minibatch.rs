//! `train.batch_size` on PINN runs (`ls-adam` on collocation batches,
//! `pde.batch`): deterministic for a seed, full batch when a subset batch
//! holds every point, an unbiased estimate of the full loss, training
//! lowers the PDE loss, and impossible settings are refused by name.

#[path = "support/runs.rs"]
mod runs;

use runs::{checked, numbers, refused};
use sapm::NetworkSpec;
use sapm::driver::NoObserver;
use sapm::fit::{Fitted, fit_pde};
use sapm::objective::Objective;
use sapm::task::pde::batch::PinnBatches;
use sapm::task::pde::loss::pinn_loss;
use sapm::task::pde::{PdeConfig, PdeTask};

fn run(problem: &str, extra: &[&str]) -> Fitted {
    let mut sets = vec![
        "method=ls-adam",
        "network.depth=3",
        "network.width=6",
        "pde.n_interior=60",
        "pde.n_boundary=12",
        "pde.n_test=9",
        "train.max_iterations=25",
        "train.record_every=5",
        "adam.lr=0.01",
    ];
    let p = format!("pde.problem={problem}");
    sets.push(&p);
    sets.extend(extra);
    fit_pde(&checked("", &sets), &mut NoObserver).unwrap_or_else(|e| panic!("{extra:?}: {e}"))
}

const RESAMPLE: &str = "pde.batch={mode=\"resample\"}";

/// First order (transport) and second order (Poisson with a mixed boundary,
/// per-point boundary coefficients), subset and resampled batches.
#[test]
fn mini_batches_are_deterministic_for_a_seed() {
    for problem in ["transport1d", "poisson2d_mixed"] {
        for mode in [&[][..], &[RESAMPLE]] {
            let mut a = vec!["train.batch_size=16", "seed=1"];
            a.extend(mode);
            let first = numbers(&run(problem, &a));
            assert_eq!(first, numbers(&run(problem, &a)), "{problem} {mode:?}");
            let mut b = a.clone();
            b[1] = "seed=2";
            // Another seed draws other points and other batches.
            assert_ne!(
                numbers(&run(problem, &b)).2,
                numbers(&run(problem, &["seed=2"])).2,
                "{problem} {mode:?}"
            );
            assert_ne!(first.2, numbers(&run(problem, &b)).2, "{problem} {mode:?}");
        }
    }
}

#[test]
fn a_subset_batch_of_every_point_is_full_batch_bit_for_bit() {
    // History and weights (the summaries differ in their config).
    let same = |f: &Fitted| {
        let n = numbers(f);
        (n.1, n.2)
    };
    for problem in ["transport1d", "poisson2d"] {
        let full = numbers(&run(problem, &["train.batch_size=0"]));
        // 60 interior points: the default boundary share is then all 12.
        let full = (full.1, full.2);
        assert_eq!(same(&run(problem, &["train.batch_size=60"])), full);
        assert_eq!(same(&run(problem, &["train.batch_size=1000"])), full);
        assert_ne!(numbers(&run(problem, &["train.batch_size=59"])).2, full.1);
        // Every interior point but a boundary batch of fewer than all.
        let fewer = ["train.batch_size=60", "pde.batch={boundary=5}"];
        assert_ne!(numbers(&run(problem, &fewer)).2, full.1, "{problem}");
        // Resampling is never the fixed set.
        let res = ["train.batch_size=60", RESAMPLE];
        assert_ne!(numbers(&run(problem, &res)).2, full.1, "{problem}");
    }
}

fn task(problem: &str, extra: &str) -> PdeTask {
    let text = format!(
        "method = \"ls-adam\"\n[pde]\nproblem = \"{problem}\"\nn_interior = 40\nn_boundary = 8\nalpha = 0.7\nbeta_bc = 3.0\n{extra}"
    );
    let c = checked(&text, &["train.batch_size=10"]);
    let cfg: PdeConfig = c.pde.clone().unwrap();
    PdeTask::new(cfg.problem().unwrap(), cfg, 5).unwrap()
}

/// Subset batches: one epoch's batches (4 of 10 interior and, by the
/// default share, 4 of 2 boundary points) partition both point sets, so the
/// mean of the epoch's batch losses is the full loss, with its weights.
#[test]
fn subset_batch_losses_average_to_the_full_loss_over_an_epoch() {
    for problem in ["transport1d", "poisson2d_mixed"] {
        let t = task(problem, "");
        let net = NetworkSpec::new(vec![t.problem.embedded_dim(), 7, 7, 1])
            .build(3)
            .unwrap();
        let full = pinn_loss(&net, &t.data, 0.7, 3.0).total;
        let mut b = PinnBatches::new(&t, 10, 9).unwrap().unwrap();
        for epoch in 0..3u64 {
            let losses: Vec<f64> = (0..4)
                .map(|s| {
                    b.set_step(4 * epoch + s);
                    b.value(&net)
                })
                .collect();
            let mean = losses.iter().sum::<f64>() / 4.0;
            assert!(
                (mean - full).abs() <= 1e-12 * full,
                "{problem} epoch {epoch}: {mean} vs {full}"
            );
            // Each batch alone is not the full loss.
            assert!(
                losses.iter().all(|l| (l - full).abs() > 1e-6 * full),
                "{losses:?}"
            );
        }
    }
}

/// Resampled batches: the mean of many batch losses is the loss on a large
/// fixed sample of the same domain (the Monte Carlo integral) within a few
/// standard errors, first and second order, boundary resampled too.
#[test]
fn resampled_batch_losses_estimate_the_integral_loss() {
    for problem in ["transport1d", "poisson2d"] {
        let t = task(problem, "batch = { mode = \"resample\" }");
        let net = NetworkSpec::new(vec![t.problem.embedded_dim(), 7, 7, 1])
            .build(3)
            .unwrap();
        let big_cfg = PdeConfig {
            n_interior: 200_000,
            n_boundary: 40_000,
            ..t.cfg.clone()
        };
        let big = PdeTask::new(t.problem.clone(), big_cfg, 11).unwrap();
        let want = pinn_loss(&net, &big.data, 0.7, 3.0).total;
        let mut b = PinnBatches::new(&t, 10, 9).unwrap().unwrap();
        let steps = 4000u64;
        let losses: Vec<f64> = (0..steps)
            .map(|s| {
                b.set_step(s);
                b.value(&net)
            })
            .collect();
        let mean = losses.iter().sum::<f64>() / steps as f64;
        let var = losses.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (steps - 1) as f64;
        let se = (var / steps as f64).sqrt();
        assert!(
            (mean - want).abs() <= 4.0 * se + 1e-3 * want,
            "{problem}: {mean} vs {want} (standard error {se})"
        );
        // Fresh points at every step, the same for the same step.
        let x0 = b.batch(0).unwrap().x_int;
        assert_eq!(x0, b.batch(0).unwrap().x_int);
        assert_ne!(x0, b.batch(1).unwrap().x_int);
        assert_ne!(x0, t.data.x_int.as_ref().subcols(0, 10).to_owned());
    }
}

/// poisson1d with batches of 32 of 400 points: Adam lowers the full PDE
/// loss (measured on every point) by more than 10x in 1500 steps.
#[test]
fn mini_batch_adam_lowers_the_poisson_loss() {
    for mode in [&[][..], &[RESAMPLE]] {
        let mut sets = vec![
            "method=ls-adam",
            "network.depth=3",
            "network.width=16",
            "pde.problem=poisson1d",
            "pde.n_interior=400",
            "pde.n_test=21",
            "train.max_iterations=1500",
            "train.record_every=1500",
            "train.batch_size=32",
            "adam.lr=0.005",
        ];
        sets.extend(mode);
        let f = fit_pde(&checked("", &sets), &mut NoObserver).unwrap();
        let loss = |i: usize| f.history[i].values[0];
        let (first, last) = (loss(0), loss(f.history.len() - 1));
        assert!(
            last < 0.1 * first && f.summary.rel_l2.unwrap() < 0.2,
            "{mode:?}: pinn_loss {first} -> {last}, rel L2 {:?}",
            f.summary.rel_l2
        );
    }
}

#[test]
fn impossible_batch_settings_are_refused_by_name() {
    let base = ["method=ls-adam", "pde.problem=poisson2d"];
    let with = |extra: &[&str]| -> String {
        let mut s = base.to_vec();
        s.extend(extra);
        refused("", &s)
    };
    let e = with(&["pde.batch={mode=\"resample\"}"]);
    assert!(
        e.contains("pde.batch") && e.contains("train.batch_size"),
        "{e}"
    );
    let e = with(&["train.batch_size=8", "pde.batch={mode=\"stream\"}"]);
    assert!(e.contains("stream") && e.contains("resample"), "{e}");
    let e = with(&["train.batch_size=8", "pde.batch={size=3}"]);
    assert!(e.contains("size"), "{e}");
    let e = with(&["train.batch_size=8", RESAMPLE, "pde.sampling=\"grid\""]);
    assert!(e.contains("pde.batch.mode") && e.contains("grid"), "{e}");
    let e = with(&[
        "train.batch_size=8",
        RESAMPLE,
        "pde.refine={rounds=1, add=4, candidates=40}",
    ]);
    assert!(e.contains("pde.batch.mode") && e.contains("refine"), "{e}");
    for m in ["sapm", "ls-lbfgs", "lm"] {
        let e = refused(
            "",
            &[
                &format!("method={m}"),
                "pde.problem=poisson2d",
                "train.batch_size=8",
            ],
        );
        assert!(
            e.contains("train.batch_size") && e.contains("ls-adam"),
            "{m}: {e}"
        );
    }
    // Subset batches compose with refinement and time marching.
    checked(
        "",
        &[
            "method=ls-adam",
            "pde.problem=poisson2d",
            "train.batch_size=8",
            "pde.refine={rounds=1, add=4, candidates=40}",
        ],
    );
}
