//! Sample-block passes of one PM/SAPM iteration (the optimised path).
//!
//! State that lives across iterations is only what cannot be recomputed:
//! the auxiliaries `A` and the search direction `D`, `H = m_1 + ... + m_{L-1}`
//! values per sample each, stored **block by block**: block `b` owns the slab
//! `[b B H, (b B + n_b) H)` (`B` the block size), inside which hidden layer
//! `l` is the contiguous column-major `m_l x n_b` matrix at offset
//! `off_l n_b`. Every pass streams each layer's block contiguously (a layout
//! with all layers of a sample together made each layer read 512-byte runs
//! 4.6 KB apart and stall on every column), and rayon hands each block its
//! own slab without any unsafe sharing. Layer inputs `P_l = [s(A_{l-1}); 1]` and residuals
//! `E_l = T_l - W~_l P_l` are rebuilt block by block in per-thread scratch
//! (cache-sized) whenever a pass needs them: a tanh costs about as much as
//! one row of the layer product, far less than keeping `P` and `E` (and a
//! trial copy of everything) in memory.
//!
//! Every pass runs over the fixed [`SampleBlocks`] partition in parallel,
//! in waves of [`WAVE`] blocks whose per-block sums are folded in block
//! order, so results do not depend on the thread count.
//!
//! Passes of one iteration (Jacobi order, one auxiliary step):
//! 1. [`Passes::accumulate`]: per layer, the Gram matrix `P P^T` (lower
//!    triangle) and `P T^T`, or the R factor of `[P^T T^T]` (TSQR).
//! 2. (small solves, in the trainer)
//! 3. [`Passes::gradient`]: residuals with the new weights, residual sums,
//!    and the scaled auxiliary gradient `D`.
//! 4. [`Passes::trial`] once per backtracking trial: residual sums at `A - t D`.
//! 5. [`Passes::update`]: `A -= t D` for the accepted `t`.

use crate::linalg::{PerThread, QrWs, SampleBlocks, balanced_block, mat_bytes, qr_r_into};
use crate::net::activation::Activation;
use crate::net::{Network, col, col_mut};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Blocks per wave. Fixed (not tied to the thread count) because the TSQR
/// merge tree follows the waves.
pub(crate) const WAVE: usize = 16;

/// What [`Passes::accumulate`] builds for the weight steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accumulate {
    /// Lower triangle of `G = P P^T` and `R = P T^T` per layer.
    Gram,
    /// Upper-triangular factor of the stacked `[P^T T^T]` per layer.
    Tsqr,
}

/// Shapes shared by all passes.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// `[d, m_1, ..., m_L]`.
    pub widths: Vec<usize>,
    /// `off_l = m_1 + ... + m_l` (0-based `l`): hidden layer `l` starts at
    /// `off_l n_b` in a block slab of `n_b` samples.
    pub off: Vec<usize>,
    /// `H`, auxiliaries per sample.
    pub hidden_rows: usize,
    /// Number of samples.
    pub n: usize,
}

impl Shape {
    pub(crate) fn new(widths: &[usize], n: usize) -> Self {
        let depth = widths.len() - 1;
        let mut off = Vec::with_capacity(depth);
        let mut h = 0;
        for l in 0..depth.saturating_sub(1) {
            off.push(h);
            h += widths[l + 1];
        }
        Shape {
            widths: widths.to_vec(),
            off,
            hidden_rows: h,
            n,
        }
    }
    pub(crate) fn depth(&self) -> usize {
        self.widths.len() - 1
    }
    /// Columns `k_l = m_{l-1} + 1` of layer `l`'s design.
    pub(crate) fn k(&self, l: usize) -> usize {
        self.widths[l] + 1
    }
    /// Rows `m_l` of layer `l`'s output.
    pub(crate) fn m(&self, l: usize) -> usize {
        self.widths[l + 1]
    }
    /// Hidden layer `l` of a block slab of `nb` samples.
    pub(crate) fn layer<'s>(&self, slab: &'s [f64], l: usize, nb: usize) -> MatRef<'s, f64> {
        let (o, m) = (self.off[l] * nb, self.m(l));
        MatRef::from_column_major_slice(&slab[o..o + m * nb], m, nb)
    }
    /// Mutable hidden layer `l` of a block slab.
    pub(crate) fn layer_mut<'s>(
        &self,
        slab: &'s mut [f64],
        l: usize,
        nb: usize,
    ) -> MatMut<'s, f64> {
        let (o, m) = (self.off[l] * nb, self.m(l));
        MatMut::from_column_major_slice_mut(&mut slab[o..o + m * nb], m, nb)
    }
    /// The slab of the block covering `range` in a block-major buffer.
    pub(crate) fn slab<'s>(&self, buf: &'s [f64], range: &std::ops::Range<usize>) -> &'s [f64] {
        &buf[range.start * self.hidden_rows..range.end * self.hidden_rows]
    }
}

