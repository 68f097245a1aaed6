//! Levenberg-Marquardt and VarPro: the damped solves in every form, the
//! method on problems with known answers, monotonicity and determinism.

use faer::{Mat, MatMut};
use sapm::config::TrainConfig;
use sapm::net::{Network, NetworkSpec};
use sapm::objective::{LeastSquares, Objective};
use sapm::optim::lm::normal::Normal;
use sapm::optim::lm::{LmModel, Plain, Residuals, VarPro};
use sapm::optim::{Lm, Trainer};
use sapm::task::pde::loss::PinnObjective;
use sapm::task::pde::{PdeConfig, PinnData, Problem};
use sapm::task::regression::LsObjective;
use std::ops::Range;

#[path = "support/runs.rs"]
mod runs;
#[path = "support/varpro_fd.rs"]
mod varpro_fd;
use varpro_fd::check_reduced_gradient_and_kaufman_jacobian;

use runs::on_threads;

fn sin_data(n: usize, outputs: usize) -> (Mat<f64>, Mat<f64>) {
    let x = Mat::from_fn(1, n, |_, j| -3.0 + 6.0 * (j as f64 + 0.37) / n as f64);
    let y = Mat::from_fn(outputs, n, |o, j| {
        let t = x[(0, j)];
        (t * t).sin() + 0.3 * o as f64 * t.cos()
    });
    (x, y)
}

/// The step of every applicable form of the normal equations.
fn steps(model: &mut dyn LmModel, net: &Network, lambda: f64) -> Vec<(String, Vec<f64>)> {
    let (m, p) = (model.residual_count(), model.dim(net));
    let mut r = vec![0.0; m];
    model.residuals_into(net, &mut r);
    let mut out = Vec::new();
    for (name, dual, factored) in [
        ("dual factored", true, true),
        ("dual explicit", true, false),
        ("primal", false, false),
    ] {
        if factored && !model.factored() {
            continue;
        }
        let mut n = Normal::new(dual, factored, m, p);
        n.linearize(model, net, &r);
        let mut d = vec![0.0; p];
        n.step(lambda, &mut d).unwrap();
        out.push((name.to_string(), d));
    }
    out
}

fn assert_same_steps(what: &str, s: &[(String, Vec<f64>)]) {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let base = &s[0].1;
    for (name, d) in &s[1..] {
        let diff: Vec<f64> = d.iter().zip(base).map(|(a, b)| a - b).collect();
        let rel = norm(&diff) / norm(base);
        assert!(rel < 1e-10, "{what}: {name} vs {}: {rel:e}", s[0].0);
    }
}

#[test]
fn dual_and_primal_solves_give_the_same_step() {
    // Regression with fewer and with more residuals than parameters, one and two outputs.
    for (n, outputs) in [(40, 1), (150, 1), (70, 2)] {
        let net = NetworkSpec::new(vec![1, 8, 6, outputs]).build(3).unwrap();
        let (x, y) = sin_data(n, outputs);
        let ls = LsObjective::new(&net, x.as_ref(), y.as_ref());
        let mut plain = Plain::new(Residuals::Factored(Box::new(ls)));
        // The dual form of an overdetermined problem is well posed only for
        // a moderate lambda (`auto` solves it in the primal form).
        let lambdas: &[f64] = if n < net.num_params() {
            &[1e-4, 1e-2]
        } else {
            &[1e-2]
        };
        for &lambda in lambdas {
            let s = steps(&mut plain, &net, lambda);
            assert_eq!(s.len(), 3);
            assert_same_steps(&format!("regression n={n} m={outputs} lambda={lambda}"), &s);
        }
        // VarPro: the projected (Kaufman) Jacobian in every form.
        let mut vnet = net.clone();
        let ls = LsObjective::new(&net, x.as_ref(), y.as_ref());
        let mut vp = VarPro::new(Residuals::Factored(Box::new(ls)), &net, 1e-12);
        vp.prepare(&mut vnet).unwrap();
        let s = steps(&mut vp, &vnet, 1e-4);
        assert_same_steps(&format!("varpro n={n} m={outputs}"), &s);
    }
    // The PINN residual (two Khatri-Rao terms per layer).
    let cfg = PdeConfig {
        n_interior: 60,
        n_boundary: 12,
        ..PdeConfig::default()
    };
    let data = PinnData::sample(&Problem::transport_inflow(1.0), &cfg, 2).unwrap();
    let net = NetworkSpec::new(vec![2, 6, 6, 1]).build(4).unwrap();
    let mut plain = Plain::new(Residuals::Factored(Box::new(PinnObjective::new(
        &net, &data, 1.0, 1.0,
    ))));
    assert_same_steps("pinn", &steps(&mut plain, &net, 1e-5));
}

