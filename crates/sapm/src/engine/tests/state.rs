//! Checkpoint state of the engine and the naming of non-finite values.

use super::*;

fn round_trip(t: &PenaltyTrainer<'_>) -> crate::Result<StateReader> {
    let mut w = StateWriter::new();
    t.save_state(&mut w)?;
    let mut bytes = Vec::new();
    w.write_to(&mut bytes).unwrap();
    StateReader::parse(std::path::Path::new("t.sapm"), &bytes)
}

/// Saved and loaded mid-run (after backtracking shrank the step size), the
/// trainer holds the same state and takes the same next step.
#[test]
fn saved_pinn_state_loads_bit_for_bit() {
    let (net0, data, _) = pinn(13);
    for w in [Weighting::SelfAdaptive, Weighting::Constant(3.0)] {
        let cfg = PenaltyConfig {
            tau: 1e4,
            ..small_blocks()
        };
        let mut net = net0.clone();
        let mut t = PenaltyTrainer::with_sets(cfg, w, data.row_sets(), 0);
        t.start(&net).unwrap();
        for _ in 0..4 {
            t.step(&mut net).unwrap();
        }
        let mut r = round_trip(&t).unwrap();
        let mut u = PenaltyTrainer::with_sets(cfg, w, data.row_sets(), 0);
        u.load_state(&mut r, &net).unwrap();
        assert_eq!(u.channel_aux(), t.channel_aux(), "{w:?}");
        assert_eq!(
            u.aux_loss().unwrap().to_bits(),
            t.aux_loss().unwrap().to_bits()
        );
        assert_eq!(u.stats(), t.stats());
        assert_eq!(u.probes(&net), t.probes(&net));
        // The backtracked step sizes are part of the state: restarting them
        // at `cfg.tau` would cost extra trial passes (and, when a larger step
        // passes the Armijo test, change the iterates).
        let tau = |t: &PenaltyTrainer<'_>| t.st.as_ref().unwrap().tau.clone();
        assert!(
            tau(&t).iter().any(|&s| s < cfg.tau),
            "{w:?}: no backtracking"
        );
        assert_eq!(tau(&u), tau(&t), "{w:?}");
        let trials = |t: &PenaltyTrainer<'_>| t.flops().unwrap().trial_passes;
        let (ta, ua) = (trials(&t), trials(&u));
        let mut net_u = net.clone();
        let (a, b) = (t.step(&mut net).unwrap(), u.step(&mut net_u).unwrap());
        assert_eq!(trials(&t) - ta, trials(&u) - ua, "{w:?}: trial passes");
        assert_eq!(a.objective.to_bits(), b.objective.to_bits(), "{w:?}");
        assert_eq!(net.params(), net_u.params(), "{w:?}");
        assert_eq!(u.channel_aux(), t.channel_aux(), "{w:?}");
    }
}

/// A non-finite auxiliary, a different method or network are refused,
/// naming the entry or field.
#[test]
fn bad_saved_state_is_refused_by_name() {
    let (net, data, _) = pinn(2);
    let sets = || data.row_sets();
    let mut t = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets(), 0);
    t.start(&net).unwrap();
    let mut aux = t.channel_aux().unwrap();
    aux[0][1][1][(2, 3)] = f64::NAN;
    t.set_channel_aux(&net, &aux).unwrap();
    assert_eq!(
        t.non_finite_state().as_deref(),
        Some("auxiliary d_2 (layer 2) became NaN (interior point 3)")
    );
    let mut r = round_trip(&t).unwrap();
    let e = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets(), 0)
        .load_state(&mut r, &net)
        .unwrap_err()
        .to_string();
    assert!(e.contains("entry `a`") && e.contains("not finite"), "{e}");

    let mut t = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets(), 0);
    t.start(&net).unwrap();
    let mut r = round_trip(&t).unwrap();
    let e = PenaltyTrainer::with_sets(small_blocks(), Weighting::Constant(1.0), sets(), 0)
        .load_state(&mut r, &net)
        .unwrap_err()
        .to_string();
    assert!(e.contains("method"), "{e}");
    let mut r = round_trip(&t).unwrap();
    let small = NetworkSpec::new(vec![3, 5, 1]).build(0).unwrap();
    let e = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets(), 0)
        .load_state(&mut r, &small)
        .unwrap_err()
        .to_string();
    assert!(e.contains("entry `a`"), "{e}");
    let mut w = StateWriter::new();
    let fresh = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets(), 0);
    assert!(fresh.save_state(&mut w).is_err());
}

/// A NaN auxiliary is reported with its layer and sample.
#[test]
fn non_finite_auxiliaries_name_layer_and_sample() {
    let net = NetworkSpec::new(vec![1, 4, 3, 1]).build(0).unwrap();
    let x = Mat::from_fn(1, 9, |_, j| j as f64 / 9.0);
    let y = Mat::from_fn(1, 9, |_, j| (j as f64).sin());
    let cfg = PenaltyConfig {
        block: 4,
        ..Default::default()
    };
    let mut t = PenaltyTrainer::new(cfg, Weighting::SelfAdaptive, x.as_ref(), y.as_ref(), 0);
    t.start(&net).unwrap();
    assert_eq!(t.non_finite_state(), None);
    let mut aux = t.aux().unwrap();
    aux.a[1][(2, 7)] = f64::NAN;
    t.set_aux(&net, &aux).unwrap();
    assert_eq!(
        t.non_finite_state().as_deref(),
        Some("auxiliary a_2 (layer 2) became NaN (sample 7)")
    );
}

/// A network without a hidden layer has no auxiliaries: `start` refuses it
/// with a configuration error that says so, and takes one hidden layer.
#[test]
fn a_network_without_hidden_layer_is_refused() {
    let x = Mat::from_fn(2, 6, |i, j| (i + j) as f64 * 0.1);
    let y = Mat::from_fn(1, 6, |_, j| j as f64 * 0.2);
    for (widths, ok) in [(vec![2, 1], false), (vec![2, 3, 1], true)] {
        let net = NetworkSpec::new(widths.clone()).build(1).unwrap();
        let sets = vec![RowSet::regression(x.as_ref(), y.as_ref())];
        let mut t = PenaltyTrainer::with_sets(small_blocks(), Weighting::SelfAdaptive, sets, 0);
        match t.start(&net) {
            Ok(()) => assert!(ok, "{widths:?} accepted"),
            Err(e) => {
                assert!(!ok, "{widths:?}: {e}");
                assert!(e.to_string().contains("hidden layer"), "{e}");
            }
        }
        assert_eq!(PenaltyTrainer::check_network(&net).is_ok(), ok);
    }
}
