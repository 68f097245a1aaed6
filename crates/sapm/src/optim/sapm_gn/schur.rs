//! The linearised SAPM problem of one `sapm-gn` iteration and its damped
//! Gauss-Newton step by Schur elimination of the auxiliaries (docs/method.md,
//! "Gauss-Newton on the SAPM objective").
//!
//! Residuals (0-based layers, omega fixed): `r_l = c_l E_l`,
//! `c_l = sqrt(omega_l / N)`, `E_l = T_l - W~_l P~_l` with `P~_0 = [x; 1]`,
//! `P~_l = [s(a_{l-1}); 1]`, `T_l = a_l` (hidden) and `T_{L-1} = y`. Per
//! sample the auxiliaries' block `A_n = J_a^T J_a + lambda I` is block
//! tridiagonal over layers; the coupling to the weights factors as
//! `B_n = M_n K_n` with `K_n = blockdiag(p~_l^T (x) I)`. Eliminating
//! `delta_a` leaves
//! `(J_t^T J_t + lambda I - sum_n K_n^T C_n K_n) delta_t = -g_t + sum_n K_n^T M_n^T A_n^{-1} g_{a,n}`
//! with `C_n = M_n^T A_n^{-1} M_n` (`O x O`, `O` = residuals per sample), and
//! `delta_a_n = -A_n^{-1} (g_{a,n} + M_n K_n delta_t)`. The layer-pair
//! blocks of `sum_n K_n^T C_n K_n` are `sum_n (p~_l p~_l'^T) (x) C_n[l, l']`:
//! one GEMM per pair over a chunk of samples.
//!
//! Samples run in parallel, every sum over samples is a GEMM over fixed
//! chunks added in chunk order, and layer pairs write disjoint blocks, so
//! the step is bit-identical on any number of threads.

use crate::engine::loss::{AuxVars, PenaltyWorkspace};
use crate::error::{Error, Result};
use crate::net::Network;
use crate::optim::lm::dense::{self, EigenSolver};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::ops::Range;

/// Sizes and offsets of a network's joint variables.
#[derive(Debug, Clone)]
pub struct Shape {
    /// `L`.
    pub depth: usize,
    /// Outputs `o_l` of layer `l`.
    pub o: Vec<usize>,
    /// Inputs plus one, `k_l + 1`, of layer `l`.
    pub kt: Vec<usize>,
    /// Offsets of layer `l`'s rows in a sample's residual (length `L + 1`);
    /// for hidden layers also the offsets of `a_l` in a sample's auxiliaries.
    pub ob: Vec<usize>,
    /// Offsets of layer `l`'s parameters in `theta` (length `L + 1`).
    pub toff: Vec<usize>,
}

impl Shape {
    /// The shape of `net` (at least two layers).
    pub fn new(net: &Network) -> Self {
        let w = net.widths();
        let depth = net.depth();
        let o: Vec<usize> = (0..depth).map(|l| w[l + 1]).collect();
        let kt: Vec<usize> = (0..depth).map(|l| w[l] + 1).collect();
        let mut ob = vec![0];
        let mut toff = vec![0];
        for l in 0..depth {
            ob.push(ob[l] + o[l]);
            toff.push(toff[l] + o[l] * kt[l]);
        }
        Shape {
            depth,
            o,
            kt,
            ob,
            toff,
        }
    }
    /// Auxiliaries per sample, `H`.
    pub fn h(&self) -> usize {
        self.ob[self.depth - 1]
    }
    /// Residuals per sample, `O`.
    pub fn rows(&self) -> usize {
        self.ob[self.depth]
    }
    /// Network parameters, `P`.
    pub fn p(&self) -> usize {
        self.toff[self.depth]
    }
}

/// Samples per chunk of the Schur sum: about 4 M entries of `C_n`.
fn chunk_samples(rows: usize, n: usize) -> usize {
    (4_000_000 / (rows * rows).max(1))
        .clamp(1, 256)
        .min(n.max(1))
}

/// A damped step in all variables.
#[derive(Debug, Clone)]
pub struct Step {
    /// `delta_theta` (network parameter order).
    pub theta: Vec<f64>,
    /// `delta_a_l` (`o_l x N`, hidden layers).
    pub aux: Vec<Mat<f64>>,
    /// Whether the `P x P` solve fell back to an eigen-decomposition.
    pub fallback: bool,
}

impl Step {
    /// `|delta|^2`.
    pub fn norm_sq(&self) -> f64 {
        self.theta.iter().map(|v| v * v).sum::<f64>()
            + self.aux.iter().map(|a| a.squared_norm_l2()).sum::<f64>()
    }
}