fn run_lm(trainer: &mut dyn Trainer, net: &mut Network, iterations: usize) -> Vec<f64> {
    trainer.start(net).unwrap();
    let mut f = Vec::new();
    for _ in 0..iterations {
        let o = trainer.step(net).unwrap();
        f.push(o.objective);
        if o.converged {
            break;
        }
    }
    f
}

#[test]
fn a_linear_problem_converges_in_one_step_to_the_normal_equation_solution() {
    // One affine layer: r is linear in [W, b].
    let net0 = NetworkSpec::new(vec![3, 1]).build(1).unwrap();
    let n = 50;
    let x = Mat::from_fn(3, n, |i, j| {
        ((i + 1) as f64 * j as f64 * 0.37 + i as f64).sin()
    });
    let y = Mat::from_fn(1, n, |_, j| (j as f64 * 0.17).cos());
    // The normal-equation solution of [x; 1]^T [w; b] = y.
    let a = Mat::from_fn(n, 4, |j, i| if i < 3 { x[(i, j)] } else { 1.0 });
    let at = a.transpose();
    let rhs = at * y.transpose();
    let want = (at * &a).llt(faer::Side::Lower).unwrap();
    let want = faer::linalg::solvers::Solve::solve(&want, &rhs);
    let cfg = TrainConfig::from_toml_str(
        "",
        &["method=lm".into(), "lm.lambda_init=1e-15".into()],
        None,
    )
    .unwrap();
    let mut net = net0.clone();
    let ls = LsObjective::new(&net, x.as_ref(), y.as_ref());
    let mut lm = Lm::plain(Box::new(ls), cfg.lm);
    let f = run_lm(&mut lm, &mut net, 1);
    assert_eq!(lm.is_dual(), Some(false));
    let p = net.params();
    for i in 0..4 {
        assert!(
            (p[i] - want[(i, 0)]).abs() < 1e-10,
            "{p:?} vs {want:?} (loss {f:?})"
        );
    }
    // Underdetermined (3 points, 4 parameters, the dual form): one step
    // interpolates, moving the parameters by the minimum-norm correction.
    let (x3, y3) = (x.subcols(0, 3), y.subcols(0, 3));
    let mut net = net0.clone();
    let ls = LsObjective::new(&net, x3, y3);
    let mut lm = Lm::plain(Box::new(ls), cfg.lm);
    let f = run_lm(&mut lm, &mut net, 1);
    assert_eq!(lm.is_dual(), Some(true));
    assert!(f[0] < 1e-26, "{f:?}");
    let a3 = a.subrows(0, 3);
    let d: Vec<f64> = net
        .params()
        .iter()
        .zip(net0.params())
        .map(|(a, b)| a - b)
        .collect();
    // The correction lies in the row space of the design: d = A^T z.
    let z = (a3 * a3.transpose()).llt(faer::Side::Lower).unwrap();
    let dm = Mat::from_fn(4, 1, |i, _| d[i]);
    let zz = faer::linalg::solvers::Solve::solve(&z, &(a3 * &dm));
    let back = a3.transpose() * zz;
    assert!((back - dm).norm_max() < 1e-10);
}

