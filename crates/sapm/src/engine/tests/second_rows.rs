//! The engine on the row sets of second-order PDEs (second-derivative
//! channels, per-point readout coefficients): `J` against the PINN loss,
//! `Omega`, the auxiliary gradient against central differences, trial
//! points, monotone iterations and thread-count independence.

use super::*;

/// Every second-order built-in on a small sample, with a tanh net.
fn second_cases(seed: u64) -> Vec<(Network, PdeTask)> {
    let cfg = PdeConfig {
        n_interior: 23,
        n_boundary: 9,
        alpha: 0.7,
        beta_bc: 3.0,
        omega_floor: 0.5,
        omega_deriv: 1.0,
        ..PdeConfig::default()
    };
    let problems = [
        Problem::poisson1d(),
        Problem::poisson2d(),
        Problem::poisson2d_mixed(),
        Problem::heat1d(),
        Problem::helmholtz2d(2.0),
        Problem::convdiff1d(0.1),
    ];
    problems
        .into_iter()
        .map(|p| {
            let d = p.dim();
            let task = PdeTask::new(p, cfg.clone(), seed).unwrap();
            let net = NetworkSpec::new(vec![d, 5, 4, 3, 1]).build(seed).unwrap();
            (net, task)
        })
        .collect()
}

/// `Omega^2_{l,n} = floor + deriv sum_{j >= l} (sum_k |d_{j,k}|^2 + sum_km
/// (|d_{j,k}| |d_{j,m}| + |e_{j,km}|)^2)` of set `s`, written out.
pub(super) fn omega_reference2(
    aux: &SetAux,
    set: &RowSet<'_>,
    s: usize,
    (floor, deriv): (f64, f64),
) -> Vec<Vec<f64>> {
    let a = &aux[s];
    let nd = set.dirs.len();
    let (hidden, n) = (a[0].len(), a[0][0].ncols());
    let mut acc = vec![0.0; n];
    let mut out = vec![Vec::new(); hidden];
    for l in (0..hidden).rev() {
        for (j, v) in acc.iter_mut().enumerate() {
            for c in 1..=nd {
                *v += a[c][l].col(j).squared_norm_l2();
            }
            for (t, &(k, m)) in set.pairs.iter().enumerate() {
                for i in 0..a[0][l].nrows() {
                    let h = (a[1 + k][l][(i, j)] * a[1 + m][l][(i, j)]).abs()
                        + a[1 + nd + t][l][(i, j)].abs();
                    *v += h * h;
                }
            }
        }
        out[l] = acc.iter().map(|v| floor + deriv * v).collect();
    }
    out
}

fn omega_all(task: &PdeTask, sets: &[RowSet<'_>], aux: &SetAux) -> Vec<Vec<Vec<f64>>> {
    let w = (task.cfg.omega_floor, task.cfg.omega_deriv);
    sets.iter()
        .enumerate()
        .map(|(s, set)| match set.omega_rows {
            Some(_) => omega_reference2(aux, set, s, w),
            None => Vec::new(),
        })
        .collect()
}

#[test]
fn j_is_the_second_order_pinn_loss_at_exact_auxiliaries() {
    for (net, task) in second_cases(3) {
        let name = task.problem.name.clone();
        let want = pinn_loss(&net, &task.data, task.cfg.alpha, task.cfg.beta_bc).total;
        let sets = task.row_sets();
        assert!(
            !sets[0].pairs.is_empty(),
            "{name}: no second-derivative channel"
        );
        let aux = forward_channel_aux(&net, &sets);
        for w in [Weighting::SelfAdaptive, Weighting::Constant(5.0)] {
            let j = rows_objective(&net, &sets, &aux, w, &omega_all(&task, &sets, &aux));
            assert!((j - want).abs() <= 1e-12 * want, "{name}: {j} vs {want}");
            let mut t = PenaltyTrainer::with_sets(small_blocks(), w, sets.clone(), 0);
            t.start(&net).unwrap();
            let got = t.aux_loss().unwrap();
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "{name}: engine {got} vs {want}"
            );
            // The forward start is the exact second derivatives.
            assert!(t.derivative_gap(&net).unwrap() <= 1e-14, "{name}: gap");
        }
    }
}

#[test]
fn engine_j_omega_and_gradient_match_the_reference_on_second_order_rows() {
    for (net, task) in second_cases(5) {
        let name = task.problem.name.clone();
        for w in [Weighting::SelfAdaptive, Weighting::Constant(3.0)] {
            let (mut t, aux) = perturbed_trainer(small_blocks(), w, task.row_sets(), &net, 1, 0.3);
            let sets = t.sets().to_vec();
            let o2 = omega2(&t);
            let want = omega_all(&task, &sets, &aux);
            for (a, b) in o2
                .iter()
                .flatten()
                .flatten()
                .zip(want.iter().flatten().flatten())
            {
                assert!((a - b).abs() <= 1e-13 * b, "{name}: Omega {a} vs {b}");
            }
            let f = |a: &SetAux| rows_objective(&net, &sets, a, w, &o2);
            let j0 = f(&aux);
            let got = t.aux_loss().unwrap();
            assert!(
                (got - j0).abs() <= 1e-12 * j0,
                "{name} {w:?}: {got} vs {j0}"
            );
            let g = t.raw_gradient(&net);
            let checked = assert_aux_gradient_by_fd(&aux, &g, f, j0, &format!("{name} {w:?}"));
            let second = checked
                .iter()
                .filter(|&&(s, c)| c > sets[s].dirs.len())
                .count();
            assert!(second > 0, "{name}: no second-derivative auxiliary checked");
        }
    }
}

