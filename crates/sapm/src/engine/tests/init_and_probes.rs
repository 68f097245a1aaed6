//! Random auxiliary initialisation (its documented draw order) and the
//! history probes of the engine.

use super::*;

/// `aux_init = "random"` draws every auxiliary from `U(-1, 1)` of the
/// stream seeded with `seed ^ 0xA0C5`, in the order set, layer, channel,
/// point, unit, whatever the block partition: the reference below draws the
/// same stream in that order and must match bit for bit.
#[test]
fn random_auxiliaries_follow_the_documented_draw_order() {
    let (net, data, _) = pinn(4);
    for block in [8, 5, 1000] {
        let cfg = PenaltyConfig {
            aux_init: AuxInit::Random,
            block,
            ..PenaltyConfig::default()
        };
        let seed = 77;
        let mut t = PenaltyTrainer::with_sets(cfg, Weighting::SelfAdaptive, data.row_sets(), seed);
        t.start(&net).unwrap();
        let got = t.channel_aux().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xA0C5);
        let depth = net.depth();
        let mut draws = 0;
        for (s, set) in t.sets().iter().enumerate() {
            for l in 0..depth - 1 {
                for c in 0..set.channels() {
                    let a = &got[s][c][l];
                    assert_eq!(a.nrows(), net.widths()[l + 1]);
                    for j in 0..set.n() {
                        for i in 0..a.nrows() {
                            let want: f64 = rng.random_range(-1.0..1.0);
                            assert_eq!(
                                a[(i, j)].to_bits(),
                                want.to_bits(),
                                "block {block}: set {s} layer {l} channel {c} point {j} unit {i}"
                            );
                            draws += 1;
                        }
                    }
                }
            }
        }
        // Two sets, one with a derivative channel: the order is not trivial.
        assert!(t.sets().len() == 2 && t.sets()[0].channels() > 1, "{draws}");
    }
}

/// Regression has no probes (no history column, no values); PINN rows have
/// one, the derivative gap, whose value is the trainer's `derivative_gap`.
#[test]
fn probes_are_the_derivative_gap_only_with_derivative_channels() {
    let net = NetworkSpec::new(vec![2, 5, 1]).build(1).unwrap();
    let x = Mat::from_fn(2, 9, |i, j| (i + j) as f64 / 9.0);
    let y = Mat::from_fn(1, 9, |_, j| (j as f64).cos());
    let mut t = PenaltyTrainer::new(
        PenaltyConfig::default(),
        Weighting::SelfAdaptive,
        x.as_ref(),
        y.as_ref(),
        0,
    );
    t.start(&net).unwrap();
    assert!(t.probe_names().is_empty());
    assert!(t.probes(&net).is_empty());
    // No derivative channel, no gap (not a NaN one).
    assert!(t.derivative_gaps(&net).is_none());
    assert!(t.derivative_gap(&net).is_none());

    let (net, data, _) = pinn(6);
    let mut t =
        PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, data.row_sets(), 0);
    t.start(&net).unwrap();
    assert_eq!(t.probe_names(), vec!["derivative_gap".to_string()]);
    let gap = t.derivative_gap(&net).unwrap();
    assert!(gap.is_finite());
    assert_eq!(t.probes(&net), vec![gap]);
}

/// The held per-point memory that `sapm bench --memory` reports is `A` and
/// `D`, `16 H` bytes per point, and the model that sizes runs before they
/// allocate (`perf::penalty_bytes_per_sample`, `H` padded to 8 rows) is at
/// most one padding above it, never below.
#[test]
fn held_memory_per_point_is_the_sizing_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for widths in [vec![2, 5, 4, 3, 1], vec![1, 8, 8, 1], vec![3, 20, 2]] {
        let n = 50;
        let x = Mat::from_fn(widths[0], n, |_, _| rng.random_range(-1.0..1.0));
        let y = Mat::from_fn(widths[widths.len() - 1], n, |_, _| {
            rng.random_range(-1.0..1.0)
        });
        let net = NetworkSpec::new(widths.clone()).build(1).unwrap();
        let sets = vec![RowSet::regression(x.as_ref(), y.as_ref())];
        let mut t = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets, 0);
        t.start(&net).unwrap();
        let m = t.memory().unwrap();
        assert_eq!(m.samples, n);
        let h: usize = widths[1..widths.len() - 1].iter().sum();
        assert_eq!(m.per_sample(), 16.0 * h as f64, "{widths:?}: {m:?}");
        let model = crate::perf::penalty_bytes_per_sample(&widths);
        assert!(
            model >= m.per_sample() && model < m.per_sample() + 16.0 * 8.0,
            "{widths:?}: model {model} vs {m:?}"
        );
        assert_eq!(m.total(), m.aux + m.direction + m.workspace);
    }
}

