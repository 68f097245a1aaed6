//! Second-order PDEs end to end: the spec in a config (and its refusals
//! before any training), and short runs of every method that trains them.

use sapm::driver::NoObserver;
use sapm::fit::fit_pde;

#[path = "support/runs.rs"]
mod runs;

use runs::{checked as cfg, refused};

const POISSON1D: &str = "[network]\ndepth = 3\nwidth = 10\n[pde]\nproblem = \"poisson1d\"\nn_interior = 40\nn_test = 51\n";

/// `u_t = 0.1 u_xx` with a Neumann face: exact `u = cos(pi x / 2) exp(-0.1 pi^2 t / 4)`.
const HEAT_CUSTOM: &str = r#"
method = "lm"
[network]
depth = 3
width = 8
[pde]
problem = "custom"
order = 2
vars = ["x", "t"]
lo = [0.0, 0.0]
hi = [1.0, 1.0]
a = [["-0.1", "0"], ["0", "0"]]
c = ["0", "1"]
f = "0"
exact = "cos(pi*x/2)*exp(-0.1*pi^2*t/4)"
n_interior = 64
n_boundary = 24
n_test = 11
bc = [
  { face = "x_lo", kind = "neumann", value = "0" },
  { face = "x_hi", kind = "dirichlet", value = "0" },
  { face = "t_lo", kind = "initial", value = "cos(pi*x/2)" },
]
"#;

#[test]
fn every_least_squares_method_lowers_the_error_on_poisson1d() {
    let mut methods = runs::ls_methods(2000, 25);
    // The penalty methods on second-derivative auxiliaries.
    for m in ["sapm", "pm"] {
        methods.push((m, vec!["train.max_iterations=40".to_string()]));
    }
    for (m, sets) in methods {
        let mut all = vec![format!("method={m}"), "train.record_every=5".into()];
        all.extend(sets);
        let sets: Vec<&str> = all.iter().map(String::as_str).collect();
        let f = fit_pde(&cfg(POISSON1D, &sets), &mut NoObserver).unwrap();
        let first = f.history[0].values[3];
        let last = f.summary.rel_l2.unwrap();
        assert_eq!(f.metric_names[3], "rel_l2");
        assert!(last < 0.05 * first, "{m}: rel L2 {first:e} -> {last:e}");
        assert!(f.summary.rel_l2_f32.unwrap().is_finite());
        assert!(f.summary.pde_loss.unwrap() < f.history[0].values[1], "{m}");
    }
}

/// SAPM on 1-D Poisson: `J_SAPM` (the recorded objective) falls, and the
/// rel L2 reaches 1e-3; a custom heat problem with a Neumann face (per-point
/// boundary coefficients) trains too.
#[test]
fn sapm_solves_poisson1d_and_a_custom_heat_problem() {
    let c = cfg(
        POISSON1D,
        &[
            "method=sapm",
            "train.max_iterations=60",
            "train.record_every=1",
        ],
    );
    let f = fit_pde(&c, &mut NoObserver).unwrap();
    let j: Vec<f64> = f.history.iter().map(|h| h.objective).collect();
    assert!(
        j[j.len() - 1] < 1e-3 * j[0],
        "J_SAPM {:e} -> {:e}",
        j[0],
        j[j.len() - 1]
    );
    let rel = f.summary.rel_l2.unwrap();
    assert!(rel < 1e-3, "rel L2 {rel:e}");
    let c = cfg(HEAT_CUSTOM, &["method=sapm", "train.max_iterations=40"]);
    let f = fit_pde(&c, &mut NoObserver).unwrap();
    runs::assert_rel_l2_fell(&f, 0.2, "custom heat sapm");
}

#[test]
fn a_custom_heat_problem_with_a_neumann_face_trains_with_lm() {
    let c = cfg(HEAT_CUSTOM, &["method=lm", "train.max_iterations=15"]);
    let f = fit_pde(&c, &mut NoObserver).unwrap();
    runs::assert_rel_l2_fell(&f, 0.1, "custom heat lm");
    assert_eq!(f.model.input_names, ["x", "t"]);
}

