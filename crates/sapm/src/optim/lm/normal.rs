//! The damped normal equations of one Gauss-Newton iteration, in the cheaper
//! space (design note gauss-newton.md, section 1):
//!
//! - **dual** (`M < P`): hold `J` (`M x P`) and `J J^T`; the step is
//!   `delta = -J^T (J J^T + lambda I)^{-1} r`;
//! - **primal**: accumulate `J^T J` (`P x P`) and `J^T r` over chunks of
//!   rows, so memory is `O(P^2)` whatever `M`; the step is
//!   `delta = -(J^T J + lambda I)^{-1} J^T r`.
//!
//! Both give the same step (push-through identity). When the model offers
//! Khatri-Rao factors the dual system is formed from them
//! ([`super::factored`]) and `J` is never held. With a projector `Q`
//! (VarPro) the Jacobian is `(I - Q Q^T) J`. The damped matrix is factored
//! by [`dense::cholesky_lower`]; when that fails, an eigen-decomposition of
//! the Gram matrix solves it (and any later `lambda` of the same iteration).

use super::dense::{self, EigenSolver};
use super::factored;
use super::model::LmModel;
use crate::error::{Error, Result};
use crate::linalg::{SharedReducer, reduce_or_nan};
use crate::net::Network;
use crate::task::khatri_rao::KrFactors;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

/// Which normal equations to solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LmSolve {
    /// Dual when `M < P`, else primal.
    #[default]
    Auto,
    /// `(J J^T + lambda I)`, `M x M`.
    Dual,
    /// `(J^T J + lambda I)`, `P x P`, accumulated over row chunks.
    Primal,
}

/// Rows of `J` held at once by the primal accumulation: about 4 M entries
/// (32 MB), at least one Jacobian block.
fn chunk_rows(p: usize, m: usize) -> usize {
    let c = (4_000_000 / p.max(1)).clamp(256, 8192) / 64 * 64;
    c.min(m).max(1)
}

/// Bytes the normal equations of an `M x P` problem need in `space`
/// (`k` projector columns; `kr_cols` factor columns per row when the dual
/// system comes from Khatri-Rao factors, else 0).
pub fn bytes_needed(dual: bool, m: usize, p: usize, k: usize, kr_cols: usize) -> f64 {
    let (m, p, k) = (m as f64, p as f64, k as f64);
    let f = 8.0;
    if dual && kr_cols > 0 {
        f * (2.0 * m * m + m * kr_cols as f64 + 2.0 * k * m + 3.0 * (m + p))
    } else if dual {
        f * (m * p + 2.0 * m * m + k * p + 2.0 * (m + p))
    } else {
        let c = chunk_rows(p as usize, m as usize) as f64;
        f * (2.0 * p * p + c * p + k * p + 2.0 * (m + p))
    }
}

/// The linearised problem of one iteration and its damped solves.
pub struct Normal {
    dual: bool,
    m: usize,
    p: usize,
    /// Dual: `J` (`M x P`, projected; empty when factored); primal: one chunk of rows.
    j: Mat<f64>,
    /// Factored dual: the Khatri-Rao factors and the number of layers in `theta`.
    factored: bool,
    kr: KrFactors,
    nl: usize,
    /// `J J^T` or `J^T J` (full, symmetric).
    gram: Mat<f64>,
    /// Factor of `gram + lambda I` (lower triangle).
    fact: Mat<f64>,
    fact_lambda: f64,
    fact_ok: bool,
    /// `J^T r`.
    g: Vec<f64>,
    /// Dual: the residuals of this iteration.
    r: Vec<f64>,
    eig: Option<EigenSolver>,
    /// Largest diagonal entry of `J^T J` and of `gram`.
    jtj_diag_max: f64,
    gram_diag_max: f64,
    /// Seconds spent forming `J` and the Gram matrix, and factoring.
    pub seconds_linearize: f64,
    /// Seconds in factorisations and solves.
    pub seconds_solve: f64,
    /// Seconds computing Jacobian rows (dual only).
    pub seconds_jacobian: f64,
    /// Multi-process runs (primal only): the reducer, this process's weight
    /// `M_local / M` and a buffer for `J^T J` and `J^T r`.
    shard: Option<Shard>,
}

/// What the primal system needs to sum over processes.
struct Shard {
    reducer: SharedReducer,
    weight: f64,
    buf: Vec<f64>,
}