#[test]
fn trial_points_match_the_reference_on_second_order_rows() {
    for (net, task) in second_cases(19) {
        let name = task.problem.name.clone();
        let (mut t, aux) = perturbed_trainer(
            small_blocks(),
            Weighting::SelfAdaptive,
            task.row_sets(),
            &net,
            22,
            0.2,
        );
        assert_trial_objective_is_moved_j(&mut t, &net, &aux, &name);
    }
}

#[test]
fn weight_steps_are_block_minimisers_on_second_order_rows() {
    for (net0, task) in second_cases(7) {
        let name = task.problem.name.clone();
        let w = Weighting::SelfAdaptive;
        let mut net = net0.clone();
        let (mut t, aux) = perturbed_trainer(small_blocks(), w, task.row_sets(), &net, 2, 0.2);
        let sets = t.sets().to_vec();
        let o2 = omega2(&t);
        for l in (0..net.depth()).rev() {
            t.weight_step_alone(&mut net, l).unwrap();
            let after = rows_objective(&net, &sets, &aux, w, &o2);
            assert_block_minimum(&net, l, 10, after, &name, |n| {
                rows_objective(n, &sets, &aux, w, &o2)
            });
        }
    }
}

#[test]
fn sapm_iterations_do_not_increase_j_on_second_order_rows() {
    for (net0, task) in second_cases(11) {
        let name = task.problem.name.clone();
        for w in [Weighting::SelfAdaptive, Weighting::Constant(1.0)] {
            let mut net = net0.clone();
            let omega = |sets: &[RowSet<'_>], aux: &SetAux| omega_all(&task, sets, aux);
            let mut t = assert_steps_lower_j(&mut net, task.row_sets(), w, &name, omega);
            assert!(t.derivative_gap(&net).unwrap().is_finite());
        }
    }
}

#[test]
fn second_order_rows_give_the_same_bits_on_any_thread_count() {
    let (net0, task) = second_cases(17).swap_remove(2);
    let run = |threads: usize| three_steps(threads, &net0, task.row_sets());
    assert_eq!(run(1), run(2));
}

/// With exact first-derivative auxiliaries and the second-derivative ones
/// of the last hidden layer all off by `delta`, the first-derivative gap is
/// 0 and the second-derivative gap is `delta sqrt(count) / |e|_F`; the
/// combined gap divides by both norms.
#[test]
fn the_derivative_gap_splits_into_first_and_second_derivative_parts() {
    let delta = 0.01;
    for (net, task) in second_cases(7) {
        let name = task.problem.name.clone();
        let sets = task.row_sets();
        let mut t =
            PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets.clone(), 0);
        t.start(&net).unwrap();
        let mut aux = forward_channel_aux(&net, &sets);
        let (mut den1, mut den2, mut count) = (0.0, 0.0, 0.0);
        for (a, set) in aux.iter_mut().zip(&sets) {
            let nd = set.dirs.len();
            for (c, chan) in a.iter_mut().enumerate().skip(1) {
                let last = chan.len() - 1;
                for (l, m) in chan.iter_mut().enumerate() {
                    let sq = m.squared_norm_l2();
                    if c <= nd {
                        den1 += sq;
                        continue;
                    }
                    den2 += sq;
                    if l == last {
                        count += (m.nrows() * m.ncols()) as f64;
                        for j in 0..m.ncols() {
                            for i in 0..m.nrows() {
                                m[(i, j)] += delta;
                            }
                        }
                    }
                }
            }
        }
        assert!(count > 0.0 && den1 > 0.0 && den2 > 0.0, "{name}");
        t.set_channel_aux(&net, &aux).unwrap();
        let g = t.derivative_gaps(&net).unwrap();
        let num = count * delta * delta;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b;
        assert!(g.first <= 1e-14, "{name}: first {}", g.first);
        assert!(
            close(g.second.unwrap(), (num / den2).sqrt()),
            "{name}: second {g:?}"
        );
        assert!(close(g.all, (num / (den1 + den2)).sqrt()), "{name}: {g:?}");
        assert_eq!(
            t.probe_names(),
            [
                "derivative_gap",
                "derivative_gap_first",
                "derivative_gap_second"
            ]
        );
        assert_eq!(t.probes(&net), vec![g.all, g.first, g.second.unwrap()]);
    }
}