/// The linearisation at one point `(theta, a)` with omega fixed.
pub struct Linear<'w> {
    /// Sizes.
    pub shape: Shape,
    net: &'w Network,
    ws: &'w PenaltyWorkspace,
    n: usize,
    /// `c_l^2 = omega_l / N`.
    c2: Vec<f64>,
    /// `s'(a_k)` (`o_k x N`), hidden layers.
    d: Vec<Mat<f64>>,
    /// `W_l^T W_l` for `l >= 1` (index 0 empty).
    wtw: Vec<Mat<f64>>,
    /// `J_a^T r`, one column per sample (`H x N`).
    ga: Mat<f64>,
    /// `J_theta^T r` (`P`).
    gt: Vec<f64>,
    /// `P~_l P~_l^T`.
    gp: Vec<Mat<f64>>,
    /// `|r|^2 = J_SAPM` at these omegas.
    pub f: f64,
    /// Largest diagonal entry of `J^T J` (the scale of `lambda`).
    pub diag_max: f64,
    /// Damping matrix: `diag(J^T J)` (Marquardt) when true, else `I`.
    scaled: bool,
}

impl<'w> Linear<'w> {
    /// Linearise at `net`, `aux`, with `ws` refreshed at that point and
    /// weights `omega` (held fixed).
    pub fn new(
        net: &'w Network,
        aux: &AuxVars,
        ws: &'w PenaltyWorkspace,
        omega: &[f64],
        scaled: bool,
    ) -> Self {
        let shape = Shape::new(net);
        let depth = shape.depth;
        let n = ws.p[0].ncols();
        let nf = n.max(1) as f64;
        let c2: Vec<f64> = omega.iter().map(|w| w / nf).collect();
        let act = net.activation();
        let d: Vec<Mat<f64>> = (0..depth - 1)
            .map(|k| {
                let (a, s) = (&aux.a[k], &ws.p[k + 1]);
                Mat::from_fn(a.nrows(), n, |i, j| {
                    act.deriv_with_value(a[(i, j)], s[(i, j)])
                })
            })
            .collect();
        let wtw: Vec<Mat<f64>> = (0..depth)
            .map(|l| {
                if l == 0 {
                    Mat::zeros(0, 0)
                } else {
                    net.weight(l).transpose() * net.weight(l)
                }
            })
            .collect();
        // g_a block k = c_k^2 E_k - c_{k+1}^2 s'(a_k) (.) (W_{k+1}^T E_{k+1}).
        let mut ga = Mat::<f64>::zeros(shape.h(), n);
        for k in 0..depth - 1 {
            let mut blk = ga.as_mut().subrows_mut(shape.ob[k], shape.o[k]);
            matmul(
                blk.as_mut(),
                Accum::Replace,
                net.weight(k + 1).transpose(),
                ws.e[k + 1].as_ref(),
                -c2[k + 1],
                Par::Seq,
            );
            for j in 0..n {
                for i in 0..shape.o[k] {
                    blk[(i, j)] = c2[k] * ws.e[k][(i, j)] + d[k][(i, j)] * blk[(i, j)];
                }
            }
        }
        // g_theta layer l = -c_l^2 vec(E_l P~_l^T).
        let mut gt = vec![0.0; shape.p()];
        let mut gp = Vec::with_capacity(depth);
        let mut diag_max = 0.0f64;
        for l in 0..depth {
            let (o, kt) = (shape.o[l], shape.kt[l]);
            let g = MatMut::from_column_major_slice_mut(
                &mut gt[shape.toff[l]..shape.toff[l + 1]],
                o,
                kt,
            );
            matmul(
                g,
                Accum::Replace,
                ws.e[l].as_ref(),
                ws.p[l].transpose(),
                -c2[l],
                Par::Seq,
            );
            let pp = ws.p[l].as_ref() * ws.p[l].transpose();
            for j in 0..kt {
                diag_max = diag_max.max(c2[l] * pp[(j, j)]);
            }
            gp.push(pp);
        }
        for k in 0..depth - 1 {
            for j in 0..n {
                for i in 0..shape.o[k] {
                    let di = d[k][(i, j)];
                    diag_max = diag_max.max(c2[k] + c2[k + 1] * wtw[k + 1][(i, i)] * di * di);
                }
            }
        }
        Linear {
            f: ws.objective(omega),
            shape,
            net,
            ws,
            n,
            c2,
            d,
            wtw,
            ga,
            gt,
            gp,
            diag_max,
            scaled,
        }
    }

