//! Finite-difference checks of VarPro, shared by the regression and the PDE
//! tests.

use faer::Mat;
use sapm::net::Network;
use sapm::optim::lm::normal::Normal;
use sapm::optim::lm::{LmModel, VarPro};

/// `f(theta_h) = min over the output layer of |r|^2 + mu |theta_L|^2`:
/// VarPro's gradient `2 J_K^T r` is its exact gradient (central differences
/// of `f`), and the Kaufman Jacobian `J_K = (I - Q Q^T) dr/dtheta_h` is the
/// projection of the reduced residual's Jacobian onto the complement of
/// `range(A)` (the reduced Jacobian's other term lies in `range(A)`).
pub fn check_reduced_gradient_and_kaufman_jacobian(
    vp: &mut VarPro<'_>,
    net: &mut Network,
    name: &str,
) {
    vp.prepare(net).unwrap();
    let (m, ph) = (vp.residual_count(), vp.dim(net));
    let mut r = vec![0.0; m];
    vp.residuals_into(net, &mut r);
    let mut normal = Normal::new(true, vp.factored(), m, ph);
    normal.linearize(vp, net, &r);
    let g: Vec<f64> = normal.grad().iter().map(|v| 2.0 * v).collect();
    let mut jh = Mat::zeros(m, ph);
    vp.jacobian_rows_into(net, 0..m, jh.as_mut());
    let q = vp.projector().unwrap().to_owned();
    let project = |j: &Mat<f64>| j - &q * (q.transpose() * j);
    let jk = project(&jh);

    let mut theta = vec![0.0; ph];
    vp.params_into(net, &mut theta);
    let mut reduced = |t: &[f64]| {
        let mut n2 = net.clone();
        vp.set_params(&mut n2, t).unwrap();
        let mut rr = vec![0.0; m];
        let f = vp.residuals_into(&n2, &mut rr);
        (f, rr)
    };
    let h = 1e-6;
    let mut fd = Mat::zeros(m, ph);
    for k in 0..ph {
        let mut tp = theta.clone();
        tp[k] += h;
        let (fp, rp) = reduced(&tp);
        tp[k] -= 2.0 * h;
        let (fm, rm) = reduced(&tp);
        let dfd = (fp - fm) / (2.0 * h);
        assert!(
            (dfd - g[k]).abs() <= 1e-6 * (1e-4 + g[k].abs()),
            "{name} param {k}: fd {dfd:e} vs {:e}",
            g[k]
        );
        for i in 0..m {
            fd[(i, k)] = (rp[i] - rm[i]) / (2.0 * h);
        }
    }
    let fdk = project(&fd);
    let scale = jk.norm_max();
    let err = (&fdk - &jk).norm_max() / scale;
    assert!(err < 1e-6, "{name}: Kaufman Jacobian off by {err:e}");
}
