//! Forward-mode second input derivatives of the network, along the pairs of
//! directions an operator needs (for `u_xx` only that one, not the Hessian).
//!
//! Directions `v_k` (`d x n` each, one vector per sample) and pairs
//! `(k, m)` of them. With `p_0 = [x; 1]`, `q_{0,k} = [v_k; 0]`,
//! `h_{0,km} = 0`, every layer computes
//!
//! ```text
//! z_l = W~_l p_l     dz_{l,k} = W~_l q_{l,k}     d2z_{l,km} = W~_l h_{l,km}
//! p_{l+1}    = [s(z_l); 1]
//! q_{l+1,k}  = [s'(z_l) (.) dz_{l,k}; 0]
//! h_{l+1,km} = [s''(z_l) (.) dz_{l,k} (.) dz_{l,m} + s'(z_l) (.) d2z_{l,km}; 0]
//! ```
//!
//! (the bias meets the zeros). The outputs are `u`, `grad u . v_k` and
//! `v_k^T (Hess u) v_m`, all exact. Activations without a second derivative
//! (ReLU) are refused by [`require_second_derivative`].

use crate::error::{Error, Result};
use crate::net::{Activation, Network, matmul_into, ones_row_mat};
use faer::{Mat, MatRef};

/// `(s'(z), s''(z), s'''(z))` given `s = s(z)` (tanh, sigmoid and sin reuse `s`).
#[inline]
pub(crate) fn derivs3(act: Activation, z: f64, s: f64) -> (f64, f64, f64) {
    match act {
        Activation::Tanh => {
            let d = 1.0 - s * s;
            (d, -2.0 * s * d, -2.0 * d * d + 4.0 * s * s * d)
        }
        Activation::Sigmoid => {
            let d = s * (1.0 - s);
            (d, d * (1.0 - 2.0 * s), d * (1.0 - 6.0 * d))
        }
        Activation::Sin => {
            let c = z.cos();
            (c, -s, -c)
        }
        _ => (act.deriv(z), act.deriv2(z), act.deriv3(z)),
    }
}

/// `Ok` if `act` has the derivatives a second-order operator needs (the
/// second, and the third for the parameter gradient); a clear error otherwise.
pub fn require_second_derivative(act: Activation) -> Result<()> {
    if act.is_smooth() {
        Ok(())
    } else {
        Err(Error::config(
            "network.activation",
            format!(
                "a second-order PDE needs an activation with second and third derivatives; {act} has none (use tanh, sin, sigmoid or softplus)"
            ),
        ))
    }
}

/// Buffers of one second-order forward pass over `n` samples.
#[derive(Debug, Clone)]
pub struct SecondCache {
    /// The pairs `(k, m)` of directions, `k <= m`.
    pub pairs: Vec<(usize, usize)>,
    /// `p_l = [s(z_{l-1}); 1]` (`p_0 = [x; 1]`).
    pub p: Vec<Mat<f64>>,
    /// `q_{l,k}`, per layer then direction.
    pub q: Vec<Vec<Mat<f64>>>,
    /// `h_{l,km}`, per layer then pair.
    pub h: Vec<Vec<Mat<f64>>>,
    /// Pre-activations `z_l`; the last is `u`.
    pub z: Vec<Mat<f64>>,
    /// `dz_{l,k}`; the last are `grad u . v_k`.
    pub dz: Vec<Vec<Mat<f64>>>,
    /// `d2z_{l,km}`; the last are `v_k^T (Hess u) v_m`.
    pub d2z: Vec<Vec<Mat<f64>>>,
}

impl SecondCache {
    /// Buffers for `widths`, `dirs` directions, `pairs` and `n` samples.
    pub fn new(widths: &[usize], dirs: usize, pairs: &[(usize, usize)], n: usize) -> Self {
        let depth = widths.len() - 1;
        let zeros = |r: usize, k: usize| (0..k).map(|_| Mat::zeros(r, n)).collect::<Vec<_>>();
        SecondCache {
            pairs: pairs.to_vec(),
            p: (0..depth).map(|l| ones_row_mat(widths[l], n)).collect(),
            q: (0..depth).map(|l| zeros(widths[l] + 1, dirs)).collect(),
            h: (0..depth)
                .map(|l| zeros(widths[l] + 1, pairs.len()))
                .collect(),
            z: (0..depth).map(|l| Mat::zeros(widths[l + 1], n)).collect(),
            dz: (0..depth).map(|l| zeros(widths[l + 1], dirs)).collect(),
            d2z: (0..depth)
                .map(|l| zeros(widths[l + 1], pairs.len()))
                .collect(),
        }
    }

    /// Number of directions.
    pub fn dirs(&self) -> usize {
        self.q.first().map_or(0, Vec::len)
    }
}