/// Per-thread scratch, sized for one block.
pub(crate) struct Scratch {
    p0: Mat<f64>,
    p1: Mat<f64>,
    e0: Mat<f64>,
    e1: Mat<f64>,
    t: Mat<f64>,
    /// `nb x (k + m)` stacked data of one layer (TSQR only).
    stack: Mat<f64>,
    /// One QR workspace per distinct `k + m` (TSQR only).
    qrs: Vec<(usize, QrWs)>,
}

impl Scratch {
    fn new(shape: &Shape, nb: usize, mode: Accumulate) -> Self {
        let kmax = (0..shape.depth()).map(|l| shape.k(l)).max().unwrap_or(1);
        let mmax = (0..shape.depth()).map(|l| shape.m(l)).max().unwrap_or(1);
        let (stack, qrs) = match mode {
            Accumulate::Gram => (Mat::zeros(0, 0), Vec::new()),
            Accumulate::Tsqr => {
                let mut cols: Vec<usize> = (0..shape.depth())
                    .map(|l| shape.k(l) + shape.m(l))
                    .collect();
                cols.sort_unstable();
                cols.dedup();
                let qrs = cols.into_iter().map(|c| (c, QrWs::new(nb, c))).collect();
                (Mat::zeros(nb, kmax + mmax), qrs)
            }
        };
        Scratch {
            p0: Mat::zeros(kmax, nb),
            p1: Mat::zeros(kmax, nb),
            e0: Mat::zeros(mmax, nb),
            e1: Mat::zeros(mmax, nb),
            t: Mat::zeros(mmax, nb),
            stack,
            qrs,
        }
    }
    fn bytes(&self) -> usize {
        [&self.p0, &self.p1, &self.e0, &self.e1, &self.t, &self.stack]
            .iter()
            .map(|m| mat_bytes(m))
            .sum::<usize>()
            + self.qrs.iter().map(|(_, q)| q.bytes()).sum::<usize>()
    }
}

/// Per-block outputs of one wave slot.
pub(crate) struct Slot {
    r: Vec<f64>,
    gsq: Vec<f64>,
    gram: Vec<Mat<f64>>,
    rhs: Vec<Mat<f64>>,
    rf: Vec<Mat<f64>>,
}

impl Slot {
    fn new(shape: &Shape, mode: Accumulate) -> Self {
        let depth = shape.depth();
        let (mut gram, mut rhs, mut rf) = (Vec::new(), Vec::new(), Vec::new());
        for l in 0..depth {
            let (k, m) = (shape.k(l), shape.m(l));
            match mode {
                Accumulate::Gram => {
                    gram.push(Mat::zeros(k, k));
                    rhs.push(Mat::zeros(k, m));
                }
                Accumulate::Tsqr => rf.push(Mat::zeros(k + m, k + m)),
            }
        }
        Slot {
            r: vec![0.0; depth],
            gsq: vec![0.0; depth],
            gram,
            rhs,
            rf,
        }
    }
    fn bytes(&self) -> usize {
        self.gram
            .iter()
            .chain(&self.rhs)
            .chain(&self.rf)
            .map(mat_bytes)
            .sum::<usize>()
            + 16 * self.r.len()
    }
}