impl Normal {
    /// Buffers for `m` residuals and `p` parameters in the dual or primal
    /// space; `factored`: the dual system comes from Khatri-Rao factors.
    pub fn new(dual: bool, factored: bool, m: usize, p: usize) -> Self {
        let n = if dual { m } else { p };
        let factored = dual && factored;
        let (jr, jc) = match (dual, factored) {
            (true, true) => (0, 0),
            (true, false) => (m, p),
            (false, _) => (chunk_rows(p, m), p),
        };
        Normal {
            dual,
            m,
            p,
            j: Mat::zeros(jr, jc),
            factored,
            kr: KrFactors::default(),
            nl: 0,
            gram: Mat::zeros(n, n),
            fact: Mat::zeros(n, n),
            fact_lambda: f64::NAN,
            fact_ok: false,
            g: vec![0.0; p],
            r: vec![0.0; if dual { m } else { 0 }],
            eig: None,
            jtj_diag_max: 0.0,
            gram_diag_max: 0.0,
            seconds_linearize: 0.0,
            seconds_solve: 0.0,
            seconds_jacobian: 0.0,
            shard: None,
        }
    }

    /// Sum the primal system over the processes of `reducer`: this process
    /// holds `weight = M_local / M` of the residuals, each scaled by
    /// `1 / sqrt(M_local)`, so its sums are weighted by `weight` to be those
    /// of the whole residual vector scaled by `1 / sqrt(M)`.
    pub fn distributed(mut self, reducer: SharedReducer, weight: f64) -> Self {
        assert!(!self.dual, "the dual system is not distributed");
        if reducer.size() > 1 {
            let n = self.p * (self.p + 1) / 2 + self.p;
            self.shard = Some(Shard {
                reducer,
                weight,
                buf: vec![0.0; n],
            });
        }
        self
    }

    /// Whether this is the dual (`M x M`) system.
    pub fn is_dual(&self) -> bool {
        self.dual
    }

    /// `J^T r` of the current linearisation.
    pub fn grad(&self) -> &[f64] {
        &self.g
    }

    /// Largest diagonal entry of `J^T J` (the scale of `lambda`).
    pub fn jtj_diag_max(&self) -> f64 {
        self.jtj_diag_max
    }

    /// Smallest `lambda` that keeps the Cholesky factorisation stable:
    /// `max(rel, 10 n eps)` times the largest diagonal entry of the Gram matrix.
    pub fn lambda_floor(&self, rel: f64) -> f64 {
        let n = self.gram.nrows() as f64;
        rel.max(10.0 * n * f64::EPSILON) * self.gram_diag_max
    }

