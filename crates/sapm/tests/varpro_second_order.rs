//! VarPro and ELM on the rows of second-order PDEs (Poisson 1-D, heat 1-D):
//! the eliminated output layer against a direct least-squares solve, the
//! reduced gradient and the Kaufman Jacobian against finite differences of
//! the reduced residual, and short runs reaching a modest rel L2.

use faer::Mat;
use sapm::driver::NoObserver;
use sapm::fit::fit_pde;
use sapm::linalg::SolveMethod;
use sapm::net::{Network, NetworkSpec};
use sapm::objective::LeastSquares;
use sapm::optim::lm::{LmModel, Residuals, VarPro};
use sapm::optim::{Elm, Trainer};
use sapm::task::pde::second_loss::SecondObjective;
use sapm::task::pde::{PdeConfig, PinnData, Problem};

#[path = "support/runs.rs"]
mod runs;
#[path = "support/varpro_fd.rs"]
mod varpro_fd;
use varpro_fd::check_reduced_gradient_and_kaufman_jacobian;

fn problems() -> Vec<Problem> {
    vec![Problem::poisson1d(), Problem::heat1d()]
}

fn data(p: &Problem) -> PinnData {
    let cfg = PdeConfig {
        n_interior: 40,
        n_boundary: 12,
        n_test: 5,
        ..PdeConfig::default()
    };
    PinnData::sample(p, &cfg, 3).unwrap()
}

fn net(p: &Problem, seed: u64) -> Network {
    NetworkSpec::new(vec![p.dim(), 5, 4, 1])
        .build(seed)
        .unwrap()
}

fn varpro<'a>(d: &'a PinnData, net: &Network, ridge: f64) -> VarPro<'a> {
    let obj = SecondObjective::new(d, 0.7, 1.3).unwrap();
    VarPro::new(Residuals::Rows(Box::new(obj)), net, ridge)
}

/// Without a ridge the output layer VarPro puts in is the least-squares
/// solution of the rows for the fixed hidden layers: the normal equations
/// of the full Jacobian's output columns (the rows are affine in it) with
/// targets `A theta_L - r`. The hidden layers are not touched.
#[test]
fn the_eliminated_output_layer_is_the_least_squares_solution() {
    for p in problems() {
        let d = data(&p);
        let net0 = net(&p, 2);
        let (np, k) = (net0.num_params(), 4 + 1);
        let mut obj = SecondObjective::new(&d, 0.7, 1.3).unwrap();
        let m = obj.residual_count();
        let mut jac = Mat::zeros(m, np);
        obj.jacobian_rows_into(&net0, 0..m, jac.as_mut());
        let mut r = vec![0.0; m];
        obj.residuals_into(&net0, &mut r);
        let a = jac.as_ref().subcols(np - k, k).to_owned();
        let t0 = &net0.params()[np - k..];
        let b = Mat::from_fn(m, 1, |i, _| {
            (0..k).map(|j| a[(i, j)] * t0[j]).sum::<f64>() - r[i]
        });
        let gram = (a.transpose() * &a).llt(faer::Side::Lower).unwrap();
        let want = faer::linalg::solvers::Solve::solve(&gram, &(a.transpose() * &b));

        let mut net = net0.clone();
        let mut vp = varpro(&d, &net0, 0.0);
        vp.prepare(&mut net).unwrap();
        let got = net.params();
        assert_eq!(got[..np - k], net0.params()[..np - k], "{}", p.name);
        let scale = (0..k).map(|j| want[(j, 0)].abs()).fold(0.0, f64::max);
        for j in 0..k {
            let e = (got[np - k + j] - want[(j, 0)]).abs() / scale;
            assert!(
                e < 1e-7,
                "{} output {j}: {} vs {}",
                p.name,
                got[np - k + j],
                want[(j, 0)]
            );
        }
        // The residual is then orthogonal to the design: A^T r = 0.
        let mut r1 = vec![0.0; m];
        obj.residuals_into(&net, &mut r1);
        let rn = r1.iter().map(|v| v * v).sum::<f64>().sqrt();
        for j in 0..k {
            let c: f64 = (0..m).map(|i| a[(i, j)] * r1[i]).sum();
            let an = (0..m).map(|i| a[(i, j)].powi(2)).sum::<f64>().sqrt();
            assert!(c.abs() < 1e-9 * an * rn, "{} column {j}: {c:e}", p.name);
        }
    }
}

/// VarPro's reduced gradient and Kaufman Jacobian on second-order rows
/// against finite differences of the reduced residual.
#[test]
fn reduced_gradient_and_kaufman_jacobian_match_finite_differences() {
    for p in problems() {
        let d = data(&p);
        let mut net = net(&p, 4);
        let mut vp = varpro(&d, &net, 1e-10);
        check_reduced_gradient_and_kaufman_jacobian(&mut vp, &mut net, &p.name);
    }
}

const POISSON1D: &str = "method = \"varpro\"\n[network]\ndepth = 3\nwidth = 10\n[pde]\nproblem = \"poisson1d\"\nn_interior = 40\nn_test = 51\n";

const HEAT1D: &str = "method = \"varpro\"\n[network]\ndepth = 3\nwidth = 10\n[pde]\nproblem = \"heat1d\"\nn_interior = 150\nn_boundary = 40\nn_test = 11\n";

#[test]
fn short_varpro_runs_reach_a_modest_rel_l2() {
    // Measured: 3.9e-8 and 1.5e-4 (from about 0.95).
    for (name, text, iterations, target) in [
        ("poisson1d", POISSON1D, 30, 1e-6),
        ("heat1d", HEAT1D, 30, 1e-3),
    ] {
        let sets = [format!("train.max_iterations={iterations}")];
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let f = fit_pde(&runs::checked(text, &sets), &mut NoObserver).unwrap();
        let (first, last) = (f.history[0].values[3], f.summary.rel_l2.unwrap());
        assert_eq!(f.metric_names[3], "rel_l2");
        assert!(last < target, "{name}: rel L2 {first:e} -> {last:e}");
        assert!(f.summary.rel_l2_f32.unwrap().is_finite(), "{name}");
    }
}

/// ELM on second-order rows: the random network's output layer by least
/// squares on the PDE rows, the same solution as VarPro's elimination
/// (ridge 0), and in a run a lower rel L2 than the random network's.
#[test]
fn elm_solves_the_output_layer_on_the_pde_rows() {
    for p in problems() {
        let d = data(&p);
        let net0 = net(&p, 6);
        let obj = SecondObjective::new(&d, 0.7, 1.3).unwrap();
        let mut elm = Elm::rows(Box::new(obj), 0.0, SolveMethod::Qr);
        let mut a = net0.clone();
        elm.start(&a).unwrap();
        let out = elm.step(&mut a).unwrap();
        assert!(out.converged);
        let mut b = net0.clone();
        varpro(&d, &net0, 0.0).prepare(&mut b).unwrap();
        let (a, b) = (a.params(), b.params());
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() < 1e-9 * scale,
                "{} param {i}: {x} vs {y}",
                p.name
            );
        }
    }
    for (name, text) in [("poisson1d", POISSON1D), ("heat1d", HEAT1D)] {
        let f = fit_pde(&runs::checked(text, &["method=elm"]), &mut NoObserver).unwrap();
        runs::assert_rel_l2_fell(&f, 0.2, name);
    }
}