/// Accumulated weight-step data of one layer.
pub(crate) struct LayerData {
    /// Lower triangle of `sum P P^T` (Gram mode).
    pub gram: Mat<f64>,
    /// `sum P T^T` (Gram mode).
    pub rhs: Mat<f64>,
    /// R factor of the stacked `[P^T T^T]` (TSQR mode).
    pub rf: Mat<f64>,
    merge: Mat<f64>,
    qr: Option<QrWs>,
    has: bool,
}

impl LayerData {
    fn new(k: usize, m: usize, mode: Accumulate) -> Self {
        match mode {
            Accumulate::Gram => LayerData {
                gram: Mat::zeros(k, k),
                rhs: Mat::zeros(k, m),
                rf: Mat::zeros(0, 0),
                merge: Mat::zeros(0, 0),
                qr: None,
                has: false,
            },
            Accumulate::Tsqr => {
                let c = k + m;
                LayerData {
                    gram: Mat::zeros(0, 0),
                    rhs: Mat::zeros(0, 0),
                    rf: Mat::zeros(c, c),
                    merge: Mat::zeros((WAVE + 1) * c, c),
                    qr: Some(QrWs::new((WAVE + 1) * c, c)),
                    has: false,
                }
            }
        }
    }
    fn bytes(&self) -> usize {
        [&self.gram, &self.rhs, &self.rf, &self.merge]
            .iter()
            .map(|m| mat_bytes(m))
            .sum::<usize>()
            + self.qr.as_ref().map_or(0, |q| q.bytes())
    }
    /// `trace(P P^T)` (for relative ridge and proximal terms).
    pub(crate) fn gram_trace(&self, k: usize, mode: Accumulate) -> f64 {
        match mode {
            Accumulate::Gram => (0..k).map(|i| self.gram[(i, i)]).sum(),
            // |R_A|_F^2 = trace(A^T A).
            Accumulate::Tsqr => {
                let mut s = 0.0;
                for j in 0..k {
                    for i in 0..=j {
                        s += self.rf[(i, j)] * self.rf[(i, j)];
                    }
                }
                s
            }
        }
    }
}

/// The block passes with their reusable buffers.
pub(crate) struct Passes {
    pub shape: Shape,
    pub blocks: SampleBlocks,
    pub mode: Accumulate,
    act: Activation,
    pool: PerThread<Scratch>,
    slots: Vec<Slot>,
    pub data: Vec<LayerData>,
}

impl Passes {
    pub(crate) fn new(net: &Network, n: usize, block: usize, mode: Accumulate) -> Self {
        let shape = Shape::new(net.widths(), n);
        let block = balanced_block(n, block);
        let blocks = SampleBlocks::new(n, block);
        let nb = block.min(n).max(1);
        let s2 = shape.clone();
        let pool = PerThread::new(move || Scratch::new(&s2, nb, mode));
        let wave = WAVE.min(blocks.len().max(1));
        let slots = (0..wave).map(|_| Slot::new(&shape, mode)).collect();
        let data = (0..shape.depth())
            .map(|l| LayerData::new(shape.k(l), shape.m(l), mode))
            .collect();
        Passes {
            shape,
            blocks,
            mode,
            act: net.activation(),
            pool,
            slots,
            data,
        }
    }

    /// Heap bytes of scratch, wave slots and layer data (not `A`, `D`).
    pub(crate) fn bytes(&self) -> usize {
        self.pool.total(|s| s.bytes())
            + self.slots.iter().map(Slot::bytes).sum::<usize>()
            + self.data.iter().map(LayerData::bytes).sum::<usize>()
    }

    fn prepare(&mut self) {
        self.pool.ensure(rayon::current_num_threads());
    }