    /// Form `J` (dual) or `J^T J` (primal), and `J^T r`, at `net` with residuals `r`.
    pub fn linearize(&mut self, model: &mut dyn LmModel, net: &Network, r: &[f64]) {
        let t0 = std::time::Instant::now();
        self.fact_lambda = f64::NAN;
        self.eig = None;
        let (m, p) = (self.m, self.p);
        let q = model.projector().map(|q| q.to_owned());
        if self.factored {
            self.nl = model.kr_factors_into(net, &mut self.kr);
            self.seconds_jacobian += t0.elapsed().as_secs_f64();
            factored::gram_lower(&self.kr, self.nl, self.gram.as_mut());
            dense::mirror_lower(self.gram.as_mut());
            // Projecting J J^T afterwards would cancel badly: projected
            // models (VarPro) use an explicit J instead.
            debug_assert!(q.is_none(), "factored models have no projector");
            factored::jt_vec(&self.kr, self.nl, r, &mut self.g);
            self.r.copy_from_slice(r);
            self.jtj_diag_max = factored::jtj_diag_max(&self.kr, self.nl);
        } else if self.dual {
            model.jacobian_rows_into(net, 0..m, self.j.as_mut());
            self.seconds_jacobian += t0.elapsed().as_secs_f64();
            if let Some(q) = &q {
                project_rows(q.as_ref(), self.j.as_mut());
            }
            dense::gram_rows_lower(self.j.as_ref(), self.gram.as_mut());
            dense::mirror_lower(self.gram.as_mut());
            dense::gemv(self.j.transpose(), r, &mut self.g);
            self.r.copy_from_slice(r);
            self.jtj_diag_max = (0..p)
                .map(|k| self.j.col(k).squared_norm_l2())
                .fold(0.0, f64::max);
        } else {
            self.gram.fill(0.0);
            self.g.fill(0.0);
            let c = self.j.nrows();
            // With a projector, a first pass finds B = Q^T J and the second
            // accumulates the projected chunks (J_c - Q_c B): subtracting
            // B^T B from J^T J instead would cancel badly.
            let b = q.as_ref().map(|q| {
                let mut b = Mat::<f64>::zeros(q.ncols(), p);
                let mut start = 0;
                while start < m {
                    let len = c.min(m - start);
                    model.jacobian_rows_into(
                        net,
                        start..start + len,
                        self.j.as_mut().subrows_mut(0, len),
                    );
                    faer::linalg::matmul::matmul(
                        b.as_mut(),
                        Accum::Add,
                        q.as_ref().subrows(start, len).transpose(),
                        self.j.as_ref().subrows(0, len),
                        1.0,
                        Par::Seq,
                    );
                    start += len;
                }
                b
            });
            let mut start = 0;
            while start < m {
                let len = c.min(m - start);
                let mut jc = self.j.as_mut().subrows_mut(0, len);
                model.jacobian_rows_into(net, start..start + len, jc.rb_mut());
                if let (Some(q), Some(b)) = (&q, &b) {
                    faer::linalg::matmul::matmul(
                        jc.rb_mut(),
                        Accum::Add,
                        q.as_ref().subrows(start, len),
                        b.as_ref(),
                        -1.0,
                        Par::Seq,
                    );
                }
                let jc = self.j.as_ref().subrows(0, len);
                dense::gram_cols_add_lower(jc, self.gram.as_mut(), 1.0);
                dense::gemv_add(jc.transpose(), &r[start..start + len], 1.0, &mut self.g);
                start += len;
            }
            self.reduce_primal();
            dense::mirror_lower(self.gram.as_mut());
            self.jtj_diag_max = (0..p).map(|i| self.gram[(i, i)]).fold(0.0, f64::max);
        }
        let n = self.gram.nrows();
        self.gram_diag_max = (0..n).map(|i| self.gram[(i, i)]).fold(0.0, f64::max);
        self.seconds_linearize += t0.elapsed().as_secs_f64();
    }

    /// Factor `gram + lambda I` unless already done for this `lambda`;
    /// returns false when the eigen fallback must be used.
    fn factor(&mut self, lambda: f64) -> bool {
        if self.fact_lambda.to_bits() == lambda.to_bits() {
            return self.fact_ok;
        }
        let n = self.gram.nrows();
        self.fact.copy_from(&self.gram);
        for i in 0..n {
            self.fact[(i, i)] += lambda;
        }
        self.fact_ok = dense::cholesky_lower(self.fact.as_mut());
        self.fact_lambda = lambda;
        self.fact_ok
    }

    /// `x <- (gram + lambda I)^{-1} x`; returns whether the eigen fallback was used.
    fn solve_space(&mut self, lambda: f64, x: &mut [f64]) -> Result<bool> {
        if self.factor(lambda) {
            dense::cholesky_solve(self.fact.as_ref(), x);
            if x.iter().all(|v| v.is_finite()) {
                return Ok(false);
            }
        }
        if self.eig.is_none() {
            self.eig = Some(EigenSolver::new(self.gram.as_ref()).ok_or_else(|| {
                Error::numerical("Levenberg-Marquardt", "eigen-decomposition failed")
            })?);
        }
        if let Some(e) = &self.eig {
            e.solve(lambda, x);
        }
        Ok(true)
    }

    /// The damped Gauss-Newton step `delta = -(J^T J + lambda I)^{-1} J^T r`
    /// (dual form when dual). Returns whether the eigen fallback was used.
    pub fn step(&mut self, lambda: f64, delta: &mut [f64]) -> Result<bool> {
        let t0 = std::time::Instant::now();
        let fb = if self.dual {
            let mut y = self.r.clone();
            let fb = self.solve_space(lambda, &mut y)?;
            self.jt_dual(&mut y, delta);
            fb
        } else {
            delta.copy_from_slice(&self.g);
            self.solve_space(lambda, delta)?
        };
        for d in delta.iter_mut() {
            *d = -*d;
        }
        self.seconds_solve += t0.elapsed().as_secs_f64();
        Ok(fb)
    }

