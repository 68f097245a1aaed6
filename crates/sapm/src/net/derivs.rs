//! Forward-mode directional input derivatives of the network.
//!
//! With `p_0 = [x; 1]`, `q_0 = [v; 0]` (`v` the direction, `J_e c` for a
//! first-order PDE), every layer computes `z_l = W~_l p_l`, `dz_l = W~_l q_l`
//! (the bias meets the 0), then `p_{l+1} = [s(z_l); 1]`,
//! `q_{l+1} = [s'(z_l) (.) dz_l; 0]`. The output pair is `(u, grad u . v)`.
//! Everything is exact (no finite differences).

use crate::net::{Activation, ForwardCache, Network, matmul_into};
use faer::{Mat, MatRef};

/// `(s'(z), s''(z))` given `s = s(z)`: tanh and sigmoid reuse `s` instead of
/// recomputing the transcendental function (the hot loops' main cost).
#[inline]
pub(crate) fn derivs(act: Activation, z: f64, s: f64) -> (f64, f64) {
    match act {
        Activation::Tanh => {
            let d = 1.0 - s * s;
            (d, -2.0 * s * d)
        }
        Activation::Sigmoid => {
            let d = s * (1.0 - s);
            (d, d * (1.0 - 2.0 * s))
        }
        _ => (act.deriv(z), act.deriv2(z)),
    }
}

/// Buffers of one directional forward pass over `n` samples.
#[derive(Debug, Clone)]
pub struct DirCache {
    /// `p_l = [s(z_{l-1}); 1]` (`p_0 = [x; 1]`).
    pub p: Vec<Mat<f64>>,
    /// `q_l = [s'(z_{l-1}) (.) dz_{l-1}; 0]` (`q_0 = [v; 0]`).
    pub q: Vec<Mat<f64>>,
    /// Pre-activations `z_l`; the last is `u`.
    pub z: Vec<Mat<f64>>,
    /// Directional derivatives `dz_l`; the last is `grad u . v`.
    pub dz: Vec<Mat<f64>>,
}

impl DirCache {
    /// Buffers for `widths` and `n` samples.
    pub fn new(widths: &[usize], n: usize) -> Self {
        let depth = widths.len() - 1;
        let ForwardCache { p, z } = ForwardCache::new(widths, n);
        let q = (0..depth).map(|l| Mat::zeros(widths[l] + 1, n)).collect();
        let dz = (0..depth).map(|l| Mat::zeros(widths[l + 1], n)).collect();
        DirCache { p, q, z, dz }
    }
}

/// Forward pass of values and directional derivatives along the columns of `v`.
pub fn dir_forward_into(net: &Network, x: MatRef<'_, f64>, v: MatRef<'_, f64>, c: &mut DirCache) {
    let d = net.input_dim();
    let act = net.activation();
    c.p[0].as_mut().subrows_mut(0, d).copy_from(x);
    c.q[0].as_mut().subrows_mut(0, d).copy_from(v);
    let depth = net.depth();
    for l in 0..depth {
        matmul_into(c.z[l].as_mut(), net.layer(l), c.p[l].as_ref());
        matmul_into(c.dz[l].as_mut(), net.layer(l), c.q[l].as_ref());
        if l + 1 < depth {
            let (z, dz) = (c.z[l].as_ref(), c.dz[l].as_ref());
            let (p, q) = (&mut c.p[l + 1], &mut c.q[l + 1]);
            for j in 0..z.ncols() {
                for i in 0..z.nrows() {
                    let zz = z[(i, j)];
                    let s = act.eval(zz);
                    p[(i, j)] = s;
                    q[(i, j)] = derivs(act, zz, s).0 * dz[(i, j)];
                }
            }
        }
    }
}

/// `grad u . v` at the columns of `x` (`1 x n` for a scalar output).
pub fn directional_derivative(net: &Network, x: MatRef<'_, f64>, v: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = DirCache::new(net.widths(), x.ncols());
    dir_forward_into(net, x, v, &mut c);
    c.dz.pop().unwrap_or_else(|| Mat::zeros(0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NetworkSpec;

    #[test]
    fn directional_derivatives_match_finite_differences() {
        for act in Activation::smooth() {
            let net = NetworkSpec::new(vec![3, 6, 5, 4, 1])
                .with_activation(act)
                .build(4)
                .unwrap();
            let x = Mat::from_fn(3, 7, |i, j| ((2 * i + 5 * j) as f64 * 0.37).sin());
            let v = Mat::from_fn(3, 7, |i, j| ((i + 3 * j) as f64 * 0.91).cos());
            let mut c = DirCache::new(net.widths(), 7);
            dir_forward_into(&net, x.as_ref(), v.as_ref(), &mut c);
            let h = 1e-6;
            let xp = &x + &v * faer::Scale(h);
            let xm = &x - &v * faer::Scale(h);
            let up = net.predict(xp.as_ref()).unwrap();
            let um = net.predict(xm.as_ref()).unwrap();
            let u = net.predict(x.as_ref()).unwrap();
            for j in 0..7 {
                let fd = (up[(0, j)] - um[(0, j)]) / (2.0 * h);
                let an = c.dz[3][(0, j)];
                assert!(
                    (fd - an).abs() < 1e-8 * (1.0 + an.abs()),
                    "{act}: {fd} vs {an}"
                );
                assert!((c.z[3][(0, j)] - u[(0, j)]).abs() < 1e-14);
            }
        }
    }
}
