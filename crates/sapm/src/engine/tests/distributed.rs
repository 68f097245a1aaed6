//! The engine on several processes (threads standing in for them), each
//! holding a contiguous shard of every set's points: the iterates are those
//! of one process, to round-off.

use super::*;
use crate::engine::{Channel, Readout};
use crate::fit::distributed_harness::{on_threads, rel};

/// Shard `rank` of `k` of `set`: its points `rank N / k .. (rank + 1) N / k`.
fn shard<'a>(set: &RowSet<'a>, rank: usize, k: usize) -> RowSet<'a> {
    let n = set.n();
    let (a, b) = (rank * n / k, (rank + 1) * n / k);
    let cols = |m: faer::MatRef<'a, f64>| m.subcols(a, b - a);
    RowSet {
        name: set.name,
        x: cols(set.x),
        dirs: set.dirs.iter().map(|&v| cols(v)).collect(),
        pairs: set.pairs.clone(),
        readout: Readout {
            terms: set.readout.terms.clone(),
            scales: set.readout.scales.iter().map(|s| s.map(cols)).collect(),
            target: cols(set.readout.target),
        },
        weight: set.weight,
        omega_rows: set.omega_rows,
    }
}

/// Two processes give the weights of one (Cholesky weight steps, the path
/// of every multi-process run), with Jacobi and Gauss-Seidel auxiliary
/// steps (the latter reduces residual sums of layer ranges not starting at
/// 0), on PINN rows with a value term whose coefficient varies from point
/// to point and peaks in the second shard (the curvature bound of the auxiliary step uses
/// the largest over every process). The tolerance is ten times the change
/// one process sees from another block size (another summation order).
#[test]
fn two_processes_give_the_weights_of_one() {
    let (net0, data, _) = pinn(29);
    let base = data.row_sets();
    // A value term `r(x) u` on every set (per-point factor 0.5 .. 2, largest
    // at the last point), next to the derivative terms of the PDE rows.
    let ramps: Vec<Mat<f64>> = base
        .iter()
        .map(|s| Mat::from_fn(1, s.n(), |_, j| 0.5 + 1.5 * j as f64 / (s.n() - 1) as f64))
        .collect();
    let sets: Vec<RowSet<'_>> = base
        .iter()
        .zip(&ramps)
        .map(|(s, ramp)| {
            let mut s = s.clone();
            let terms = s.readout.terms.len();
            let mut scales: Vec<_> = (0..terms)
                .map(|t| s.readout.scales.get(t).copied().flatten())
                .collect();
            match s.readout.terms.iter().position(|t| t.0 == Channel::Value) {
                Some(t) => scales[t] = Some(ramp.as_ref()),
                None => {
                    s.readout.terms.push((Channel::Value, 1.0));
                    scales.push(Some(ramp.as_ref()));
                }
            }
            s.readout.scales = scales;
            s
        })
        .collect();
    // Sets with derivative channels scale their last hidden layer's step by
    // the largest value coefficient, which only the second shard holds.
    assert!(
        sets.iter()
            .any(|s| !s.dirs.is_empty() && s.readout.coef_max(Channel::Value) > 0.0)
    );
    for aux_order in [AuxOrder::Jacobi, AuxOrder::GaussSeidel] {
        let run = |k: usize, block: usize| {
            on_threads(k, |rank, r| {
                let cfg = PenaltyConfig {
                    solver: SolveMethod::Cholesky,
                    aux_order,
                    block,
                    ..PenaltyConfig::default()
                };
                let mine = sets.iter().map(|s| shard(s, rank, k)).collect();
                let mut t = PenaltyTrainer::with_sets(cfg, Weighting::SelfAdaptive, mine, 0)
                    .with_reducer(r);
                let mut net = net0.clone();
                t.start(&net).unwrap();
                for _ in 0..3 {
                    t.step(&mut net).unwrap();
                }
                net.params()
            })
        };
        let one = run(1, 8);
        let tol = 10.0 * rel(&run(1, 16)[0], &one[0]).max(1e-13);
        let two = run(2, 8);
        assert_eq!(two[0], two[1], "{aux_order:?}: the processes disagree");
        let e = rel(&two[0], &one[0]);
        assert!(e <= tol, "{aux_order:?}: 2 processes vs 1: {e:e} > {tol:e}");
    }
}