    /// Auxiliaries = forward pass of `net` on `x`, written into the
    /// block-major buffer `a` (`N H` values).
    pub(crate) fn forward_init(&mut self, net: &Network, x: MatRef<'_, f64>, a: &mut [f64]) {
        self.prepare();
        let shape = &self.shape;
        let act = self.act;
        let pool = &self.pool;
        let step = self.blocks.block_len() * shape.hidden_rows;
        a.par_chunks_mut(step.max(1))
            .zip(self.blocks.ranges().par_iter())
            .for_each(|(slab, r)| {
                let nb = r.len();
                pool.with(|s| {
                    input_into(
                        None,
                        x.subcols(r.start, nb),
                        s.p0.as_mut().submatrix_mut(0, 0, shape.k(0), nb),
                    );
                    for l in 0..shape.depth() - 1 {
                        let (k, m) = (shape.k(l), shape.m(l));
                        let mut z = shape.layer_mut(slab, l, nb);
                        matmul(
                            z.rb_mut(),
                            Accum::Replace,
                            net.layer(l),
                            s.p0.as_ref().submatrix(0, 0, k, nb),
                            1.0,
                            Par::Seq,
                        );
                        input_into(
                            Some(act),
                            z.rb(),
                            s.p0.as_mut().submatrix_mut(0, 0, m + 1, nb),
                        );
                    }
                });
            });
    }

    /// Build the weight-step data of every layer from the current auxiliaries.
    pub(crate) fn accumulate(&mut self, x: MatRef<'_, f64>, y: MatRef<'_, f64>, a: &[f64]) {
        self.prepare();
        let shape = &self.shape;
        let act = self.act;
        let mode = self.mode;
        let pool = &self.pool;
        let data = &mut self.data;
        for d in data.iter_mut() {
            d.has = false;
            if mode == Accumulate::Gram {
                d.gram.fill(0.0);
                d.rhs.fill(0.0);
            }
        }
        let work = |_b: usize, r: std::ops::Range<usize>, slot: &mut Slot| {
            let nb = r.len();
            let slab = shape.slab(a, &r);
            pool.with(|s| {
                for l in 0..shape.depth() {
                    let (k, m) = (shape.k(l), shape.m(l));
                    let src = if l == 0 {
                        x.subcols(r.start, nb)
                    } else {
                        shape.layer(slab, l - 1, nb)
                    };
                    let mut p = s.p0.as_mut().submatrix_mut(0, 0, k, nb);
                    input_into((l > 0).then_some(act), src, p.rb_mut());
                    let t = if l + 1 == shape.depth() {
                        y.subcols(r.start, nb)
                    } else {
                        shape.layer(slab, l, nb)
                    };
                    match mode {
                        Accumulate::Gram => {
                            triangular::matmul(
                                slot.gram[l].as_mut(),
                                BlockStructure::TriangularLower,
                                Accum::Replace,
                                p.rb(),
                                BlockStructure::Rectangular,
                                p.rb().transpose(),
                                BlockStructure::Rectangular,
                                1.0,
                                Par::Seq,
                            );
                            matmul(
                                slot.rhs[l].as_mut(),
                                Accum::Replace,
                                p.rb(),
                                t.transpose(),
                                1.0,
                                Par::Seq,
                            );
                        }
                        Accumulate::Tsqr => {
                            let c = k + m;
                            let mut st = s.stack.as_mut().submatrix_mut(0, 0, nb, c);
                            // faer's transposed copy is cache-blocked (~7% of the block QR).
                            st.rb_mut().subcols_mut(0, k).copy_from(p.rb().transpose());
                            st.rb_mut().subcols_mut(k, m).copy_from(t.transpose());
                            let ws = s
                                .qrs
                                .iter_mut()
                                .find(|(cc, _)| *cc == c)
                                .map(|(_, q)| q)
                                .expect("a QR workspace per layer width");
                            qr_r_into(st, slot.rf[l].as_mut(), ws);
                        }
                    }
                }
            });
        };
        let fold = |_first: usize, slots: &mut [Slot]| {
            let slots = &*slots;
            data.par_iter_mut()
                .enumerate()
                .for_each(|(l, d)| match mode {
                    Accumulate::Gram => {
                        let k = d.gram.nrows();
                        for s in slots {
                            for j in 0..k {
                                for i in j..k {
                                    d.gram[(i, j)] += s.gram[l][(i, j)];
                                }
                            }
                            d.rhs += &s.rhs[l];
                        }
                    }
                    Accumulate::Tsqr => {
                        let c = d.rf.nrows();
                        let mut row = 0;
                        if d.has {
                            d.merge.as_mut().submatrix_mut(0, 0, c, c).copy_from(&d.rf);
                            row = c;
                        }
                        for s in slots {
                            d.merge
                                .as_mut()
                                .submatrix_mut(row, 0, c, c)
                                .copy_from(&s.rf[l]);
                            row += c;
                        }
                        let ws = d.qr.as_mut().expect("TSQR workspace");
                        qr_r_into(
                            d.merge.as_mut().submatrix_mut(0, 0, row, c),
                            d.rf.as_mut(),
                            ws,
                        );
                        d.has = true;
                    }
                });
        };
        self.blocks.for_each_wave(&mut self.slots, work, fold);
    }