/// Rosenbrock's residual `(10 (t2 - t1^2), 1 - t1)` of the two parameters
/// of a one-weight network (a parameter container).
struct Rosenbrock;

impl Objective for Rosenbrock {
    fn value(&mut self, net: &Network) -> f64 {
        let mut r = [0.0; 2];
        self.residuals_into(net, &mut r)
    }
    fn value_grad(&mut self, _net: &Network, _grad: &mut [f64]) -> f64 {
        unimplemented!("not used by LM")
    }
}

impl LeastSquares for Rosenbrock {
    fn residual_count(&self) -> usize {
        2
    }
    fn residuals_into(&mut self, net: &Network, r: &mut [f64]) -> f64 {
        let t = net.params();
        r[0] = 10.0 * (t[1] - t[0] * t[0]);
        r[1] = 1.0 - t[0];
        r[0] * r[0] + r[1] * r[1]
    }
    fn jacobian_rows_into(&mut self, net: &Network, rows: Range<usize>, mut jac: MatMut<'_, f64>) {
        let t = net.params();
        let full = [[-20.0 * t[0], 10.0], [-1.0, 0.0]];
        for (k, i) in rows.enumerate() {
            jac[(k, 0)] = full[i][0];
            jac[(k, 1)] = full[i][1];
        }
    }
}

#[test]
fn rosenbrock_reaches_the_minimum() {
    for solve in ["dual", "primal"] {
        let mut net = NetworkSpec::new(vec![1, 1]).build(0).unwrap();
        net.set_params(&[-1.2, 1.0]);
        let cfg = TrainConfig::from_toml_str(
            "",
            &["method=lm".into(), format!("lm.solve={solve}")],
            None,
        )
        .unwrap();
        let mut lm = Lm::plain_rows(Box::new(Rosenbrock), cfg.lm);
        let f = run_lm(&mut lm, &mut net, 200);
        let p = net.params();
        assert!(f.last().unwrap() < &1e-28, "{solve}: {f:?}");
        assert!(
            (p[0] - 1.0).abs() < 1e-12 && (p[1] - 1.0).abs() < 1e-12,
            "{p:?}"
        );
        assert!(f.len() < 60, "{solve}: {} iterations", f.len());
        // Strictly decreasing, except the final "converged" report at the floor.
        let k = f.len() - 1;
        assert!(
            f[..k].windows(2).all(|w| w[1] < w[0]),
            "not monotone: {f:?}"
        );
        assert!(f[k] <= f[k - 1]);
    }
}

#[test]
fn small_net_interpolation_reaches_the_residual_floor_monotonically() {
    // 20 points, 141 parameters: the dual system, exact interpolation exists.
    let (x, y) = sin_data(20, 1);
    for (method, geodesic) in [("lm", false), ("lm", true), ("varpro", false)] {
        let mut net = NetworkSpec::new(vec![1, 10, 10, 1]).build(5).unwrap();
        let ls = LsObjective::new(&net, x.as_ref(), y.as_ref());
        // No ridge: VarPro's floor is then that of the plain residual.
        let sets = [
            "method=varpro".into(),
            format!("lm.geodesic={geodesic}"),
            "lm.varpro_ridge=0".into(),
        ];
        let cfg = TrainConfig::from_toml_str("", &sets, None).unwrap();
        let mut t = if method == "lm" {
            Lm::plain(Box::new(ls), cfg.lm)
        } else {
            Lm::varpro(Box::new(ls), &net, cfg.lm)
        };
        let f = run_lm(&mut t, &mut net, 1000);
        let last = *f.last().unwrap();
        // VarPro's floor is that of its output-layer solve (QR of a design
        // matrix with condition number ~1e6 here).
        let floor = if method == "lm" { 1e-24 } else { 1e-18 };
        assert!(
            last < floor,
            "{method} geodesic={geodesic}: {last:e} after {}",
            f.len()
        );
        assert!(
            f.windows(2)
                .all(|w| w[1] < w[0] || w[1] == w[0] && f.last() == Some(&w[1])),
            "{method}: not monotone"
        );
        assert_eq!(t.is_dual(), Some(true));
    }
}