    /// The damping of a variable whose `J^T J` diagonal entry is `d`:
    /// `lambda max(d, 1e-30 max diag)` (Marquardt) or `lambda`.
    fn damp(&self, lambda: f64, d: f64) -> f64 {
        if self.scaled {
            lambda * d.max(1e-30 * self.diag_max)
        } else {
            lambda
        }
    }

    /// `|J^T r|_inf`.
    pub fn grad_max_abs(&self) -> f64 {
        (0..self.n)
            .flat_map(|j| self.ga.col_as_slice(j).iter())
            .chain(&self.gt)
            .fold(0.0f64, |m, v| m.max(v.abs()))
    }

    /// `delta . J^T r`.
    pub fn dot_grad(&self, s: &Step) -> f64 {
        let mut t: f64 = s.theta.iter().zip(&self.gt).map(|(a, b)| a * b).sum();
        for (k, da) in s.aux.iter().enumerate() {
            let g = self.ga.as_ref().subrows(self.shape.ob[k], self.shape.o[k]);
            for j in 0..self.n {
                for i in 0..da.nrows() {
                    t += da[(i, j)] * g[(i, j)];
                }
            }
        }
        t
    }

    /// `|J delta|^2`: per layer `c_l^2 |da_l - W_l (s'(a_{l-1}) (.) da_{l-1}) - dW~_l P~_l|^2`.
    pub fn j_norm_sq(&self, s: &Step) -> f64 {
        let sh = &self.shape;
        let mut total = 0.0;
        for l in 0..sh.depth {
            let (o, kt) = (sh.o[l], sh.kt[l]);
            let dw = MatRef::from_column_major_slice(&s.theta[sh.toff[l]..sh.toff[l + 1]], o, kt);
            let mut q = Mat::<f64>::zeros(o, self.n);
            matmul(
                q.as_mut(),
                Accum::Replace,
                dw,
                self.ws.p[l].as_ref(),
                -1.0,
                Par::Seq,
            );
            if l + 1 < sh.depth {
                q += &s.aux[l];
            }
            if l >= 1 {
                let da = &s.aux[l - 1];
                let dd = Mat::from_fn(da.nrows(), self.n, |i, j| {
                    self.d[l - 1][(i, j)] * da[(i, j)]
                });
                matmul(
                    q.as_mut(),
                    Accum::Add,
                    self.net.weight(l),
                    dd.as_ref(),
                    -1.0,
                    Par::Seq,
                );
            }
            total += self.c2[l] * q.squared_norm_l2();
        }
        total
    }

    /// Sample `n`'s `A_n` (factored in place: lower Cholesky factor) and
    /// `M_n`; false when the factorisation fails.
    fn system(
        &self,
        n: usize,
        lambda: f64,
        a: &mut Mat<f64>,
        m: &mut Mat<f64>,
        mem: &mut MemBuffer,
    ) -> bool {
        let sh = &self.shape;
        let depth = sh.depth;
        a.fill(0.0);
        m.fill(0.0);
        for k in 0..depth - 1 {
            let (ok, o) = (sh.ob[k], sh.o[k]);
            let dk = &self.d[k];
            let c = self.c2[k + 1];
            let wtw = &self.wtw[k + 1];
            for j in 0..o {
                let cdj = c * dk[(j, n)];
                for i in j..o {
                    a[(ok + i, ok + j)] = dk[(i, n)] * wtw[(i, j)] * cdj;
                }
                let d = a[(ok + j, ok + j)] + self.c2[k];
                a[(ok + j, ok + j)] = d + self.damp(lambda, d);
            }
            if k + 2 < depth {
                // (a_{k+1}, a_k) block: -c_{k+1}^2 W_{k+1} s'(a_k).
                let w = self.net.weight(k + 1);
                let ok1 = sh.ob[k + 1];
                for j in 0..o {
                    let cdj = c * dk[(j, n)];
                    for i in 0..sh.o[k + 1] {
                        a[(ok1 + i, ok + j)] = -w[(i, j)] * cdj;
                    }
                }
            }
        }
        for l in 0..depth {
            let (ol, obl) = (sh.o[l], sh.ob[l]);
            if l + 1 < depth {
                for i in 0..ol {
                    m[(obl + i, obl + i)] = -self.c2[l];
                }
            }
            if l >= 1 {
                // (a_{l-1}, layer l) block: c_l^2 s'(a_{l-1}) W_l^T.
                let w = self.net.weight(l);
                let dk = &self.d[l - 1];
                let ob1 = sh.ob[l - 1];
                for j in 0..ol {
                    for i in 0..sh.o[l - 1] {
                        m[(ob1 + i, obl + j)] = self.c2[l] * dk[(i, n)] * w[(j, i)];
                    }
                }
            }
        }
        llt::factor::cholesky_in_place(
            a.as_mut(),
            Default::default(),
            Par::Seq,
            MemStack::new(mem),
            Default::default(),
        )
        .is_ok()
    }