/// The reported workspace holds the passes' per-thread block scratch: from
/// blocks of 8 to blocks of 256 points it grows by at least one thread's
/// current and next layer inputs (`k_max` rows, bias row included) and a
/// residual block (`m_max` rows), 8 bytes an entry, and by no more than a
/// few such blocks per thread; nothing else in it depends on the block
/// length (Gram accumulation, no `Omega` rows).
#[test]
fn workspace_holds_the_block_scratch_of_the_passes() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let widths = vec![3, 12, 7, 2];
    let n = 512;
    let x = Mat::from_fn(3, n, |_, _| rng.random_range(-1.0..1.0));
    let y = Mat::from_fn(2, n, |_, _| rng.random_range(-1.0..1.0));
    let net = NetworkSpec::new(widths.clone()).build(1).unwrap();
    let workspace = |block: usize| {
        let cfg = PenaltyConfig {
            block,
            solver: SolveMethod::Cholesky,
            ..PenaltyConfig::default()
        };
        let sets = vec![RowSet::regression(x.as_ref(), y.as_ref())];
        let mut t = PenaltyTrainer::with_sets(cfg, Weighting::SelfAdaptive, sets, 0);
        t.start(&net).unwrap();
        t.memory().unwrap().workspace
    };
    let (kmax, mmax) = (12 + 1, 12);
    let grown = workspace(256) as f64 - workspace(8) as f64;
    let least = 8.0 * (256.0 - 8.0) * (2 * kmax + mmax) as f64;
    assert!(grown >= least, "grew by {grown} bytes, < {least}");
    // And it is a sum of buffers, not more: at most `8 (k_max + m_max)`
    // values a point per thread, one thread spare (measured: ~145 on 1, 2
    // and 4 threads, here 200).
    let most =
        8.0 * (256.0 - 8.0) * (8 * (kmax + mmax) * (rayon::current_num_threads() + 1)) as f64;
    assert!(grown <= most, "grew by {grown} bytes, > {most}");
}

/// A network constant in its inputs has zero input derivatives, so the gap
/// of nonzero derivative auxiliaries relative to them is undefined: NaN,
/// not an infinite gap (nor the zero gap of exact auxiliaries).
#[test]
fn a_gap_relative_to_zero_derivatives_is_nan() {
    let (mut net, data, _) = pinn(8);
    let k0 = net.widths()[0];
    for i in 0..net.layer(0).nrows() {
        for j in 0..k0 {
            net.layer_mut(0)[(i, j)] = 0.0;
        }
    }
    let sets = data.row_sets();
    let mut exact = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets, 0);
    exact.start(&net).unwrap();
    assert!(exact.derivative_gap(&net).unwrap().is_nan());
    let (mut t, _) = perturbed_trainer(
        small_blocks(),
        Weighting::SelfAdaptive,
        data.row_sets(),
        &net,
        3,
        0.2,
    );
    let g = t.derivative_gaps(&net).unwrap();
    assert!(g.all.is_nan() && g.first.is_nan(), "{g:?}");
}

/// Exactly: on `T` worker threads the reported workspace changes from
/// blocks of 8 to blocks of 256 points by `T` times the growth of one
/// thread's block scratch (the current and next layer inputs, residuals,
/// trial residuals, the combined and weighted designs, the per-point sums
/// and, for TSQR, the stacked rows and the QR workspaces of each distinct
/// shape) plus the wave slots (one per block in flight, at most
/// `DATA_WAVE`: per layer a Gram matrix and right-hand side, or a TSQR
/// factor, and three sums).
#[test]
fn workspace_is_every_thread_s_block_scratch_exactly() {
    use crate::linalg::{QrWs, mat_bytes};
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let widths = vec![3, 12, 7, 2];
    let depth = widths.len() - 1;
    let n = 512;
    let x = Mat::from_fn(3, n, |_, _| rng.random_range(-1.0..1.0));
    let y = Mat::from_fn(2, n, |_, _| rng.random_range(-1.0..1.0));
    let net = NetworkSpec::new(widths.clone()).build(1).unwrap();
    let (kmax, mmax) = (12 + 1, 12);
    let buf = |r: usize, c: usize| mat_bytes(&Mat::<f64>::zeros(r, c));
    // One thread's scratch with blocks of `nb` points (one channel).
    let scratch = |nb: usize, tsqr: bool| {
        let mut b = 4 * buf(kmax, nb) + 5 * buf(mmax, nb) + 8 * nb;
        if tsqr {
            b += buf(nb, kmax + mmax);
            let mut shapes: Vec<_> = (0..depth)
                .map(|l| (nb, widths[l] + 1 + widths[l + 1]))
                .collect();
            shapes.sort_unstable();
            shapes.dedup();
            b += shapes
                .iter()
                .map(|&(r, c)| QrWs::new(r, c).bytes())
                .sum::<usize>();
        }
        b
    };
    let slot = |tsqr: bool| {
        (0..depth)
            .map(|l| {
                let (k, m) = (widths[l] + 1, widths[l + 1]);
                if tsqr {
                    buf(k + m, k + m)
                } else {
                    buf(k, k) + buf(k, m)
                }
            })
            .sum::<usize>()
            + 24 * depth
    };
    let held = |nb: usize, tsqr: bool, threads: usize| {
        let wave = crate::engine::DATA_WAVE.min(n.div_ceil(nb));
        (threads * scratch(nb, tsqr) + wave * slot(tsqr)) as i64
    };
    for threads in [1, 2] {
        for solver in [SolveMethod::Cholesky, SolveMethod::Qr] {
            let workspace = |block: usize| {
                let cfg = PenaltyConfig {
                    block,
                    solver,
                    ..PenaltyConfig::default()
                };
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| {
                        let sets = vec![RowSet::regression(x.as_ref(), y.as_ref())];
                        let mut t =
                            PenaltyTrainer::with_sets(cfg, Weighting::SelfAdaptive, sets, 0);
                        t.start(&net).unwrap();
                        t.memory().unwrap().workspace
                    })
            };
            let tsqr = solver == SolveMethod::Qr;
            let want = held(256, tsqr, threads) - held(8, tsqr, threads);
            let got = workspace(256) as i64 - workspace(8) as i64;
            assert_eq!(got, want, "{threads} threads, {solver:?}");
        }
    }
}
