//! End-to-end PINN runs on tiny budgets.

use sapm::config::{Method, TrainConfig};
use sapm::driver::NoObserver;
use sapm::fit::{fit_pde, fit_with};

#[path = "support/runs.rs"]
mod runs;

use runs::{checked as cfg, refused};

const STEADY: &str =
    "[network]\ndepth = 3\nwidth = 12\n[pde]\nproblem = \"steady1d\"\nn_interior = 64\n";

#[test]
fn sapm_pinn_tracks_derivatives_and_lowers_its_objective() {
    for m in ["sapm", "pm"] {
        let c = cfg(
            STEADY,
            &[
                &format!("method={m}"),
                "train.max_iterations=40",
                "train.record_every=5",
            ],
        );
        let f = fit_pde(&c, &mut NoObserver).unwrap();
        let s = &f.summary;
        assert!(s.aux_loss.unwrap() < f.history[0].objective, "{m}");
        let gap = s.derivative_gap.unwrap();
        assert!(gap <= 1e-3, "{m}: derivative gap {gap}");
        // The history carries the PINN columns.
        assert_eq!(
            f.metric_names,
            [
                "pinn_loss",
                "pde_loss",
                "bc_loss",
                "rel_l2",
                "derivative_gap"
            ]
        );
        assert!(s.rel_l2.unwrap() < f.history[0].values[3], "{m}");
        assert!(s.rel_l2_f32.unwrap().is_finite());
        assert_eq!(f.model.input_names, ["x"]);
    }
}

#[test]
fn gradient_methods_solve_steady1d_and_data_is_ignored() {
    let c = cfg(
        STEADY,
        &[
            "method=ls-adam-lbfgs",
            "train.max_iterations=600",
            "adam_lbfgs.adam_steps=200",
        ],
    );
    // A [data] key has no effect on a PINN run: refused by name.
    let e = refused(STEADY, &["data.train=/nonexistent.csv"]);
    assert!(e.contains("data.train") && e.contains("[pde]"), "{e}");
    assert_eq!(c.method, Method::LsAdamLbfgs);
    let dummy = TrainConfig::default().data.load(0).unwrap();
    let f = fit_with(&c, &dummy, &mut NoObserver).unwrap();
    let s = &f.summary;
    assert!(s.rel_l2.unwrap() < 1e-2, "rel L2 {:?}", s.rel_l2);
    assert!(s.derivative_gap.is_none());
    let json = serde_json::to_string(s).unwrap();
    assert!(json.contains("\"rel_l2\"") && json.contains("\"pde_loss\""));
}

#[test]
fn regression_summaries_do_not_gain_pde_fields() {
    let mut c = TrainConfig {
        method: Method::LsAdam,
        ..TrainConfig::default()
    };
    c.train.max_iterations = 3;
    let c = c.check().unwrap();
    let data = c.data.load(0).unwrap();
    let f = fit_with(&c, &data, &mut NoObserver).unwrap();
    let json = serde_json::to_string(&f.summary).unwrap();
    for k in ["rel_l2", "pde_loss", "bc_loss", "derivative_gap", "\"pde\""] {
        assert!(!json.contains(k), "{k} in {json}");
    }
}

#[test]
fn periodic_model_takes_the_embedded_inputs_and_curriculum_runs_every_stage() {
    let c = cfg(
        "method = \"ls-adam\"\n[network]\ndepth = 2\nwidth = 8\n[pde]\nproblem = \"transport1d\"\nbeta = 3.0\ncurriculum = [1.0, 2.0]\nn_interior = 50\nn_boundary = 10\nn_test = 11\n",
        &["train.max_iterations=7", "train.record_every=7"],
    );
    let f = fit_pde(&c, &mut NoObserver).unwrap();
    assert_eq!(f.model.input_names, ["cos_x", "sin_x", "t"]);
    assert_eq!(f.summary.iterations, 21);
    let its: Vec<usize> = f.history.iter().map(|r| r.iteration).collect();
    assert_eq!(its, [0, 7, 7, 14, 14, 21]);
}

#[test]
fn bad_pde_configs_name_their_key() {
    let cases = [
        (
            "[pde]\nproblem = \"custom\"\nlo = [0.0]\nhi = [1.0]\nc = [\"1\"]\ng = \"sin(\"\n",
            "pde.g",
        ),
        (
            "[pde]\nproblem = \"custom\"\nlo = [0.0, 0.0]\nhi = [1.0, 1.0]\nc = [\"1\"]\n",
            "pde.c",
        ),
        (
            "[pde]\nproblem = \"custom\"\nlo = [0.0]\nhi = [1.0]\nc = [\"1\"]\nexact = \"x + q\"\n",
            "pde.exact",
        ),
    ];
    for (text, key) in cases {
        let c = cfg(text, &[]);
        let e = fit_pde(&c, &mut NoObserver).unwrap_err().to_string();
        assert!(e.contains(key), "{key}: {e}");
    }
    for (text, key) in [
        ("[pde]\nbogus = 1\n", "bogus"),
        ("method = \"elm\"\n[pde]\n", "method"),
        (
            "[network]\nactivation = \"relu\"\n[pde]\n",
            "network.activation",
        ),
        ("[pde]\nalpha = -1.0\n", "pde.alpha"),
        ("[pde]\nproblem = \"wave\"\n", "pde.problem"),
        (
            "[pde]\ncurriculum = [1.0]\nproblem = \"steady1d\"\n",
            "pde.curriculum",
        ),
    ] {
        let e = refused(text, &[]);
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn every_pde_example_config_loads_and_samples() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("pde-") && name.ends_with(".toml")) {
            continue;
        }
        let c = TrainConfig::load(&p, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pde = c.pde.as_ref().unwrap_or_else(|| panic!("{name}: no [pde]"));
        let problem = pde.problem().unwrap();
        let data = sapm::task::pde::PinnData::sample(&problem, pde, c.seed).unwrap();
        assert!(data.n_boundary() >= 1 && data.u_test.is_some(), "{name}");
        n += 1;
    }
    assert!(n >= 15, "found {n} PDE examples");
}