    /// Per-sample scratch: `A_n`, `M_n` and the Cholesky workspace.
    fn scratch(&self) -> (Mat<f64>, Mat<f64>, MemBuffer) {
        let (h, o) = (self.shape.h(), self.shape.rows());
        let req = llt::factor::cholesky_in_place_scratch::<f64>(h, Par::Seq, Default::default());
        (Mat::zeros(h, h), Mat::zeros(h, o), MemBuffer::new(req))
    }

    /// `f(n, L_n, M_n)` for the samples in `range`, in parallel with
    /// per-thread scratch, after [`Linear::system`] factored `A_n = L_n L_n^T`;
    /// an error if any `A_n` is not positive definite.
    fn per_sample<T: Send>(
        &self,
        range: Range<usize>,
        lambda: f64,
        f: impl Fn(usize, MatRef<'_, f64>, &mut Mat<f64>) -> T + Sync,
    ) -> Result<Vec<T>> {
        let per: Vec<Option<T>> = range
            .into_par_iter()
            .map_init(
                || self.scratch(),
                |(a, m, mem), j| {
                    self.system(j, lambda, a, m, mem)
                        .then(|| f(j, a.as_ref(), m))
                },
            )
            .collect();
        per.into_iter().collect::<Option<Vec<T>>>().ok_or_else(|| {
            Error::numerical("sapm-gn", "an auxiliary block is not positive definite")
        })
    }

    /// The damped step `(J^T J + lambda D) delta = -J^T r` by Schur elimination
    /// (`D = I`, or `diag(J^T J)` when scaled).
    pub fn step(&self, lambda: f64) -> Result<Step> {
        let sh = &self.shape;
        let (depth, n, h, rows, p) = (sh.depth, self.n, sh.h(), sh.rows(), sh.p());
        // S = J_t^T J_t + lambda I (lower), V = M_n^T A_n^{-1} g_{a,n} per sample.
        let mut s = Mat::<f64>::zeros(p, p);
        for l in 0..depth {
            let (o, kt, t0) = (sh.o[l], sh.kt[l], sh.toff[l]);
            for jp in 0..kt {
                for j in jp..kt {
                    let v = self.c2[l] * self.gp[l][(j, jp)];
                    for i in 0..o {
                        s[(t0 + j * o + i, t0 + jp * o + i)] = v;
                    }
                }
            }
        }
        for i in 0..p {
            s[(i, i)] += self.damp(lambda, s[(i, i)]);
        }
        let mut v = Mat::<f64>::zeros(rows, n);
        let chunk = chunk_samples(rows, n);
        let mut n0 = 0;
        while n0 < n {
            let n1 = (n0 + chunk).min(n);
            let per = self.per_sample(n0..n1, lambda, |j, l, m| {
                solve_lower_triangular_in_place(l, m.as_mut(), Par::Seq);
                let mut y = self.ga.col_as_slice(j).to_vec();
                solve_lower_triangular_in_place(
                    l,
                    MatMut::from_column_major_slice_mut(&mut y, h, 1),
                    Par::Seq,
                );
                let c = m.transpose() * m.as_ref();
                let mut vj = vec![0.0; rows];
                dense::gemv(m.transpose(), &y, &mut vj);
                (c, vj)
            })?;
            let mut cs = Vec::with_capacity(n1 - n0);
            for (k, (c, vj)) in per.into_iter().enumerate() {
                v.col_as_slice_mut(n0 + k).copy_from_slice(&vj);
                cs.push(c);
            }
            self.subtract_schur(&cs, n0, s.as_mut());
            n0 = n1;
        }
        // rhs = -g_t + sum_n K_n^T v_n: layer l adds vec(V_l P~_l^T).
        let mut rhs: Vec<f64> = self.gt.iter().map(|g| -g).collect();
        for l in 0..depth {
            let (o, kt) = (sh.o[l], sh.kt[l]);
            matmul(
                MatMut::from_column_major_slice_mut(&mut rhs[sh.toff[l]..sh.toff[l + 1]], o, kt),
                Accum::Add,
                v.as_ref().subrows(sh.ob[l], o),
                self.ws.p[l].transpose(),
                1.0,
                Par::Seq,
            );
        }
        let mut theta = rhs;
        let fallback = solve_sym(s, &mut theta)?;
        // Back-substitution: delta_a_n = -A_n^{-1} (g_{a,n} + M_n K_n delta_t).
        let mut t = Mat::<f64>::zeros(rows, n);
        for l in 0..depth {
            let (o, kt) = (sh.o[l], sh.kt[l]);
            matmul(
                t.as_mut().subrows_mut(sh.ob[l], o),
                Accum::Replace,
                MatRef::from_column_major_slice(&theta[sh.toff[l]..sh.toff[l + 1]], o, kt),
                self.ws.p[l].as_ref(),
                1.0,
                Par::Seq,
            );
        }
        let da = self.per_sample(0..n, lambda, |j, l, m| {
            let mut z = self.ga.col_as_slice(j).to_vec();
            dense::gemv_add(m.as_ref(), t.col_as_slice(j), 1.0, &mut z);
            let mut zm = MatMut::from_column_major_slice_mut(&mut z, h, 1);
            solve_lower_triangular_in_place(l, zm.as_mut(), Par::Seq);
            solve_upper_triangular_in_place(l.transpose(), zm, Par::Seq);
            z
        })?;
        let mut aux: Vec<Mat<f64>> = (0..depth - 1).map(|k| Mat::zeros(sh.o[k], n)).collect();
        for (j, z) in da.into_iter().enumerate() {
            for (k, ak) in aux.iter_mut().enumerate() {
                for i in 0..sh.o[k] {
                    ak[(i, j)] = -z[sh.ob[k] + i];
                }
            }
        }
        Ok(Step {
            theta,
            aux,
            fallback,
        })
    }

    /// `S -= sum_n K_n^T C_n K_n` over the samples `n0..n0 + cs.len()`
    /// (lower layer-pair blocks; pairs by column strip in parallel).
    fn subtract_schur(&self, cs: &[Mat<f64>], n0: usize, s: MatMut<'_, f64>) {
        let sh = &self.shape;
        let depth = sh.depth;
        let nc = cs.len();
        let mut strips = Vec::with_capacity(depth);
        let mut rest = s;
        for lp in 0..depth {
            let (a, b) = rest.split_at_col_mut(sh.toff[lp + 1] - sh.toff[lp]);
            strips.push((lp, a));
            rest = b;
        }
        strips.into_par_iter().for_each(|(lp, mut strip)| {
            let (op, ktp) = (sh.o[lp], sh.kt[lp]);
            let pp = self.ws.p[lp].as_ref().subcols(n0, nc);
            for l in lp..depth {
                let (o, kt) = (sh.o[l], sh.kt[l]);
                let pl = self.ws.p[l].as_ref().subcols(n0, nc);
                // Z[(j, j'), n] = p~_l[j] p~_l'[j'];  Cm[n, (i, i')] = C_n[l i, l' i'].
                let z = Mat::<f64>::from_fn(kt * ktp, nc, |r, c| pl[(r % kt, c)] * pp[(r / kt, c)]);
                let cm = Mat::<f64>::from_fn(nc, o * op, |r, c| {
                    cs[r][(sh.ob[l] + c % o, sh.ob[lp] + c / o)]
                });
                let x = z * cm;
                let mut blk = strip.as_mut().subrows_mut(sh.toff[l], o * kt);
                for jp in 0..ktp {
                    for ip in 0..op {
                        let col = jp * op + ip;
                        for j in 0..kt {
                            let xr = j + kt * jp;
                            for i in 0..o {
                                blk[(j * o + i, col)] -= x[(xr, i + o * ip)];
                            }
                        }
                    }
                }
            }
        });
    }
}

/// `x <- S^{-1} x` for the lower triangle of a symmetric `S`, by Cholesky,
/// or an eigen-decomposition when that fails; returns whether it fell back.
fn solve_sym(s: Mat<f64>, x: &mut [f64]) -> Result<bool> {
    let mut f = s.clone();
    if dense::cholesky_lower(f.as_mut()) {
        let mut y = x.to_vec();
        dense::cholesky_solve(f.as_ref(), &mut y);
        if y.iter().all(|v| v.is_finite()) {
            x.copy_from_slice(&y);
            return Ok(false);
        }
    }
    let e = EigenSolver::new(s.as_ref())
        .ok_or_else(|| Error::numerical("sapm-gn", "eigen-decomposition failed"))?;
    e.solve(0.0, x);
    Ok(true)
}
