//! The weight step: exact (coupled) or frozen-omega minimisation of `J` over
//! one layer's `[W_l, b_l]`, from the data of the last accumulation, with
//! optional relative ridge, proximal term and norm cap.

use super::config::OmegaMode;
use super::loss::Weighting;
use super::passes::Accumulate;
use super::trainer::PenaltyTrainer;
use crate::error::{Error, Result};
use crate::linalg::{Regularization, SolveMethod, solve_gram_into, solve_qr_factor_into};
use crate::net::Network;
use crate::perf;
use faer::{Mat, MatRef};
use std::time::Instant;

impl Weighting {
    /// The method this weighting makes: `pm` or `sapm`.
    pub fn method_name(&self) -> &'static str {
        match self {
            Weighting::Constant(_) => "pm",
            Weighting::SelfAdaptive => "sapm",
        }
    }

    /// Coupled ridge `lambda_l = sum_{k<l} R_k prod_{j>k, j!=l} n_j / omega_l`
    /// of the exact SAPM weight step (zero for PM, frozen omega and `l = 0`).
    pub fn coupled_lambda(
        &self,
        omega_mode: OmegaMode,
        l: usize,
        norms: &[f64],
        r: &[f64],
        omega_l: f64,
    ) -> f64 {
        if omega_mode == OmegaMode::Frozen || !matches!(self, Weighting::SelfAdaptive) || l == 0 {
            return 0.0;
        }
        let mut c = 0.0;
        for (k, rk) in r.iter().enumerate().take(l) {
            let prod: f64 = norms
                .iter()
                .enumerate()
                .skip(k + 1)
                .filter(|&(j, _)| j != l)
                .map(|(_, nj)| nj)
                .product();
            c += rk * prod;
        }
        if c == 0.0 {
            0.0
        } else {
            c / omega_l.max(f64::MIN_POSITIVE)
        }
    }
}

impl PenaltyTrainer<'_> {
    /// Sum the Gram data over processes (multi-process reducers only).
    pub(super) fn reduce_gram(&mut self) -> Result<()> {
        let st = self.st.as_mut().expect("started");
        if st.mode != Accumulate::Gram {
            return Ok(());
        }
        st.pack.clear();
        for d in &st.data {
            let k = d.gram.nrows();
            for j in 0..k {
                for i in j..k {
                    st.pack.push(d.gram[(i, j)]);
                }
            }
            for j in 0..d.rhs.ncols() {
                st.pack.extend_from_slice(d.rhs.col_as_slice(j));
            }
        }
        self.reducer.all_reduce_sum(&mut st.pack)?;
        let mut it = st.pack.iter();
        for d in &mut st.data {
            let k = d.gram.nrows();
            for j in 0..k {
                for i in j..k {
                    d.gram[(i, j)] = *it.next().expect("packed Gram");
                }
            }
            for j in 0..d.rhs.ncols() {
                for v in d.rhs.col_as_slice_mut(j) {
                    *v = *it.next().expect("packed Gram");
                }
            }
        }
        Ok(())
    }

    /// Exact (coupled) or frozen-omega minimisation over `[W_l, b_l]`, from
    /// the data of the last accumulation.
    pub(super) fn weight_step(&mut self, net: &mut Network, l: usize) -> Result<()> {
        let t0 = Instant::now();
        let depth = net.depth();
        {
            let st = self.st.as_mut().expect("started");
            net.weight_norms_sq_into(&mut st.norms);
            self.weighting.omega_into(&st.norms, &mut st.omega);
        }
        let st = self.st.as_ref().expect("started");
        let lambda_c =
            self.weighting
                .coupled_lambda(self.cfg.omega_mode, l, &st.norms, &st.r, st.omega[l]);
        let st = self.st.as_mut().expect("started");
        let mode = st.mode;
        let k = net.widths()[l] + 1;
        let data = &st.data[l];
        let scale = data.gram_trace(k, mode) / k as f64;
        {
            let reg = Regularization {
                lambda: lambda_c + self.cfg.ridge * scale,
                rho: self.cfg.prox * scale,
                center: Some(net.layer(l)),
            };
            let out = st.w_new[l].as_mut();
            let ws = &mut st.solve_ws[l];
            let fb = match mode {
                Accumulate::Gram => {
                    solve_gram_into(data.gram.as_ref(), data.rhs.as_ref(), &reg, ws, out)?
                }
                Accumulate::Tsqr => {
                    solve_qr_factor_into(data.rf.as_ref(), data.rows, &reg, ws, out)?
                }
            };
            self.stats.solves += 1;
            self.stats.solve_fallbacks += fb as usize;
            let solver = match mode {
                Accumulate::Gram => SolveMethod::Cholesky,
                Accumulate::Tsqr => SolveMethod::Qr,
            };
            st.flops.solve +=
                perf::solve_flops(net.widths(), l, solver, reg.lambda > 0.0 || reg.rho > 0.0);
            let cap = if l + 1 == depth {
                self.cfg.cap_output
            } else {
                self.cfg.cap_hidden
            };
            if cap > 0.0 && st.w_new[l].as_ref().subcols(0, k - 1).squared_norm_l2() > cap {
                // Optional path (allocates): the normal equations of the layer.
                let m = net.widths()[l + 1];
                let (g, r) = match mode {
                    Accumulate::Gram => (
                        Mat::from_fn(k, k, |i, j| {
                            if i >= j {
                                data.gram[(i, j)]
                            } else {
                                data.gram[(j, i)]
                            }
                        }),
                        data.rhs.clone(),
                    ),
                    Accumulate::Tsqr => {
                        let ra = data.rf.as_ref().submatrix(0, 0, k, k);
                        let c = data.rf.as_ref().submatrix(0, k, k, m);
                        (ra.transpose() * ra, ra.transpose() * c)
                    }
                };
                let (wc, fb) = capped_solve(g.as_ref(), r.as_ref(), &reg, cap)?;
                self.stats.solve_fallbacks += fb as usize;
                st.w_new[l].copy_from(&wc);
            }
        }
        net.layer_mut(l).copy_from(&st.w_new[l]);
        st.stale = true;
        st.flops.seconds[1] += t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// Norms, omega and every value-only set's per-layer inverse curvature
    /// bounds `1 / (scale_s (omega_l + omega_{l+1} K^2 |W_{l+1}|_F^2))` at
    /// the current weights.
    pub(super) fn update_scalings(&mut self, net: &Network) {
        let st = self.st.as_mut().expect("started");
        net.weight_norms_sq_into(&mut st.norms);
        self.weighting.omega_into(&st.norms, &mut st.omega);
        let k2 = st.k2;
        for ss in &mut st.sets {
            let scale = ss.passes.info.scale;
            for l in 0..net.depth() - 1 {
                let lip = scale * (st.omega[l] + st.omega[l + 1] * k2 * st.norms[l + 1]);
                ss.inv[l] = if lip > 0.0 { 1.0 / lip } else { 0.0 };
            }
        }
    }
}

