//! The domain map against finite differences in physical coordinates: the
//! rows the mapped task computes are those of `x -> N((x - c) / h)`.

use super::*;
use crate::NetworkSpec;
use crate::net::Network;
use crate::task::Task;
use crate::task::pde::{PdeConfig, PdeTask};

fn task(toml_text: &str) -> PdeTask {
    let cfg: PdeConfig = toml::from_str(toml_text).unwrap();
    let p = cfg.problem().unwrap();
    PdeTask::new(p, cfg, 5).unwrap()
}

/// `U(x) = N(map(embed(x)))`, the function the mapped network represents
/// in physical coordinates (built here from the box, not from the code under test).
fn composed<'a>(p: &'a Problem, net: &'a Network) -> impl Fn(&[f64]) -> f64 + 'a {
    move |x: &[f64]| {
        let de = p.embedded_dim();
        let (mut e, mut v) = (vec![0.0; de], vec![0.0; de]);
        p.embed(x, &mut e, &mut v);
        let mut k = 0;
        for i in 0..p.dim() {
            if p.periodic[i] {
                k += 2;
            } else {
                let (c, h) = ((p.lo[i] + p.hi[i]) / 2.0, (p.hi[i] - p.lo[i]) / 2.0);
                e[k] = (e[k] - c) / h;
                k += 1;
            }
        }
        net.predict(Mat::from_fn(de, 1, |i, _| e[i]).as_ref())
            .unwrap()[(0, 0)]
    }
}

/// Central differences of `u` at `x`: gradient (step `s1`) and Hessian (step `s2`),
/// steps per coordinate.
fn fd(u: &dyn Fn(&[f64]) -> f64, x: &[f64], s1: &[f64], s2: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let d = x.len();
    let at = |dx: &[(usize, f64)]| {
        let mut y = x.to_vec();
        for &(i, t) in dx {
            y[i] += t;
        }
        u(&y)
    };
    let g = (0..d)
        .map(|i| (at(&[(i, s1[i])]) - at(&[(i, -s1[i])])) / (2.0 * s1[i]))
        .collect();
    let mut h = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            let (a, b) = (s2[i], s2[j]);
            h[i * d + j] =
                (at(&[(i, a), (j, b)]) - at(&[(i, a), (j, -b)]) - at(&[(i, -a), (j, b)])
                    + at(&[(i, -a), (j, -b)]))
                    / (4.0 * a * b);
        }
    }
    (g, h)
}

/// The task's residuals, unscaled: `L u - f` per interior point, then the
/// boundary rows against their data (weights 1).
fn residuals(t: &PdeTask, net: &Network) -> (Vec<f64>, Vec<f64>) {
    let task = Task::Pde(Box::new(t.clone()));
    let mut r = vec![0.0; t.data.n_interior() + t.data.n_boundary()];
    match task.least_squares(net) {
        crate::task::Residual::Factored(mut k) => k.residuals_into(net, &mut r),
        crate::task::Residual::Rows(mut k) => k.residuals_into(net, &mut r),
    };
    let (ni, nb) = (t.data.n_interior() as f64, t.data.n_boundary() as f64);
    let (a, b) = r.split_at(t.data.n_interior());
    (
        a.iter().map(|v| v * ni.sqrt()).collect(),
        b.iter().map(|v| v * nb.sqrt()).collect(),
    )
}

fn col(m: &Mat<f64>, j: usize) -> Vec<f64> {
    (0..m.nrows()).map(|i| m[(i, j)]).collect()
}

fn close(what: &str, got: f64, want: f64, size: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * size,
        "{what}: rows {got:e}, finite differences {want:e} (size {size:e})"
    );
}

