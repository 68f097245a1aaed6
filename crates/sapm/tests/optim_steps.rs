//! The first-order optimisers' updates against the textbook formulas, written
//! out independently here on a separable quadratic (cargo mutants found that
//! the end-to-end tests accept a wrong Adam moment or bias correction).

use sapm::NetworkSpec;
use sapm::config::Method;
use sapm::net::Network;
use sapm::objective::Objective;
use sapm::optim::{Adam, AdamConfig, GradientDescent, Trainer};

/// `f(theta) = sum_i a_i (theta_i - c_i)^2`, gradient `2 a_i (theta_i - c_i)`.
struct Quad {
    a: Vec<f64>,
    c: Vec<f64>,
}

impl Quad {
    fn grad(&self, p: &[f64]) -> Vec<f64> {
        (0..p.len())
            .map(|i| 2.0 * self.a[i] * (p[i] - self.c[i]))
            .collect()
    }
    fn f(&self, p: &[f64]) -> f64 {
        (0..p.len())
            .map(|i| self.a[i] * (p[i] - self.c[i]).powi(2))
            .sum()
    }
}

impl Objective for Quad {
    fn value(&mut self, net: &Network) -> f64 {
        self.f(&net.params())
    }
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
        let p = net.params();
        grad.copy_from_slice(&self.grad(&p));
        self.f(&p)
    }
}

/// A 2-parameter network (one affine layer, 1 -> 1) at `p0`, and the quadratic.
fn setup() -> (Network, Quad, Vec<f64>) {
    let mut net = NetworkSpec::new(vec![1, 1]).build(0).unwrap();
    let p0 = vec![0.7, -1.3];
    net.set_params(&p0);
    // Curvatures 100x apart, so per-coordinate scaling shows.
    let q = Quad {
        a: vec![3.0, 0.03],
        c: vec![-0.4, 2.0],
    };
    (net, q, p0)
}

fn close(got: &[f64], want: &[f64], what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-14 * w.abs().max(1.0),
            "{what}: {got:?} against {want:?}"
        );
    }
}

#[test]
fn adam_steps_follow_kingma_and_ba() {
    // Non-default constants, with eps large enough to matter.
    let cfg = AdamConfig {
        lr: 0.05,
        beta1: 0.8,
        beta2: 0.95,
        eps: 1e-2,
    };
    let (mut net, q, p0) = setup();
    let mut adam = Adam::new(
        Box::new(Quad {
            a: q.a.clone(),
            c: q.c.clone(),
        }),
        cfg,
    );
    assert_eq!(adam.name(), Method::LsAdam.name());
    adam.start(&net).unwrap();
    let (mut p, mut m, mut v) = (p0.clone(), [0.0; 2], [0.0; 2]);
    for t in 1..=6 {
        let out = adam.step(&mut net).unwrap();
        // The objective reported is the one before the update.
        assert!((out.objective - q.f(&p)).abs() <= 1e-15 * q.f(&p).max(1.0));
        let g = q.grad(&p);
        for i in 0..2 {
            m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * g[i];
            v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * g[i] * g[i];
            let mh = m[i] / (1.0 - cfg.beta1.powi(t));
            let vh = v[i] / (1.0 - cfg.beta2.powi(t));
            p[i] -= cfg.lr * mh / (vh.sqrt() + cfg.eps);
        }
        close(&net.params(), &p, &format!("Adam step {t}"));
    }
}

#[test]
fn gradient_descent_steps_are_theta_minus_lr_grad() {
    let (mut net, q, p0) = setup();
    let lr = 0.1;
    let mut gd = GradientDescent::new(
        Box::new(Quad {
            a: q.a.clone(),
            c: q.c.clone(),
        }),
        lr,
    );
    assert_eq!(gd.name(), Method::LsGd.name());
    gd.start(&net).unwrap();
    let mut p = p0;
    for t in 1..=5 {
        gd.step(&mut net).unwrap();
        let g = q.grad(&p);
        for i in 0..2 {
            p[i] -= lr * g[i];
        }
        close(&net.params(), &p, &format!("GD step {t}"));
    }
}
