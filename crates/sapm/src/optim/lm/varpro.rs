//! Variable projection (design note gauss-newton.md, section 3): the
//! residual is affine in the output layer, `r = A theta_L - b`, with `A` the
//! output-layer columns of the Jacobian (`[s(z_{L-1}); 1]` rows for values,
//! `[s'(z) (.) dz; 0]` rows for PDE residuals). For fixed hidden parameters
//! the output layer is solved exactly (slightly ridged least squares by QR),
//! and LM runs on the hidden parameters only with Kaufman's Jacobian
//! `(I - Q Q^T) dr/dtheta_h`, `Q` an orthonormal basis of `range(A)`.
//!
//! Nothing here is specific to regression: any [`LeastSquares`] residual
//! that is affine in the output layer works, so VarPro runs on PINNs too.

use super::model::{LmModel, Residuals};
use crate::error::{Error, Result};
use crate::net::Network;
use crate::objective::LeastSquares;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder;
use faer::linalg::qr::no_pivoting::factor as qr_factor;
use faer::{Conj, Mat, MatMut, MatRef, Par};
use std::ops::Range;

/// Thin Householder QR `a = Q R` (`a` is `n x k`, `n >= k`), sequential.
pub fn thin_qr(a: MatRef<'_, f64>) -> (Mat<f64>, Mat<f64>) {
    let (n, k) = (a.nrows(), a.ncols());
    let mut qr = a.to_owned();
    let bs = qr_factor::recommended_block_size::<f64>(n, k).max(1);
    let mut coeff = Mat::<f64>::zeros(bs, k.min(n));
    qr_factor::qr_in_place(
        qr.as_mut(),
        coeff.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(qr_factor::qr_in_place_scratch::<f64>(
            n,
            k,
            bs,
            Par::Seq,
            Default::default(),
        ))),
        Default::default(),
    );
    let r = Mat::from_fn(k, k, |i, j| if i <= j { qr[(i, j)] } else { 0.0 });
    let mut q = Mat::<f64>::zeros(n, k);
    for i in 0..k {
        q[(i, i)] = 1.0;
    }
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        qr.as_ref(),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                n, bs, k,
            ),
        )),
    );
    (q, r)
}

/// Columns `cols` of the Jacobian rows `rows` of `ls` into `dst`, through a
/// scratch of at most [`SUB_ROWS`] full rows.
fn jacobian_cols(
    ls: &mut dyn LeastSquares,
    net: &Network,
    rows: Range<usize>,
    cols: Range<usize>,
    mut dst: MatMut<'_, f64>,
) {
    let p = net.num_params();
    let sub = SUB_ROWS.min(rows.len()).max(1);
    let mut full = Mat::<f64>::zeros(sub, p);
    let mut s = rows.start;
    while s < rows.end {
        let len = sub.min(rows.end - s);
        ls.jacobian_rows_into(net, s..s + len, full.as_mut().subrows_mut(0, len));
        dst.as_mut()
            .subrows_mut(s - rows.start, len)
            .copy_from(full.as_ref().submatrix(0, cols.start, len, cols.len()));
        s += len;
    }
}

/// The Jacobian's output-layer columns `A` (`M x k`), from the task's
/// forward-only path when it has one.
fn output_design(ls: &mut dyn LeastSquares, net: &Network) -> Mat<f64> {
    let m = ls.residual_count();
    let p = net.num_params();
    let k = VarPro::output_params(net);
    let mut a = Mat::<f64>::zeros(m, k);
    if !ls.output_columns_into(net, 0..m, a.as_mut()) {
        jacobian_cols(ls, net, 0..m, p - k..p, a.as_mut());
    }
    a
}

