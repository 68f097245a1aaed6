//! Tests of the engine against the straightforward `J` of `loss.rs`, on
//! regression and on the row sets of a first-order PINN.

mod armijo;
mod consistency_rows;
mod direction;
mod distributed;
mod flops;
mod init_and_probes;
mod loss_formulas;
mod pinn_rows;
mod second_rows;
mod state;
mod weight_step;

use super::loss::{SetAux, Weighting, forward_channel_aux, rows_objective};
use super::passes::Accumulate;
use super::{AuxInit, AuxOrder, OmegaMode, PenaltyConfig, PenaltyTrainer, RowSet, SweepOrder};
use crate::checkpoint::{StateReader, StateWriter};
use crate::linalg::{Regularization, SolveMethod};
use crate::net::{Activation, Network, NetworkSpec};
use crate::optim::Trainer;
use crate::task::pde::loss::pinn_loss;
use crate::task::pde::{PdeConfig, PdeTask, Problem};
use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What three SAPM steps on `sets` with `threads` worker threads leave: the
/// weights, the bits of `J` and every auxiliary (equal on any thread count).
pub(super) type ThreeSteps = (Vec<f64>, u64, Vec<Vec<Vec<Mat<f64>>>>);

pub(super) fn three_steps(threads: usize, net0: &Network, sets: Vec<RowSet<'_>>) -> ThreeSteps {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| {
            let mut net = net0.clone();
            let mut t = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets, 0);
            t.start(&net).unwrap();
            for _ in 0..3 {
                t.step(&mut net).unwrap();
            }
            (
                net.params(),
                t.aux_loss().unwrap().to_bits(),
                t.channel_aux().unwrap(),
            )
        })
}

/// Block optimality of layer `l`'s weight step: no random perturbation of
/// `W~_l` (size 1e-4, `trials` of them, seeded by `l`) lowers `j` below its
/// value `after` at `net`.
pub(super) fn assert_block_minimum(
    net: &Network,
    l: usize,
    trials: usize,
    after: f64,
    what: &str,
    j: impl Fn(&Network) -> f64,
) {
    let p0 = net.layer(l).to_owned();
    let mut rng = ChaCha8Rng::seed_from_u64(l as u64);
    for _ in 0..trials {
        let mut n2 = net.clone();
        let d = Mat::from_fn(p0.nrows(), p0.ncols(), |_, _| {
            1e-4 * rng.random_range(-1.0..1.0)
        });
        n2.layer_mut(l).copy_from(&(&p0 + &d));
        let jv = j(&n2);
        assert!(
            jv >= after * (1.0 - 1e-10),
            "{what} layer {l}: {jv} < {after}"
        );
    }
}

pub(super) fn pinn(seed: u64) -> (Network, PdeTask, PdeConfig) {
    let cfg = PdeConfig {
        n_interior: 31,
        n_boundary: 11,
        alpha: 0.8,
        beta_bc: 2.0,
        omega_floor: 0.5,
        omega_deriv: 1.0,
        ..PdeConfig::default()
    };
    let task = PdeTask::new(Problem::transport1d(2.0), cfg.clone(), seed).unwrap();
    let net = NetworkSpec::new(vec![3, 5, 4, 3, 1]).build(seed).unwrap();
    (net, task, cfg)
}

pub(super) fn perturb(aux: &mut SetAux, seed: u64, s: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for m in aux.iter_mut().flatten().flatten() {
        for j in 0..m.ncols() {
            for i in 0..m.nrows() {
                m[(i, j)] += s * rng.random_range(-1.0..1.0);
            }
        }
    }
}

/// Five SAPM/PM steps of a trainer started on `sets` with weighting `w`:
/// within each (Omega^2 fixed at its start, `omega(sets, aux)`) `J` does
/// not increase, and after them it is below its start. Returns the trainer.
pub(super) fn assert_steps_lower_j<'a>(
    net: &mut Network,
    sets: Vec<RowSet<'a>>,
    w: Weighting,
    label: &str,
    omega: impl Fn(&[RowSet<'_>], &SetAux) -> Vec<Vec<Vec<f64>>>,
) -> PenaltyTrainer<'a> {
    let mut t = PenaltyTrainer::with_sets(small_blocks(), w, sets, 0);
    t.start(net).unwrap();
    let sets = t.sets().to_vec();
    let j0 = t.aux_loss().unwrap();
    let mut last = j0;
    for _ in 0..5 {
        let aux = t.channel_aux().unwrap();
        let before = rows_objective(net, &sets, &aux, w, &omega(&sets, &aux));
        let out = t.step(net).unwrap();
        assert!(
            out.objective <= before * (1.0 + 1e-10),
            "{label} {w:?}: {} > {before}",
            out.objective
        );
        last = out.objective;
    }
    assert!(last < j0, "{label} {w:?}: {last} !< {j0}");
    t
}