    /// Residuals `E_l` (`lo <= l <= hi`) at the current `A` and weights: their
    /// sums into `r[l]`; for each hidden `l` with `dir[l]` (needs `l < hi`) the
    /// scaled gradient `D_l = inv[l] * dJ/dA_l` into `d` and `|dJ/dA_l|^2` into
    /// `gsq[l]`. `omega` are the loss weights, `scale = 2/N`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gradient(
        &mut self,
        net: &Network,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        a: &[f64],
        d: &mut [f64],
        (lo, hi): (usize, usize),
        dir: &[bool],
        omega: &[f64],
        inv: &[f64],
        r: &mut [f64],
        gsq: &mut [f64],
    ) {
        self.prepare();
        let shape = &self.shape;
        let act = self.act;
        let pool = &self.pool;
        let scale = 2.0 / shape.n.max(1) as f64;
        for l in lo..=hi {
            r[l] = 0.0;
            gsq[l] = 0.0;
        }
        let work = |_b: usize, rg: std::ops::Range<usize>, slot: &mut Slot, dslab: &mut [f64]| {
            let nb = rg.len();
            let slab = shape.slab(a, &rg);
            pool.with(|s| {
                let Scratch { p0, p1, e0, e1, .. } = s;
                let (mut p_cur, mut p_prev) = (p0, p1);
                let (mut e_cur, mut e_prev) = (e0, e1);
                for l in (lo..=hi).rev() {
                    let (k, m) = (shape.k(l), shape.m(l));
                    let src = if l == 0 {
                        x.subcols(rg.start, nb)
                    } else {
                        shape.layer(slab, l - 1, nb)
                    };
                    let mut p = p_cur.as_mut().submatrix_mut(0, 0, k, nb);
                    input_into((l > 0).then_some(act), src, p.rb_mut());
                    let t = if l + 1 == shape.depth() {
                        y.subcols(rg.start, nb)
                    } else {
                        shape.layer(slab, l, nb)
                    };
                    let mut e = e_cur.as_mut().submatrix_mut(0, 0, m, nb);
                    slot.r[l] = residual_into(net.layer(l), p.rb(), t, e.rb_mut());
                    if l < hi && dir[l] {
                        let m1 = shape.m(l + 1);
                        let mut dl = shape.layer_mut(dslab, l, nb);
                        // dl = -omega_{l+1} W_{l+1}^T E_{l+1}, then the elementwise parts.
                        matmul(
                            dl.rb_mut(),
                            Accum::Replace,
                            net.weight(l + 1).transpose(),
                            e_prev.as_ref().submatrix(0, 0, m1, nb),
                            -omega[l + 1],
                            Par::Seq,
                        );
                        slot.gsq[l] = direction_into(
                            act,
                            t,
                            p_prev.as_ref().submatrix(0, 0, m, nb),
                            e.rb(),
                            dl,
                            omega[l],
                            scale,
                            inv[l],
                        );
                    }
                    std::mem::swap(&mut p_cur, &mut p_prev);
                    std::mem::swap(&mut e_cur, &mut e_prev);
                }
            });
        };
        let fold = |_first: usize, slots: &mut [Slot]| {
            for s in slots.iter() {
                for l in lo..=hi {
                    r[l] += s.r[l];
                    gsq[l] += s.gsq[l];
                }
            }
        };
        let h = shape.hidden_rows;
        self.blocks
            .for_each_wave_chunks(&mut self.slots, d, h, work, fold);
    }

    /// Residual sums `r[l]`, `lo <= l <= hi`, at the trial point `A - t D`
    /// (only the layers with `moved[l]` move).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn trial(
        &mut self,
        net: &Network,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        a: &[f64],
        d: &[f64],
        (lo, hi): (usize, usize),
        moved: &[bool],
        step: f64,
        r: &mut [f64],
    ) {
        self.prepare();
        let shape = &self.shape;
        let act = self.act;
        let pool = &self.pool;
        for v in &mut r[lo..=hi] {
            *v = 0.0;
        }
        let work = |_b: usize, rg: std::ops::Range<usize>, slot: &mut Slot| {
            let nb = rg.len();
            let (ab, db) = (shape.slab(a, &rg), shape.slab(d, &rg));
            pool.with(|s| {
                let Scratch { p0, p1, e0, t, .. } = s;
                let (mut p_cur, mut p_next) = (p0, p1);
                // P_lo from the (possibly moved) auxiliaries below it.
                {
                    let k = shape.k(lo);
                    let p = p_cur.as_mut().submatrix_mut(0, 0, k, nb);
                    if lo == 0 {
                        input_into(None, x.subcols(rg.start, nb), p);
                    } else {
                        let j = lo - 1;
                        let src = aux_at(shape, ab, db, (j, nb), moved[j], step, t);
                        input_into(Some(act), src, p);
                    }
                }
                for l in lo..=hi {
                    let (k, m) = (shape.k(l), shape.m(l));
                    let tl = if l + 1 == shape.depth() {
                        y.subcols(rg.start, nb)
                    } else {
                        aux_at(shape, ab, db, (l, nb), moved[l], step, t)
                    };
                    let e = e0.as_mut().submatrix_mut(0, 0, m, nb);
                    slot.r[l] =
                        residual_into(net.layer(l), p_cur.as_ref().submatrix(0, 0, k, nb), tl, e);
                    if l < hi {
                        input_into(
                            Some(act),
                            tl,
                            p_next.as_mut().submatrix_mut(0, 0, m + 1, nb),
                        );
                        std::mem::swap(&mut p_cur, &mut p_next);
                    }
                }
            });
        };
        let fold = |_first: usize, slots: &mut [Slot]| {
            for s in slots.iter() {
                for l in lo..=hi {
                    r[l] += s.r[l];
                }
            }
        };
        self.blocks.for_each_wave(&mut self.slots, work, fold);
    }

    /// `A_l -= t D_l` for every hidden layer with `moved[l]`.
    pub(crate) fn update(&mut self, a: &mut [f64], d: &[f64], moved: &[bool], step: f64) {
        let shape = &self.shape;
        let len = self.blocks.block_len() * shape.hidden_rows;
        a.par_chunks_mut(len.max(1))
            .zip(d.par_chunks(len.max(1)))
            .for_each(|(ab, db)| {
                let nb = ab.len() / shape.hidden_rows.max(1);
                for (l, _) in moved.iter().enumerate().filter(|(_, m)| **m) {
                    let (o, m) = (shape.off[l] * nb, shape.m(l) * nb);
                    for (av, dv) in ab[o..o + m].iter_mut().zip(&db[o..o + m]) {
                        *av -= dv * step;
                    }
                }
            });
    }
}