/// VarPro's reduced gradient and Kaufman Jacobian on regression residuals
/// against finite differences of the reduced residual.
#[test]
fn varpro_reduced_gradient_matches_finite_differences() {
    let (x, y) = sin_data(30, 1);
    let mut net = NetworkSpec::new(vec![1, 5, 4, 1]).build(2).unwrap();
    let mut vp = VarPro::new(
        Residuals::Factored(Box::new(LsObjective::new(&net, x.as_ref(), y.as_ref()))),
        &net,
        1e-10,
    );
    check_reduced_gradient_and_kaufman_jacobian(&mut vp, &mut net, "sin");
}

#[test]
fn lm_and_varpro_are_deterministic_on_any_thread_count() {
    // N = 300 < P = 481 (dual, factored, parallel strips) and N = 3000 (primal chunks).
    for (method, n, extra) in [
        ("lm", 300, ""),
        ("lm", 3000, ""),
        ("varpro", 300, ""),
        ("varpro", 3000, ""),
        ("lm", 300, "lm.line_search=true"),
        ("lm", 300, "lm.geodesic=true"),
        // PINNs: 250 + 50 residuals < 501 parameters (dual), 1000 + 50 (primal).
        ("lm", 250, "pde"),
        ("lm", 1000, "pde"),
        ("varpro", 250, "pde"),
    ] {
        let mut sets = vec![
            format!("method={method}"),
            "network.depth=3".into(),
            "network.width=20".into(),
            "train.max_iterations=5".into(),
            "train.record_every=1".into(),
        ];
        if extra != "pde" {
            sets.extend([format!("data.n_train={n}"), "data.n_test=50".into()]);
        }
        if extra == "pde" {
            sets.extend([
                "pde.problem=transport_inflow".into(),
                format!("pde.n_interior={n}"),
                "pde.n_boundary=50".into(),
                "pde.n_test=11".into(),
            ]);
        } else if !extra.is_empty() {
            sets.push(extra.into());
        }
        let cfg = TrainConfig::from_toml_str("", &sets, None).unwrap();
        let run = |threads: usize| {
            on_threads(threads, || {
                let data = cfg.data.load(cfg.seed).unwrap();
                let f = sapm::fit(&cfg, &data).unwrap();
                let h: Vec<u64> = f.history.iter().map(|r| r.objective.to_bits()).collect();
                let p: Vec<u64> = f.model.net.params().iter().map(|v| v.to_bits()).collect();
                (h, p, f.summary.train_mse)
            })
        };
        let (a, b) = (run(1), run(2));
        assert_eq!(a.0, b.0, "{method} n={n} {extra}");
        assert_eq!(a.1, b.1, "{method} n={n} {extra}");
        assert!(a.2.is_finite(), "{method} n={n} {extra}: {}", a.2);
    }
}

#[test]
fn bad_lm_settings_name_their_key() {
    for (o, key) in [
        ("lm.lambda_init=0", "lm.lambda_init"),
        ("lm.lambda_min=-1", "lm.lambda_min"),
        ("lm.max_trials=0", "lm.max_trials"),
        ("lm.ls_steps=0", "lm.ls_steps"),
        ("lm.ls_steps=61", "lm.ls_steps"),
        ("lm.geodesic_alpha=nan", "lm.geodesic_alpha"),
        ("lm.solve=lu", "solve"),
        ("lm.max_memory_gib=0", "lm.max_memory_gib"),
        ("lm.bogus=1", "bogus"),
    ] {
        // In a run that reads the key: varpro with the line search and
        // geodesic acceleration reads all of `[lm]`.
        let sets = [
            "method=varpro".into(),
            "lm.line_search=true".into(),
            "lm.geodesic=true".into(),
            o.to_string(),
        ];
        let e = TrainConfig::from_toml_str("", &sets, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(key) && !e.contains("no effect"), "{o}: {e}");
    }
    let e = TrainConfig::from_toml_str(
        "",
        &["method=varpro".into(), "network.depth=1".into()],
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("network.depth") && e.contains("varpro"), "{e}");
    // Memory: 20000 residuals in the dual form need 6 GiB for J J^T and its factor.
    let cfg = TrainConfig::from_toml_str(
        "",
        &[
            "method=lm".into(),
            "lm.solve=dual".into(),
            "lm.max_memory_gib=1".into(),
            "data.n_train=20000".into(),
        ],
        None,
    )
    .unwrap();
    let data = cfg.data.load(0).unwrap();
    let e = sapm::fit(&cfg, &data).unwrap_err().to_string();
    assert!(e.contains("lm.max_memory_gib") && e.contains("GiB"), "{e}");
}