/// First order on a shifted box with a periodic coordinate: the interior
/// rows are `c . grad U - f` and the inflow rows `U - g` of the composed `U`.
#[test]
fn first_order_rows_are_the_chain_rule_of_the_composed_network() {
    let t = task(
        r#"problem = "custom"
vars = ["x", "t"]
lo = [5.0, 10.0]
hi = [35.0, 50.0]
periodic = [true, false]
c = ["2 + 0.01*t", "1"]
f = "0.01*x"
g = "sin(x)"
n_interior = 40
n_boundary = 10"#,
    );
    let p = &t.problem;
    assert_eq!(
        p.scale,
        PdeScale::Unit,
        "custom problems default to the map"
    );
    let net = NetworkSpec::new(vec![3, 8, 8, 1]).build(3).unwrap();
    let u = composed(p, &net);
    let (ri, rb) = residuals(&t, &net);
    // Inputs are in [-1, 1] (t mapped; cos, sin of x as before).
    let e = &t.data.e_int;
    assert!((0..e.ncols()).all(|j| (0..3).all(|i| e[(i, j)].abs() <= 1.0 + 1e-12)));
    for j in 0..t.data.n_interior() {
        let x = col(&t.data.x_int, j);
        let s: Vec<f64> = (0..2).map(|i| 1e-5 * (p.hi[i] - p.lo[i])).collect();
        let (g, _) = fd(&u, &x, &s, &s);
        let c = p.c_at(&x);
        let lu = c[0] * g[0] + c[1] * g[1];
        let size = c[0].abs() * g[0].abs() + c[1].abs() * g[1].abs() + 1e-3;
        close("interior", ri[j], lu - (p.f)(&x), size, 1e-6);
    }
    for j in 0..t.data.n_boundary() {
        let x = col(&t.data.x_bc, j);
        close("inflow", rb[j], u(&x) - (p.g)(&x), 1.0, 1e-12);
    }
    // Unmapped, the same network gives other rows: the test can fail.
    let mut none = t.clone();
    none.cfg.scale = Some(PdeScale::None);
    let none = PdeTask::new(none.cfg.problem().unwrap(), none.cfg, 5).unwrap();
    assert!(none.problem.input_map().is_none());
    assert_ne!(residuals(&none, &net).0, ri);
}