/// Auxiliaries of hidden layer `l` for this block: `A_l`, or `A_l - t D_l`
/// (into `buf`) when the layer moves.
fn aux_at<'s>(
    shape: &Shape,
    ab: &'s [f64],
    db: &[f64],
    (l, nb): (usize, usize),
    moved: bool,
    step: f64,
    buf: &'s mut Mat<f64>,
) -> MatRef<'s, f64> {
    if !moved {
        return shape.layer(ab, l, nb);
    }
    let (o, m) = (shape.off[l] * nb, shape.m(l));
    let (al, dl) = (&ab[o..o + m * nb], &db[o..o + m * nb]);
    let mut out = buf.as_mut().submatrix_mut(0, 0, m, nb);
    for j in 0..nb {
        let (ac, dc) = (&al[j * m..(j + 1) * m], &dl[j * m..(j + 1) * m]);
        for ((t, av), dv) in col_mut(out.rb_mut(), j).iter_mut().zip(ac).zip(dc) {
            *t = av - dv * step;
        }
    }
    buf.as_ref().submatrix(0, 0, m, nb)
}

/// `p = [s(src); 1]` (`s` = identity for the input layer).
fn input_into(act: Option<Activation>, src: MatRef<'_, f64>, mut p: MatMut<'_, f64>) {
    let m = src.nrows();
    debug_assert_eq!(p.nrows(), m + 1);
    for j in 0..src.ncols() {
        let pc = col_mut(p.rb_mut(), j);
        match act {
            Some(act) => act.eval_slice(col(src, j), &mut pc[..m]),
            None => pc[..m].copy_from_slice(col(src, j)),
        }
        pc[m] = 1.0;
    }
}