#[test]
fn varpro_refuses_a_net_without_hidden_layer_and_too_few_residuals() {
    // No hidden layer: nothing is left for LM once the output layer is eliminated.
    let (x, y) = sin_data(30, 1);
    let mut net = NetworkSpec::new(vec![1, 1]).build(0).unwrap();
    let ls = LsObjective::new(&net, x.as_ref(), y.as_ref());
    let mut vp = VarPro::new(Residuals::Factored(Box::new(ls)), &net, 1e-10);
    let e = vp.prepare(&mut net).unwrap_err().to_string();
    assert!(e.contains("hidden layer"), "{e}");
    // 5 residuals, 21 output-layer parameters: the output solve is underdetermined.
    let (x, y) = sin_data(5, 1);
    let mut net = NetworkSpec::new(vec![1, 20, 1]).build(0).unwrap();
    let ls = LsObjective::new(&net, x.as_ref(), y.as_ref());
    let mut vp = VarPro::new(Residuals::Factored(Box::new(ls)), &net, 1e-10);
    let e = vp.prepare(&mut net).unwrap_err().to_string();
    assert!(e.contains("5 < 21"), "{e}");
    // The restore path (resume) checks the same.
    let e = vp.restore(&net).unwrap_err().to_string();
    assert!(e.contains("5 < 21"), "{e}");
}

#[test]
fn the_step_rule_ends_a_run_and_the_line_search_counts_its_solves() {
    let (x, y) = sin_data(40, 1);
    // tol_step = 10 (the relative-reduction rule off): the first accepted
    // step is short against it, so the run converges at once; with
    // tol_step = 0 the rule is off and the run goes on.
    for (tol, converges) in [("10", true), ("0", false)] {
        let mut net = NetworkSpec::new(vec![1, 6, 1]).build(3).unwrap();
        let ls = LsObjective::new(&net, x.as_ref(), y.as_ref());
        let sets = [
            "method=lm".into(),
            format!("lm.tol_step={tol}"),
            "lm.tol_rel=0".into(),
            "lm.tol_grad=0".into(),
        ];
        let cfg = TrainConfig::from_toml_str("", &sets, None).unwrap();
        let mut t = Lm::plain(Box::new(ls), cfg.lm);
        let f = run_lm(&mut t, &mut net, 5);
        assert_eq!(f.len() == 1, converges, "tol_step={tol}: {f:?}");
    }
    // ENGD: every step length grid is one solve; 5 iterations need >= 5.
    let mut net = NetworkSpec::new(vec![1, 6, 1]).build(3).unwrap();
    let ls = LsObjective::new(&net, x.as_ref(), y.as_ref());
    let sets = ["method=lm".into(), "lm.line_search=true".into()];
    let cfg = TrainConfig::from_toml_str("", &sets, None).unwrap();
    let mut t = Lm::plain(Box::new(ls), cfg.lm);
    let f = run_lm(&mut t, &mut net, 5);
    let solves = t.stats().solves;
    assert!(
        solves >= f.len(),
        "{solves} solves in {} iterations",
        f.len()
    );
}