/// Smallest extra ridge `mu >= 0` with `|W(lambda + mu)|_F^2 <= cap`, by
/// bracketing and bisection on the normal equations.
pub fn capped_solve(
    g: MatRef<'_, f64>,
    r: MatRef<'_, f64>,
    reg: &Regularization<'_>,
    cap: f64,
) -> Result<(Mat<f64>, bool)> {
    let (k, m) = (g.nrows(), r.ncols());
    // Base system A X = B of the weight step (ridge on the weights, proximal on all).
    let mut a = Mat::from_fn(k, k, |i, j| g[(i, j)]);
    let mut b = r.to_owned();
    reg.add_to_diagonal(a.as_mut());
    reg.add_to_rhs(b.as_mut(), "capped weight step")?;
    // The bias is not penalised: eliminate it (Schur complement), which leaves a
    // plain ridge problem (S + mu I) X_w = H in the weights. With S = U diag(s) U^T
    // and C = U^T H, |X_w(mu)|^2 = sum_i |C_i|^2 / (s_i + mu)^2 costs O(k) per mu,
    // so the cap is met to round-off by bisection at no real cost (a trust-region
    // "secular equation").
    let nb = k - 1;
    let abb = a[(nb, nb)];
    if !(abb > 0.0 && abb.is_finite()) {
        return Err(Error::numerical(
            "capped weight step",
            format!("bias pivot {abb} is not positive"),
        ));
    }
    let sm = Mat::from_fn(nb, nb, |i, j| a[(i, j)] - a[(i, nb)] * a[(nb, j)] / abb);
    let h = Mat::from_fn(nb, m, |i, o| b[(i, o)] - a[(i, nb)] * b[(nb, o)] / abb);
    let eig = sm.self_adjoint_eigen(faer::Side::Lower).map_err(|e| {
        Error::numerical(
            "capped weight step",
            format!("eigendecomposition failed: {e:?}"),
        )
    })?;
    let (u, sv) = (eig.U(), eig.S().column_vector());
    let c = u.transpose() * &h;
    let c2: Vec<f64> = (0..nb)
        .map(|i| (0..m).map(|o| c[(i, o)] * c[(i, o)]).sum())
        .collect();
    let ev: Vec<f64> = (0..nb).map(|i| sv[i]).collect();
    let norm2 = |mu: f64| -> f64 {
        c2.iter()
            .zip(&ev)
            .map(|(c2, s)| {
                let d = s + mu;
                if d > 0.0 {
                    c2 / (d * d)
                } else if *c2 > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                }
            })
            .sum()
    };
    let smin = ev.iter().cloned().fold(f64::INFINITY, f64::min);
    let smax = ev.iter().cloned().fold(0.0f64, f64::max);
    let mut lo = (-smin).max(0.0);
    let mut hi = lo + smax.max(f64::MIN_POSITIVE) * 1e-12;
    let mut tries = 0;
    while norm2(hi) > cap {
        lo = hi;
        hi = 2.0 * hi + smax.max(1e-300) * 1e-12;
        tries += 1;
        if tries > 2000 {
            return Err(Error::numerical(
                "capped weight step",
                "could not reach the norm cap",
            ));
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if norm2(mid) > cap { lo = mid } else { hi = mid }
    }
    let mu = hi;
    // X_w = U (diag(s) + mu)^{-1} C, then the bias from the eliminated row.
    let scaled = Mat::from_fn(nb, m, |i, o| c[(i, o)] / (ev[i] + mu));
    let xw = u * &scaled;
    let mut w = Mat::<f64>::zeros(m, k);
    for o in 0..m {
        let mut bias = b[(nb, o)];
        for i in 0..nb {
            w[(o, i)] = xw[(i, o)];
            bias -= a[(nb, i)] * xw[(i, o)];
        }
        w[(o, nb)] = bias / abb;
    }
    let finite = (0..k).all(|j| (0..m).all(|o| w[(o, j)].is_finite()));
    if !finite {
        return Err(Error::numerical(
            "capped weight step",
            "solution is not finite",
        ));
    }
    Ok((w, false))
}