#[test]
fn bad_specs_are_refused_before_any_training() {
    // `pde.bc` with one piece per `(face, kind, value)`.
    let bc = |pieces: &[(&str, &str, &str)]| {
        let p: Vec<String> = pieces
            .iter()
            .map(|(f, k, v)| format!("{{ face = \"{f}\", kind = \"{k}\", value = \"{v}\" }}"))
            .collect();
        format!("bc=[{}]", p.join(", "))
    };
    for (set, want) in [
        ("order=3".to_string(), vec!["pde.order", "order 3"]),
        ("f=\"sin(q)\"".into(), vec!["pde.f", "unknown variable `q`"]),
        (
            "a=[[\"-0.1\", \"1\"], [\"0\", \"0\"]]".into(),
            vec!["pde.a", "not symmetric"],
        ),
        (
            "a=[[\"-0.1\", \"x\"], [\"t\", \"0\"]]".into(),
            vec!["not symmetric"],
        ),
        (
            bc(&[("x_lo", "neumann", "0"), ("t_lo", "initial", "1")]),
            vec!["face x_hi has no boundary data", "second order in `x`"],
        ),
        (
            bc(&[("x_lo", "dirichlet", "0"), ("x_hi", "dirichlet", "0")]),
            vec!["face t_lo has no boundary data", "inflow"],
        ),
        (
            bc(&[("x_lo", "robin", "0")]),
            vec!["pde.bc[0].alpha", "robin"],
        ),
        (
            bc(&[("t_hi", "initial", "0")]),
            vec!["pde.bc[0].kind", "lower face"],
        ),
        (
            bc(&[("y_lo", "dirichlet", "0")]),
            vec!["pde.bc[0].on", "x_lo, x_hi, t_lo, t_hi"],
        ),
        ("g=\"0\"".into(), vec!["pde.g", "pde.bc"]),
        ("k=2".into(), vec!["pde.k", "helmholtz2d"]),
        ("periodic=[true, false]".into(), vec!["periodic"]),
    ] {
        let set = format!("pde.{set}");
        let e = refused(HEAT_CUSTOM, &[set.as_str()]);
        for w in want {
            assert!(e.contains(w), "{set}: {e}");
        }
    }
    // A second-order key on a first-order custom problem is unused.
    let e = refused(HEAT_CUSTOM, &["pde.order=1", "pde.g=\"0\""]);
    assert!(e.contains("pde.a") && e.contains("order = 2"), "{e}");
}

#[test]
fn methods_without_a_second_order_path_and_relu_are_refused() {
    let e = refused(POISSON1D, &["method=sapm-gn"]);
    assert!(
        e.contains("sapm-gn") && e.contains("regression data only") && e.contains("pm or sapm"),
        "{e}"
    );
    let e = refused("method = \"elm\"\n[pde]\nproblem = \"steady1d\"\n", &[]);
    assert!(e.contains("elm") && e.contains("first-order"), "{e}");
    let e = refused(POISSON1D, &["method=lm", "network.activation=\"relu\""]);
    assert!(
        e.contains("network.activation") && e.contains("second"),
        "{e}"
    );
    let e = refused(POISSON1D, &["method=lm", "pde.time_windows=2"]);
    assert!(
        e.contains("pde.time_windows") && e.contains("first-order"),
        "{e}"
    );
}

#[test]
fn same_config_same_bits() {
    // 50 + 20 rows: more than one block of rows, so the threads split them.
    for m in ["lm", "varpro", "elm"] {
        let c = cfg(
            "[network]\ndepth = 2\nwidth = 6\n[pde]\nproblem = \"poisson2d_mixed\"\nn_interior = 50\nn_boundary = 20\nn_test = 9\n",
            &[&format!("method={m}"), "train.max_iterations=4"],
        );
        let a = runs::on_threads(1, || fit_pde(&c, &mut NoObserver).unwrap());
        let b = runs::on_threads(2, || fit_pde(&c, &mut NoObserver).unwrap());
        assert_eq!(runs::history(&a), runs::history(&b), "{m}");
        assert_eq!(a.model.net.params(), b.model.net.params(), "{m}");
    }
}