/// The output layer's least-squares problem at `net`'s hidden layers: the
/// design `A` (`M x k`, the Jacobian's output-layer columns, which do not
/// depend on the output layer) and the targets `b` with `r = A theta_L - b`.
/// Valid for any residual affine in the output layer; VarPro and ELM on PDE
/// rows solve it.
pub fn output_system(ls: &mut dyn LeastSquares, net: &Network) -> (Mat<f64>, Vec<f64>) {
    let m = ls.residual_count();
    let p = net.num_params();
    let k = VarPro::output_params(net);
    let a = output_design(ls, net);
    let mut r = vec![0.0; m];
    ls.residuals_into(net, &mut r);
    let mut b = vec![0.0; m];
    super::dense::gemv(a.as_ref(), &net.params()[p - k..], &mut b);
    for (bi, ri) in b.iter_mut().zip(&r) {
        *bi -= ri;
    }
    (a, b)
}

/// LM on the hidden parameters, the output layer solved at every point.
pub struct VarPro<'a> {
    ls: Residuals<'a>,
    /// `mu`, the ridge of the output-layer solve.
    ridge: f64,
    /// Output-layer parameters `k`.
    k: usize,
    /// Orthonormal basis of the output layer's design matrix (`M x k`) at
    /// the current iterate, and at the last point solved.
    q: Mat<f64>,
    q_trial: Mat<f64>,
    /// Output-layer solves, and those that needed the SVD.
    pub(crate) solves: usize,
    pub(crate) fallbacks: usize,
}

/// Rows of the full Jacobian computed at once when extracting columns.
const SUB_ROWS: usize = 1024;

impl<'a> VarPro<'a> {
    /// VarPro on `ls` for networks shaped like `net`, with the ridge `mu >= 0`
    /// (the objective becomes `|r|^2 + mu |theta_L|^2`).
    pub fn new(ls: Residuals<'a>, net: &Network, ridge: f64) -> Self {
        VarPro {
            ls,
            ridge,
            k: Self::output_params(net),
            q: Mat::zeros(0, 0),
            q_trial: Mat::zeros(0, 0),
            solves: 0,
            fallbacks: 0,
        }
    }

    /// Parameters of the output layer: `m_L (m_{L-1} + 1)`.
    pub fn output_params(net: &Network) -> usize {
        let last = net.layer(net.depth() - 1);
        last.nrows() * last.ncols()
    }

    /// Check that VarPro applies: a hidden layer, and at least as many
    /// residuals as output-layer parameters.
    pub fn check(&self, net: &Network) -> Result<()> {
        if net.depth() < 2 {
            return Err(Error::config(
                "network.depth",
                "varpro needs at least one hidden layer (depth >= 2)",
            ));
        }
        let k = Self::output_params(net);
        let m = self.ls.residual_count();
        if m < k {
            return Err(Error::config(
                "method",
                format!(
                    "varpro needs at least as many residuals as output-layer parameters ({m} < {k})"
                ),
            ));
        }
        Ok(())
    }

    /// The output layer's design matrix `A` (`M x k`).
    fn design(&mut self, net: &Network) -> Mat<f64> {
        output_design(self.ls.ls(), net)
    }

    /// `[A; sqrt(mu) I]`: the design of the ridged output-layer problem.
    fn augmented(&self, a: MatRef<'_, f64>) -> Mat<f64> {
        let (m, k) = (a.nrows(), a.ncols());
        let s = self.ridge.sqrt();
        Mat::from_fn(m + k, k, |i, j| {
            if i < m {
                a[(i, j)]
            } else if i - m == j {
                s
            } else {
                0.0
            }
        })
    }

