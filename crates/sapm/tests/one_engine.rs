//! Every method runs every problem kind through the one pipeline (task ->
//! trainer factory -> driver -> summary), and every key a method does not
//! read is refused by name.

use faer::Mat;
use sapm::config::{Checked, Method, TrainConfig};
use sapm::data::{Dataset, Split};
use sapm::driver::NoObserver;
use sapm::fit::fit_checkpointed;

#[path = "support/runs.rs"]
mod runs;

use runs::{checked, refused};

/// 1-D regression with two outputs (`sin 2x`, `cos x`).
fn two_outputs() -> Split {
    let make = |n: usize, off: f64| {
        let x = Mat::from_fn(1, n, |_, j| -1.5 + 3.0 * (j as f64 + off) / n as f64);
        let y = Mat::from_fn(2, n, |i, j| {
            let t = x[(0, j)];
            if i == 0 { (2.0 * t).sin() } else { t.cos() }
        });
        Dataset::new(x, y, vec!["x".into()], vec!["a".into(), "b".into()]).unwrap()
    };
    Split {
        train: make(60, 0.25),
        test: make(40, 0.5),
    }
}

fn config(method: Method, problem: &str) -> sapm::Result<Checked> {
    let mut sets = vec![
        format!("method={}", method.name()),
        "network.depth=3".into(),
        "network.width=8".into(),
        "train.max_iterations=12".into(),
        "train.record_every=4".into(),
    ];
    match problem {
        "regression" => sets.extend(["data.n_train=50".into(), "data.n_test=40".into()]),
        "multi-output" => {}
        "pinn-1d" => sets.extend([
            "pde.problem=steady1d".into(),
            "pde.n_interior=40".into(),
            "pde.n_boundary=1".into(),
            "pde.n_test=21".into(),
        ]),
        "pinn-2d" => sets.extend([
            "pde.problem=transport_inflow".into(),
            "pde.n_interior=60".into(),
            "pde.n_boundary=20".into(),
            "pde.n_test=9".into(),
        ]),
        _ => unreachable!(),
    }
    if method == Method::LsAdamLbfgs {
        sets.push("adam_lbfgs.adam_steps=5".into());
    }
    TrainConfig::from_toml_str("", &sets, None)
}

#[test]
fn every_method_runs_every_problem_kind() {
    let multi = two_outputs();
    for problem in ["regression", "multi-output", "pinn-1d", "pinn-2d"] {
        for method in Method::ALL {
            let pinn = problem.starts_with("pinn");
            if pinn && matches!(method, Method::Elm | Method::SapmGn) {
                // Refused when the config is checked, before any training.
                let e = config(method, problem).unwrap_err().to_string();
                assert!(
                    e.contains(method.name()) && e.contains("PDE") && e.contains("`method`"),
                    "{e}"
                );
                continue;
            }
            let cfg = config(method, problem).unwrap();
            let data = (problem == "multi-output").then_some(&multi);
            let res = fit_checkpointed(&cfg, data, &mut NoObserver, None, None);
            let f = res.unwrap_or_else(|e| panic!("{method} on {problem}: {e}"));
            let s = &f.summary;
            let first = f.history.first().unwrap();
            let last = f.history.last().unwrap();
            assert!(s.train_mse.is_finite(), "{method} on {problem}");
            if pinn {
                assert!(s.rel_l2.unwrap().is_finite() && s.pde_loss.is_some());
                // PINN loss (first column) falls.
                assert!(last.values[0] < first.values[0], "{method} on {problem}");
            } else {
                assert_eq!(s.rel_l2, None);
                assert!(last.values[0] < first.values[0], "{method} on {problem}");
            }
            let penalty = matches!(method, Method::Pm | Method::Sapm);
            assert_eq!(
                s.aux_loss.is_some(),
                penalty || method == Method::SapmGn,
                "{method} on {problem}"
            );
            // PM/SAPM with derivative channels report how close they track.
            assert_eq!(
                s.derivative_gap.is_some(),
                penalty && pinn,
                "{method} on {problem}"
            );
            let outputs = if problem == "multi-output" { 2 } else { 1 };
            assert_eq!(f.model.net.output_dim(), outputs);
        }
    }
}