/// Second order with per-point coefficients, Neumann and Robin pieces on a
/// shifted and stretched plate with a hole: interior rows `A : Hess U + c .
/// grad U + r U - f`, boundary rows `alpha U + beta n . grad U - data` with
/// the physical outward normal `n`.
#[test]
fn second_order_rows_and_normal_derivatives_are_the_chain_rule() {
    let t = task(
        r#"problem = "custom"
order = 2
vars = ["x", "y"]
a = [["-1 - 0.001*x", "0.3"], ["0.3", "-2"]]
c = ["0.5", "0.01*x"]
r = "0.2"
f = "0.05*x"
sampling = "sobol"
n_interior = 40
n_boundary = 40
bc = [
  { on = "outer.x_lo", kind = "dirichlet", value = "1" },
  { on = "outer.x_hi", kind = "neumann", value = "0.5" },
  { on = "outer.y_lo", kind = "robin", alpha = "2", beta = "1", value = "0" },
  { on = "outer.y_hi", kind = "robin", alpha = "2", beta = "1", value = "0" },
  { on = "hole", kind = "robin", alpha = "1", beta = "3", value = "y" },
]
[domain]
shape = "difference"
parts = [
  { shape = "box", lo = [10.0, -4.0], hi = [50.0, 6.0] },
  { shape = "ball", center = [30.0, 1.0], radius = 2.5 },
]"#,
    );
    let p = &t.problem;
    let m = p.input_map().unwrap();
    assert_eq!((m.shift, m.scale), (vec![30.0, 1.0], vec![20.0, 5.0]));
    let net = NetworkSpec::new(vec![2, 10, 10, 1]).build(4).unwrap();
    let u = composed(p, &net);
    let (ri, rb) = residuals(&t, &net);
    let s1 = [2e-4, 5e-5];
    let s2 = [2e-2, 5e-3];
    let s = p.op.second.as_ref().unwrap();
    for j in 0..t.data.n_interior() {
        let x = col(&t.data.x_int, j);
        let (g, h) = fd(&u, &x, &s1, &s2);
        let (mut a, c) = (vec![0.0; 4], p.c_at(&x));
        (s.a)(&x, &mut a);
        let terms = [
            a[0] * h[0],
            a[1] * h[1] + a[2] * h[2],
            a[3] * h[3],
            c[0] * g[0],
            c[1] * g[1],
            (s.r)(&x) * u(&x),
        ];
        let size: f64 = terms.iter().map(|v| v.abs()).sum::<f64>() + 1e-3;
        close(
            "interior",
            ri[j],
            terms.iter().sum::<f64>() - (p.f)(&x),
            size,
            1e-5,
        );
    }
    let (mut neumann, mut hole) = (0, 0);
    for j in 0..t.data.n_boundary() {
        let x = col(&t.data.x_bc, j);
        let (g, _) = fd(&u, &x, &s1, &s2);
        let dn = |n: [f64; 2]| n[0] * g[0] + n[1] * g[1];
        let rho = ((x[0] - 30.0).powi(2) + (x[1] - 1.0).powi(2)).sqrt();
        let want = if (rho - 2.5).abs() < 1e-9 {
            hole += 1;
            let n = [-(x[0] - 30.0) / 2.5, -(x[1] - 1.0) / 2.5];
            u(&x) + 3.0 * dn(n) - x[1]
        } else if x[0] == 10.0 {
            u(&x) - 1.0
        } else if x[0] == 50.0 {
            neumann += 1;
            dn([1.0, 0.0]) - 0.5
        } else {
            let n = if x[1] == -4.0 {
                [0.0, -1.0]
            } else {
                [0.0, 1.0]
            };
            2.0 * u(&x) + dn(n)
        };
        close("boundary", rb[j], want, 1.0 + g[0].abs() + g[1].abs(), 1e-6);
    }
    assert!(
        neumann > 0 && hole > 0,
        "{neumann} Neumann, {hole} hole points"
    );
}

/// The saved model's scaling is the map; `Problem::network_inputs` and
/// `Affine::apply` agree bit for bit, so predictions at physical points are
/// the trained network's values.
#[test]
fn the_model_scaling_is_the_training_map() {
    let t = task(
        r#"problem = "custom"
vars = ["x", "t"]
lo = [0.0, 0.0]
hi = [50.0, 20.0]
c = ["2.5", "1"]
g = "sin(x)"
n_interior = 30
n_boundary = 10"#,
    );
    let s = t.problem.input_scaling().unwrap();
    assert_eq!(s.kind, ScaleKind::Minmax);
    assert_eq!(s.inputs.apply(t.data.x_test.as_ref()), t.data.e_test);
    assert_eq!((s.outputs.shift[0], s.outputs.scale[0]), (0.0, 1.0));
    // The corners land on -1 and 1.
    assert_eq!(t.problem.network_inputs(&[vec![0.0, 20.0]]), {
        let mut m = Mat::zeros(2, 1);
        (m[(0, 0)], m[(1, 0)]) = (-1.0, 1.0);
        m
    });
}

/// Built-ins keep physical coordinates unless asked; unknown values are refused.
#[test]
fn builtins_default_to_none_and_bad_values_are_refused() {
    let cfg = PdeConfig {
        problem: "poisson2d".into(),
        ..PdeConfig::default()
    };
    assert_eq!(cfg.scale_kind(), PdeScale::None);
    assert!(cfg.problem().unwrap().input_map().is_none());
    let unit = PdeConfig {
        scale: Some(PdeScale::Unit),
        ..cfg
    };
    let m = unit.problem().unwrap().input_map().unwrap();
    assert_eq!((m.shift, m.scale), (vec![0.5, 0.5], vec![0.5, 0.5]));
    let e = toml::from_str::<PdeConfig>("scale = \"minmax\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown variant `minmax`") && e.contains("`unit`"),
        "{e}"
    );
}