pub(super) fn small_blocks() -> PenaltyConfig {
    // Several blocks per set, so block folds and slab offsets are exercised.
    PenaltyConfig {
        block: 8,
        ..PenaltyConfig::default()
    }
}

/// A trainer on `sets` started at `net`, with its auxiliaries perturbed by
/// [`perturb`] (`seed`, `s`); returns it and those auxiliaries.
pub(super) fn perturbed_trainer<'a>(
    cfg: PenaltyConfig,
    w: Weighting,
    sets: Vec<RowSet<'a>>,
    net: &Network,
    seed: u64,
    s: f64,
) -> (PenaltyTrainer<'a>, SetAux) {
    let mut t = PenaltyTrainer::with_sets(cfg, w, sets, 0);
    t.start(net).unwrap();
    let mut aux = t.channel_aux().unwrap();
    perturb(&mut aux, seed, s);
    t.set_channel_aux(net, &aux).unwrap();
    (t, aux)
}

/// `Omega^2` of every set as the trainer holds them.
pub(super) fn omega2(t: &PenaltyTrainer<'_>) -> Vec<Vec<Vec<f64>>> {
    (0..t.sets().len())
        .map(|s| t.omega_rows(s).unwrap())
        .collect()
}

/// Old PINN code's rule: `floor + deriv sum_{j >= l} |d_j|^2` per point.
pub(super) fn omega_reference(aux: &SetAux, s: usize, floor: f64, deriv: f64) -> Vec<Vec<f64>> {
    let d = &aux[s][1];
    let n = d[0].ncols();
    let mut acc = vec![0.0; n];
    let mut out = vec![Vec::new(); d.len()];
    for l in (0..d.len()).rev() {
        for (j, a) in acc.iter_mut().enumerate() {
            *a += d[l].col(j).squared_norm_l2();
        }
        out[l] = acc.iter().map(|a| floor + deriv * a).collect();
    }
    out
}

/// `trial_objective` over several layer ranges equals `J` of the auxiliaries
/// moved by the returned direction (SAPM, `step` 0.37).
pub(super) fn assert_trial_objective_is_moved_j(
    t: &mut PenaltyTrainer<'_>,
    net: &Network,
    aux: &SetAux,
    label: &str,
) {
    let sets = t.sets().to_vec();
    let o2 = omega2(t);
    // The last case leaves layer 1 in place inside the moved range.
    let all = [true; 3];
    let cases = [
        ((0, 0), all),
        ((1, 1), all),
        ((2, 2), all),
        ((1, 2), all),
        ((0, 2), all),
        ((0, 2), [true, false, true]),
    ];
    for (range, mask) in cases {
        let step = 0.37;
        let (j, d) = t.trial_objective_masked(net, range, &mask, step);
        let mut moved = aux.clone();
        for (ms, ds) in moved.iter_mut().zip(&d) {
            for (mc, dc) in ms.iter_mut().zip(ds) {
                for (m, dl) in mc.iter_mut().zip(dc) {
                    *m -= dl * faer::Scale(step);
                }
            }
        }
        let want = rows_objective(net, &sets, &moved, Weighting::SelfAdaptive, &o2);
        assert!(
            (j - want).abs() <= 1e-12 * want,
            "{label} range {range:?} {mask:?}: trial J {j} vs {want}"
        );
    }
}

/// Central differences of `f` at three entries of every auxiliary block
/// against the analytic gradient `g`; returns the `(set, channel)` of every
/// entry checked.
pub(super) fn assert_aux_gradient_by_fd(
    aux: &SetAux,
    g: &SetAux,
    f: impl Fn(&SetAux) -> f64,
    j0: f64,
    label: &str,
) -> Vec<(usize, usize)> {
    let h = 1e-6;
    let mut checked = Vec::new();
    for s in 0..aux.len() {
        for c in 0..aux[s].len() {
            for l in 0..aux[s][c].len() {
                let (rows, cols) = (aux[s][c][l].nrows(), aux[s][c][l].ncols());
                for (i, j) in [(0, 0), (rows - 1, cols / 2), (rows / 2, cols - 1)] {
                    let mut ap = aux.clone();
                    ap[s][c][l][(i, j)] += h;
                    let fp = f(&ap);
                    ap[s][c][l][(i, j)] -= 2.0 * h;
                    let fd = (fp - f(&ap)) / (2.0 * h);
                    let an = g[s][c][l][(i, j)];
                    assert!(
                        (fd - an).abs() <= 1e-6 * (1.0 + an.abs()) * j0.max(1.0),
                        "{label} set {s} channel {c} layer {l} ({i},{j}): fd {fd} vs {an}"
                    );
                    checked.push((s, c));
                }
            }
        }
    }
    checked
}