/// For every method, a key it does not read is an error naming the key and
/// the method; so is a key of the other task kind.
#[test]
fn keys_a_method_does_not_read_are_refused_by_name() {
    let cases: [(Method, &str); 13] = [
        (Method::LsGd, "adam.lr=0.01"),
        (Method::LsAdam, "lbfgs.memory=5"),
        (Method::LsLbfgs, "gd.lr=0.1"),
        (Method::LsAdamLbfgs, "elm.ridge=0.1"),
        (Method::Elm, "adam_lbfgs.adam_steps=3"),
        (Method::Pm, "sapm.tau=0.5"),
        (Method::Sapm, "sapm.beta=2.0"),
        (Method::Sapm, "lm.lambda_init=0.1"),
        (Method::Lm, "lm.varpro_ridge=0.1"),
        (Method::Varpro, "adam.lr=0.1"),
        (Method::SapmGn, "lm.solve=dual"),
        (Method::SapmGn, "lm.geodesic=true"),
        (Method::Lm, "sapm_gn.warm_start=3"),
    ];
    for (method, set) in cases {
        let key = set.split('=').next().unwrap();
        let e = TrainConfig::from_toml_str(
            "",
            &[format!("method={}", method.name()), set.to_string()],
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(&format!("`{key}`")) && e.contains("has no effect"),
            "{method}: {e}"
        );
        if key != "sapm.beta" {
            assert!(
                e.contains(&format!("method {}", method.name())),
                "{method}: {e}"
            );
        }
    }
    // Settings of the other task kind or of an unused variant.
    for (sets, key) in [
        (
            &["pde.problem=steady1d", "data.n_train=5"][..],
            "data.n_train",
        ),
        (&["method=ls-adam", "pde.omega_floor=2"], "pde.omega_floor"),
        (&["pde.problem=steady1d", "pde.beta=3"], "pde.beta"),
        (&["pde.problem=transport1d", "pde.c=[\"1\"]"], "pde.c"),
        (
            &["pde.problem=transport1d", "pde.window_local_time=false"],
            "pde.window_local_time",
        ),
        (&["network.hidden=[4]", "network.width=3"], "network.width"),
        (&["network.init_range=2"], "network.init_range"),
        (&["method=sapm", "adam.lr=0.1"], "adam.lr"),
        (&["method=sapm-gn", "adam.lr=0.1"], "adam.lr"),
        (&["method=pm", "pm.omega_mode=frozen"], "pm.omega_mode"),
        (&["method=lm", "lm.ls_steps=3"], "lm.ls_steps"),
        (&["method=lm", "lm.geodesic_h=0.2"], "lm.geodesic_h"),
        (
            &["method=sapm-gn", "sapm_gn.omega_start=0.01"],
            "sapm_gn.omega_start",
        ),
    ] {
        let e = refused("", sets);
        assert!(
            e.contains(&format!("`{key}`")) && e.contains("has no effect"),
            "{key}: {e}"
        );
    }
    // ... and what a method does read is accepted (warm start reads [adam]).
    for sets in [
        &["method=sapm", "sapm.warm_start=3", "adam.lr=0.01"][..],
        &[
            "pde.problem=transport1d",
            "pde.time_windows=2",
            "pde.window_local_time=false",
        ],
        &["network.init=uniform", "network.init_range=2"],
        &[
            "method=varpro",
            "lm.varpro_ridge=0",
            "lm.line_search=true",
            "lm.ls_steps=3",
        ],
        &["method=lm", "lm.geodesic=true", "lm.geodesic_h=0.2"],
        &[
            "method=sapm-gn",
            "sapm_gn.warm_start=3",
            "adam.lr=0.01",
            "lm.lambda_init=0.1",
            "lm.max_trials=5",
            "sapm_gn.omega_start=1e-3",
            "sapm_gn.omega_ramp=20",
        ],
    ] {
        checked("", sets);
    }
}

/// The config checkpoints and summaries store holds only the keys in use,
/// and reads back to the same config.
#[test]
fn the_written_config_holds_the_keys_in_use_and_round_trips() {
    for m in Method::ALL {
        let cfg = config(m, "regression").unwrap();
        let text = cfg.to_toml();
        let back = TrainConfig::from_toml_str(&text, &[], None).unwrap();
        assert_eq!(back, cfg, "{m}");
        // The method sections.
        for name in "gd adam lbfgs adam_lbfgs elm pm sapm lm sapm_gn".split(' ') {
            let used = sapm::config::unused_reason(&cfg, name).is_none();
            let section = format!("[{name}]");
            assert_eq!(text.contains(&section), used, "{m}: {section} in\n{text}");
        }
    }
}