    /// `a = -(J^T J + lambda I)^{-1} J^T v` for a residual-space `v` (the
    /// geodesic correction); the primal form recomputes `J` chunk by chunk.
    pub fn step_for(
        &mut self,
        model: &mut dyn LmModel,
        net: &Network,
        lambda: f64,
        v: &[f64],
        a: &mut [f64],
    ) -> Result<bool> {
        if self.dual {
            let mut y = v.to_vec();
            let fb = self.solve_space(lambda, &mut y)?;
            self.jt_dual(&mut y, a);
            a.iter_mut().for_each(|x| *x = -*x);
            return Ok(fb);
        }
        // J_K^T v = J^T (I - Q Q^T) v.
        let mut pv = v.to_vec();
        if let Some(q) = model.projector() {
            project_vec(q, &mut pv);
        }
        a.fill(0.0);
        let c = self.j.nrows();
        let mut start = 0;
        while start < self.m {
            let len = c.min(self.m - start);
            model.jacobian_rows_into(net, start..start + len, self.j.as_mut().subrows_mut(0, len));
            let jc = self.j.as_ref().subrows(0, len);
            dense::gemv_add(jc.transpose(), &pv[start..start + len], 1.0, a);
            start += len;
        }
        if let Some(sh) = &self.shard {
            a.iter_mut().for_each(|v| *v *= sh.weight);
            reduce_or_nan(sh.reducer.as_ref(), a);
        }
        let fb = self.solve_space(lambda, a)?;
        a.iter_mut().for_each(|x| *x = -*x);
        Ok(fb)
    }

    /// Weight this process's `J^T J` (packed lower triangle) and `J^T r`
    /// and sum them over the processes, in one collective.
    fn reduce_primal(&mut self) {
        let Some(sh) = &mut self.shard else {
            return;
        };
        let p = self.p;
        let mut k = 0;
        for j in 0..p {
            for i in j..p {
                sh.buf[k] = sh.weight * self.gram[(i, j)];
                k += 1;
            }
        }
        for (b, v) in sh.buf[k..].iter_mut().zip(&self.g) {
            *b = sh.weight * v;
        }
        reduce_or_nan(sh.reducer.as_ref(), &mut sh.buf);
        let mut k = 0;
        for j in 0..p {
            for i in j..p {
                self.gram[(i, j)] = sh.buf[k];
                k += 1;
            }
        }
        self.g.copy_from_slice(&sh.buf[k..]);
    }

    /// `out = J_K^T y` in the dual space (`y` is overwritten when projected).
    fn jt_dual(&self, y: &mut [f64], out: &mut [f64]) {
        if self.factored {
            factored::jt_vec(&self.kr, self.nl, y, out);
        } else {
            dense::gemv(self.j.transpose(), y, out);
        }
    }

    /// `|J delta|^2` (the model's quadratic term).
    pub fn j_norm_sq(&self, delta: &[f64]) -> f64 {
        if self.factored {
            let mut t = vec![0.0; self.m];
            factored::j_vec(&self.kr, self.nl, delta, &mut t);
            t.iter().map(|v| v * v).sum()
        } else if self.dual {
            let mut t = vec![0.0; self.m];
            dense::gemv(self.j.as_ref(), delta, &mut t);
            t.iter().map(|v| v * v).sum()
        } else {
            let mut t = vec![0.0; self.p];
            dense::gemv(self.gram.as_ref(), delta, &mut t);
            t.iter().zip(delta).map(|(a, b)| a * b).sum()
        }
    }
}

/// `j <- (I - Q Q^T) j`, by column strips in parallel.
fn project_rows(q: MatRef<'_, f64>, j: faer::MatMut<'_, f64>) {
    use rayon::prelude::*;
    let k = q.ncols();
    let strips: Vec<_> = {
        let mut v = Vec::new();
        let mut rest = j;
        while rest.ncols() > 0 {
            let w = dense::TILE.min(rest.ncols());
            let (a, b) = rest.split_at_col_mut(w);
            v.push(a);
            rest = b;
        }
        v
    };
    strips.into_par_iter().for_each(|mut s| {
        let mut b = Mat::<f64>::zeros(k, s.ncols());
        faer::linalg::matmul::matmul(
            b.as_mut(),
            Accum::Replace,
            q.transpose(),
            s.as_ref(),
            1.0,
            Par::Seq,
        );
        faer::linalg::matmul::matmul(s.rb_mut(), Accum::Add, q, b.as_ref(), -1.0, Par::Seq);
    });
}

/// `v <- (I - Q Q^T) v`.
fn project_vec(q: MatRef<'_, f64>, v: &mut [f64]) {
    let mut t = vec![0.0; q.ncols()];
    dense::gemv(q.transpose(), v, &mut t);
    dense::gemv_add(q, &t, -1.0, v);
}