    /// Solve the output layer of `net` for its current hidden layers:
    /// `min |A t - b|^2 + mu |t|^2` by the QR of `[A; sqrt(mu) I]`, whose
    /// `Q` becomes the trial projector.
    fn solve_output(&mut self, net: &mut Network) -> Result<()> {
        let m = self.ls.residual_count();
        let p = net.num_params();
        let k = Self::output_params(net);
        let ph = p - k;
        let (a, mut b) = output_system(self.ls.ls(), net);
        // The ridge rows' targets are 0.
        b.resize(m + k, 0.0);
        let mut theta = net.params();
        let (q, rf) = thin_qr(self.augmented(a.as_ref()).as_ref());
        let mut t = vec![0.0; k];
        super::dense::gemv(q.transpose(), &b, &mut t);
        let dmax = (0..k).map(|i| rf[(i, i)].abs()).fold(0.0, f64::max);
        let dmin = (0..k)
            .map(|i| rf[(i, i)].abs())
            .fold(f64::INFINITY, f64::min);
        let good = dmax > 0.0 && dmin > dmax * f64::EPSILON * (m.max(k) as f64);
        if good {
            faer::linalg::triangular_solve::solve_upper_triangular_in_place(
                rf.as_ref(),
                MatMut::from_column_major_slice_mut(&mut t, k, 1),
                Par::Seq,
            );
        }
        if !good || t.iter().any(|v| !v.is_finite()) {
            // Numerically rank deficient: the minimum-norm solution by SVD.
            let qtb = MatRef::from_column_major_slice(&t, k, 1).to_owned();
            let x = crate::linalg::pinv_solve(rf.as_ref(), qtb.as_ref())?;
            t = (0..k).map(|i| x[(i, 0)]).collect();
            self.fallbacks += 1;
        }
        self.solves += 1;
        if t.iter().any(|v| !v.is_finite()) {
            return Err(Error::numerical(
                "VarPro output-layer solve",
                "non-finite weights",
            ));
        }
        theta[ph..].copy_from_slice(&t);
        net.set_params(&theta);
        self.q_trial = q;
        Ok(())
    }
}

/// The residual LM sees: the task's `M` rows, then `sqrt(mu) theta_L`, so
/// that it minimises the same ridged objective the output solve does and
/// Kaufman's gradient is exact (the ridge rows have no `theta_h` part).
impl LmModel for VarPro<'_> {
    fn residual_count(&self) -> usize {
        self.ls.residual_count() + self.k
    }
    fn dim(&self, net: &Network) -> usize {
        net.num_params() - Self::output_params(net)
    }
    fn params_into(&self, net: &Network, out: &mut [f64]) {
        let p = net.params();
        out.copy_from_slice(&p[..out.len()]);
    }
    fn set_params(&mut self, net: &mut Network, theta: &[f64]) -> Result<()> {
        let mut p = net.params();
        p[..theta.len()].copy_from_slice(theta);
        net.set_params(&p);
        self.solve_output(net)
    }
    fn accept(&mut self) {
        std::mem::swap(&mut self.q, &mut self.q_trial);
    }
    fn prepare(&mut self, net: &mut Network) -> Result<()> {
        self.check(net)?;
        self.solve_output(net)?;
        self.accept();
        Ok(())
    }
    fn restore(&mut self, net: &Network) -> Result<()> {
        self.check(net)?;
        let a = self.design(net);
        self.q = thin_qr(self.augmented(a.as_ref()).as_ref()).0;
        Ok(())
    }
    fn residuals_into(&mut self, net: &Network, r: &mut [f64]) -> f64 {
        let m = self.ls.residual_count();
        let (rt, rr) = r.split_at_mut(m);
        let mut f = self.ls.ls().residuals_into(net, rt);
        let p = net.params();
        let s = self.ridge.sqrt();
        for (o, t) in rr.iter_mut().zip(&p[p.len() - self.k..]) {
            *o = s * t;
            f += *o * *o;
        }
        f
    }
    // No factors: the Kaufman projection must act on an explicit J (see
    // `normal.rs`), so the dual system is formed from Jacobian rows.
    fn jacobian_rows_into(&mut self, net: &Network, rows: Range<usize>, mut jac: MatMut<'_, f64>) {
        let ph = self.dim(net);
        let m = self.ls.residual_count();
        let task = rows.start.min(m)..rows.end.min(m);
        let n = task.len();
        jacobian_cols(
            self.ls.ls(),
            net,
            task,
            0..ph,
            jac.as_mut().subrows_mut(0, n),
        );
        jac.subrows_mut(n, rows.len() - n).fill(0.0);
    }
    fn projector(&self) -> Option<MatRef<'_, f64>> {
        Some(self.q.as_ref())
    }
}