/// `e = t - w p`; returns `|e|_F^2`.
fn residual_into(
    w: MatRef<'_, f64>,
    p: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    mut e: MatMut<'_, f64>,
) -> f64 {
    e.copy_from(t);
    matmul(e.rb_mut(), Accum::Add, w, p, -1.0, Par::Seq);
    let mut acc = Lanes::default();
    for j in 0..e.ncols() {
        acc.add_squares(col(e.rb(), j));
    }
    acc.sum()
}

/// Eight independent partial sums, so that sums of squares vectorise (a
/// single accumulator is a serial dependency chain). The order is fixed, so
/// results stay independent of the thread count.
#[derive(Default, Clone, Copy)]
struct Lanes([f64; 8]);

impl Lanes {
    #[inline]
    fn add_squares(&mut self, v: &[f64]) {
        let mut it = v.chunks_exact(8);
        for c in &mut it {
            for k in 0..8 {
                self.0[k] += c[k] * c[k];
            }
        }
        for (k, x) in it.remainder().iter().enumerate() {
            self.0[k] += x * x;
        }
    }
    fn sum(&self) -> f64 {
        let s = &self.0;
        ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
    }
}

/// Finish `D_l` in place: on entry `dl = -omega_{l+1} W^T E_{l+1}`; the
/// gradient is `g = scale (omega_l E_l + s'(A_l) (.) dl)`, stored as `inv g`.
/// Returns `|g|^2`. Written per activation so the loops vectorise.
#[allow(clippy::too_many_arguments)]
fn direction_into(
    act: Activation,
    a: MatRef<'_, f64>,
    s: MatRef<'_, f64>,
    e: MatRef<'_, f64>,
    mut dl: MatMut<'_, f64>,
    omega_l: f64,
    scale: f64,
    inv: f64,
) -> f64 {
    // The reference's operation order: g = scale * (omega_l e + s' dl).
    // First the gradient, then its squares and the scaling (vectorised).
    let mut acc = Lanes::default();
    for j in 0..dl.ncols() {
        let (ac, sc, ec) = (col(a, j), col(s, j), col(e, j));
        let dc = col_mut(dl.rb_mut(), j);
        match act {
            Activation::Tanh => {
                for i in 0..dc.len() {
                    let der = 1.0 - sc[i] * sc[i];
                    dc[i] = scale * (omega_l * ec[i] + der * dc[i]);
                }
            }
            _ => {
                for i in 0..dc.len() {
                    let der = act.deriv_with_value(ac[i], sc[i]);
                    dc[i] = scale * (omega_l * ec[i] + der * dc[i]);
                }
            }
        }
        acc.add_squares(dc);
        for v in dc.iter_mut() {
            *v *= inv;
        }
    }
    acc.sum()
}