/// Forward pass of values, first derivatives along `dirs` and second
/// derivatives along `c.pairs`, at the columns of `x`.
pub fn second_forward_into(
    net: &Network,
    x: MatRef<'_, f64>,
    dirs: &[MatRef<'_, f64>],
    c: &mut SecondCache,
) {
    let d = net.input_dim();
    let act = net.activation();
    assert_eq!(dirs.len(), c.dirs(), "direction count");
    c.p[0].as_mut().subrows_mut(0, d).copy_from(x);
    for (q, v) in c.q[0].iter_mut().zip(dirs) {
        q.as_mut().subrows_mut(0, d).copy_from(v);
    }
    for h in &mut c.h[0] {
        h.fill(0.0);
    }
    let depth = net.depth();
    for l in 0..depth {
        let w = net.layer(l);
        matmul_into(c.z[l].as_mut(), w, c.p[l].as_ref());
        for (dz, q) in c.dz[l].iter_mut().zip(&c.q[l]) {
            matmul_into(dz.as_mut(), w, q.as_ref());
        }
        for (d2z, h) in c.d2z[l].iter_mut().zip(&c.h[l]) {
            matmul_into(d2z.as_mut(), w, h.as_ref());
        }
        if l + 1 == depth {
            break;
        }
        let (z, dz, d2z) = (&c.z[l], &c.dz[l], &c.d2z[l]);
        let (p, q, h) = (&mut c.p[l + 1], &mut c.q[l + 1], &mut c.h[l + 1]);
        for j in 0..z.ncols() {
            for i in 0..z.nrows() {
                let zz = z[(i, j)];
                let s = act.eval(zz);
                let (s1, s2, _) = derivs3(act, zz, s);
                p[(i, j)] = s;
                for (qk, dk) in q.iter_mut().zip(dz) {
                    qk[(i, j)] = s1 * dk[(i, j)];
                }
                for (t, &(k, m)) in c.pairs.iter().enumerate() {
                    h[t][(i, j)] = s2 * dz[k][(i, j)] * dz[m][(i, j)] + s1 * d2z[t][(i, j)];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NetworkSpec;

    /// `u(x + a v_k + b v_m)` around `x` by central differences: the mixed
    /// second derivative `v_k^T H v_m`.
    fn fd_second(net: &Network, x: &Mat<f64>, vk: &Mat<f64>, vm: &Mat<f64>, h: f64) -> Mat<f64> {
        let at = |a: f64, b: f64| {
            let xs = x + vk * faer::Scale(a) + vm * faer::Scale(b);
            net.predict(xs.as_ref()).unwrap()
        };
        let (pp, pm, mp, mm) = (at(h, h), at(h, -h), at(-h, h), at(-h, -h));
        Mat::from_fn(1, x.ncols(), |_, j| {
            (pp[(0, j)] - pm[(0, j)] - mp[(0, j)] + mm[(0, j)]) / (4.0 * h * h)
        })
    }

    #[test]
    fn second_derivatives_match_finite_differences_for_every_smooth_activation() {
        let n = 7;
        for act in [
            Activation::Tanh,
            Activation::Sin,
            Activation::Sigmoid,
            Activation::Softplus,
        ] {
            let net = NetworkSpec::new(vec![3, 6, 5, 4, 1])
                .with_activation(act)
                .build(4)
                .unwrap();
            let x = Mat::from_fn(3, n, |i, j| ((2 * i + 5 * j) as f64 * 0.37).sin());
            // A per-sample direction and two coordinate directions.
            let v0 = Mat::from_fn(3, n, |i, j| ((i + 3 * j) as f64 * 0.91).cos());
            let v1 = Mat::from_fn(3, n, |i, _| if i == 0 { 1.0 } else { 0.0 });
            let v2 = Mat::from_fn(3, n, |i, _| if i == 2 { 1.0 } else { 0.0 });
            let vs = [v0, v1, v2];
            let pairs = [(0, 0), (1, 1), (1, 2), (0, 2)];
            let mut c = SecondCache::new(net.widths(), 3, &pairs, n);
            let dirs: Vec<_> = vs.iter().map(|v| v.as_ref()).collect();
            second_forward_into(&net, x.as_ref(), &dirs, &mut c);
            let top = net.depth() - 1;
            let u = net.predict(x.as_ref()).unwrap();
            let h1 = 1e-6;
            for (k, v) in vs.iter().enumerate() {
                let up = net.predict((&x + v * faer::Scale(h1)).as_ref()).unwrap();
                let um = net.predict((&x - v * faer::Scale(h1)).as_ref()).unwrap();
                for j in 0..n {
                    let fd = (up[(0, j)] - um[(0, j)]) / (2.0 * h1);
                    let an = c.dz[top][k][(0, j)];
                    assert!(
                        (fd - an).abs() < 1e-8 * (1.0 + an.abs()),
                        "{act}: {fd} {an}"
                    );
                }
            }
            for (t, &(k, m)) in pairs.iter().enumerate() {
                let fd = fd_second(&net, &x, &vs[k], &vs[m], 1e-4);
                for j in 0..n {
                    let an = c.d2z[top][t][(0, j)];
                    assert!(
                        (fd[(0, j)] - an).abs() < 1e-6 * (1.0 + an.abs()),
                        "{act} pair {t}: fd {} vs {an}",
                        fd[(0, j)]
                    );
                    assert!((c.z[top][(0, j)] - u[(0, j)]).abs() < 1e-14);
                }
            }
        }
    }

    #[test]
    fn third_derivatives_of_the_activations_match_finite_differences() {
        for act in [
            Activation::Tanh,
            Activation::Sin,
            Activation::Sigmoid,
            Activation::Softplus,
        ] {
            for z in [-2.3, -0.4, 0.0, 0.7, 1.9] {
                let (s1, s2, s3) = derivs3(act, z, act.eval(z));
                let h = 1e-5;
                let fd2 = (act.deriv(z + h) - act.deriv(z - h)) / (2.0 * h);
                let fd3 = (act.deriv2(z + h) - act.deriv2(z - h)) / (2.0 * h);
                assert!((s1 - act.deriv(z)).abs() < 1e-14, "{act}");
                assert!((s2 - fd2).abs() < 1e-8, "{act} s'': {s2} vs {fd2}");
                assert!((s3 - fd3).abs() < 1e-8, "{act} s''': {s3} vs {fd3}");
            }
        }
    }

    #[test]
    fn activations_without_a_second_derivative_are_refused() {
        let e = require_second_derivative(Activation::Relu)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("network.activation") && e.contains("relu") && e.contains("second"),
            "{e}"
        );
        for act in Activation::ALL {
            assert_eq!(require_second_derivative(act).is_ok(), act.is_smooth());
        }
    }
}
