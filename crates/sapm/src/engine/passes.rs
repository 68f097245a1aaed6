//! Sample-block passes over one set's points (the data pass of the weight
//! steps, initialisation, `Omega`, the derivative gap, the update).
//!
//! State that lives across iterations is only what cannot be recomputed: the
//! auxiliaries `A` and the search direction `D` (layout in `layout.rs`), and
//! for sets with `Omega` rows the per-point weights. Layer inputs
//! `P_l = [s(A_{l-1}); 1]`, `Q_{l,k} = [s'(A_{l-1}) (.) D_{l-1,k}; 0]` and
//! residuals are rebuilt block by block in per-thread scratch (cache-sized)
//! whenever a pass needs them: a tanh costs about as much as one row of the
//! layer product, far less than keeping them (and a trial copy) in memory.
//!
//! Every pass runs over the set's fixed [`SampleBlocks`] partition in
//! parallel, in waves of [`WAVE`] blocks whose per-block sums are folded in
//! block order, so results do not depend on the thread count. Sets are folded
//! one after the other in their order.
//!
//! Passes of one iteration (Jacobi order, one auxiliary step):
//! 1. `accumulate` (`weight_data.rs`): per layer, the Gram matrix `P P^T` (lower
//!    triangle) and `P T^T`, or the R factor of the stacked `[P^T T^T]` (TSQR),
//!    of every row of every channel, weighted.
//! 2. (small solves, in the trainer)
//! 3. `gradient`: residuals with the new weights, residual sums, and the
//!    scaled auxiliary gradient `D` (`passes_grad.rs`).
//! 4. `trial` once per backtracking trial: residual sums at `A - t D`.
//! 5. [`SetPasses::update`]: `A -= t D` for the accepted `t`.

pub(crate) use super::layer_data::{Accumulate, LayerData, WAVE};
use super::layout::{Shape, deriv_input_into, input_into, second_input_into};
use crate::linalg::{PerThread, QrWs, SampleBlocks, balanced_block, mat_bytes};
use crate::net::activation::Activation;
use crate::net::{Network, col, col_mut};
use crate::task::rows::{Channel, OmegaRows, RowSet};
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

/// Static facts of a set that every pass uses.
#[derive(Debug, Clone)]
pub(crate) struct SetInfo {
    /// `(alpha_s / N_s) / (alpha_0 / N_0)`: the set's row weight relative to
    /// the first set's (exactly 1 for the first set).
    pub rel: f64,
    /// `2 rel / (N_0 / alpha_0)`: the factor of the auxiliary gradients.
    pub scale: f64,
    /// Readout terms as `(channel index, coefficient)`.
    pub readout: Vec<(usize, f64)>,
    /// The channel index when the readout is one channel with coefficient 1.
    pub plain: Option<usize>,
    /// Whether some readout coefficient varies from point to point
    /// ([`crate::task::rows::Readout::scales`]).
    pub per_point_coefs: bool,
    /// Largest `|readout coefficient|` of the value channel.
    pub value_coef: f64,
    /// `Omega^2` rows.
    pub omega: Option<OmegaRows>,
    /// Directions are raw gradients (tests).
    pub unit: bool,
}

impl SetInfo {
    /// `n` and `n_first`: the points of `set` and of `first` over all
    /// processes (`set.n()`, `first.n()` in a single process).
    pub(crate) fn new(set: &RowSet<'_>, first: &RowSet<'_>, n: f64, n_first: f64) -> Self {
        // `check` has made sure every read channel exists.
        let index = |c: Channel| set.channel_index(c).unwrap_or(0);
        let nref = n_first.max(1.0) / first.weight;
        let rel = (set.weight / n.max(1.0)) / (first.weight / n_first.max(1.0));
        SetInfo {
            rel,
            scale: 2.0 * rel / nref,
            readout: set
                .readout
                .terms
                .iter()
                .map(|&(c, w)| (index(c), w))
                .collect(),
            plain: set.readout.plain().map(index),
            per_point_coefs: set.readout.scales.iter().any(Option::is_some),
            value_coef: set.readout.coef_max(Channel::Value),
            omega: set.omega_rows,
            unit: false,
        }
    }
    /// Points carry their own curvature bounds (sets with derivative channels).
    pub(crate) fn per_point(&self, shape: &Shape) -> bool {
        shape.chans > 1
    }
}

/// Per-thread scratch, sized for one block.
pub(crate) struct Scratch {
    /// Layer inputs per channel, current and other layer (`k_max x nb`).
    pub pa: Vec<Mat<f64>>,
    pub pb: Vec<Mat<f64>>,
    /// Residuals per channel, current and other layer (`m_max x nb`).
    pub ea: Vec<Mat<f64>>,
    pub eb: Vec<Mat<f64>>,
    /// Trial auxiliaries per channel, current and other layer.
    pub ta: Vec<Mat<f64>>,
    pub tb: Vec<Mat<f64>>,
    /// Combined readout design, and weighted copies of a design and target.
    pub comb: Mat<f64>,
    pub wp: Mat<f64>,
    pub wt: Mat<f64>,
    /// Per-point sums (Omega).
    acc: Vec<f64>,
    /// `(C nb) x (k + m)` stacked rows of one layer (TSQR only).
    pub stack: Mat<f64>,
    /// One QR workspace per distinct `(rows, k + m)` (TSQR only).
    pub qrs: Vec<(usize, usize, QrWs)>,
}

impl Scratch {
    fn new(shape: &Shape, nb: usize, mode: Accumulate) -> Self {
        let depth = shape.depth();
        let kmax = (0..depth).map(|l| shape.k(l)).max().unwrap_or(1);
        let mmax = (0..depth).map(|l| shape.m(l)).max().unwrap_or(1);
        let c = shape.chans;
        let mats = |r: usize| (0..c).map(|_| Mat::zeros(r, nb)).collect::<Vec<_>>();
        let (stack, qrs) = match mode {
            Accumulate::Gram => (Mat::zeros(0, 0), Vec::new()),
            Accumulate::Tsqr => {
                let mut shapes: Vec<(usize, usize)> = (0..depth)
                    .map(|l| {
                        let rows = if l + 1 == depth { nb } else { c * nb };
                        (rows, shape.k(l) + shape.m(l))
                    })
                    .collect();
                shapes.sort_unstable();
                shapes.dedup();
                let qrs = shapes
                    .into_iter()
                    .map(|(r, cols)| (r, cols, QrWs::new(r, cols)))
                    .collect();
                (Mat::zeros(c * nb, kmax + mmax), qrs)
            }
        };
        Scratch {
            pa: mats(kmax),
            pb: mats(kmax),
            ea: mats(mmax),
            eb: mats(mmax),
            ta: mats(mmax),
            tb: mats(mmax),
            comb: Mat::zeros(kmax, nb),
            wp: Mat::zeros(kmax, nb),
            wt: Mat::zeros(mmax, nb),
            acc: vec![0.0; nb],
            stack,
            qrs,
        }
    }
    fn bytes(&self) -> usize {
        let v = |m: &Vec<Mat<f64>>| m.iter().map(mat_bytes).sum::<usize>();
        v(&self.pa)
            + v(&self.pb)
            + v(&self.ea)
            + v(&self.eb)
            + v(&self.ta)
            + v(&self.tb)
            + [&self.comb, &self.wp, &self.wt, &self.stack]
                .iter()
                .map(|m| mat_bytes(m))
                .sum::<usize>()
            + 8 * self.acc.len()
            + self.qrs.iter().map(|(_, _, q)| q.bytes()).sum::<usize>()
    }
}

/// Per-block outputs of one wave slot.
pub(crate) struct Slot {
    pub r: Vec<f64>,
    pub gsq: Vec<f64>,
    pub slope: Vec<f64>,
    pub gap: [f64; 4],
    pub gram: Vec<Mat<f64>>,
    pub rhs: Vec<Mat<f64>>,
    pub rf: Vec<Mat<f64>>,
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
            slope: vec![0.0; depth],
            gap: [0.0; 4],
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
            + 24 * self.r.len()
    }
}

/// The block passes of one set with their reusable buffers.
pub(crate) struct SetPasses {
    pub shape: Shape,
    pub blocks: SampleBlocks,
    pub mode: Accumulate,
    pub info: SetInfo,
    pub act: Activation,
    pub pool: PerThread<Scratch>,
    pub slots: Vec<Slot>,
}

impl SetPasses {
    pub(crate) fn new(
        net: &Network,
        set: &RowSet<'_>,
        info: SetInfo,
        block: usize,
        mode: Accumulate,
    ) -> Self {
        let n = set.n();
        let shape = Shape::new(net.widths(), set.channels(), &set.pairs, n);
        let block = balanced_block(n, block);
        let blocks = SampleBlocks::new(n, block);
        let nb = block.min(n).max(1);
        let s2 = shape.clone();
        let pool = PerThread::new(move || Scratch::new(&s2, nb, mode));
        let wave = WAVE.min(blocks.len().max(1));
        let slots = (0..wave).map(|_| Slot::new(&shape, mode)).collect();
        SetPasses {
            shape,
            blocks,
            mode,
            info,
            act: net.activation(),
            pool,
            slots,
        }
    }

    /// Heap bytes of scratch and wave slots (not `A`, `D`, `Omega`).
    pub(crate) fn bytes(&self) -> usize {
        self.pool.total(|s| s.bytes()) + self.slots.iter().map(Slot::bytes).sum::<usize>()
    }

    pub(crate) fn prepare(&mut self) {
        self.pool.ensure(rayon::current_num_threads());
    }

    /// Rows this set adds to layer `l`'s weight step.
    pub(crate) fn rows(&self, l: usize) -> usize {
        let per = if l + 1 == self.shape.depth() {
            1
        } else {
            self.shape.chans
        };
        per * self.shape.n
    }

    /// Auxiliaries = forward pass of `net` (values and directional
    /// derivatives), written into the block-major buffer `a`.
    pub(crate) fn forward_init(&mut self, net: &Network, set: &RowSet<'_>, a: &mut [f64]) {
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
                    for l in 0..shape.depth() - 1 {
                        layer_inputs(shape, act, set, slab, r, l, &mut s.pa);
                        let k = shape.k(l);
                        for c in 0..shape.chans {
                            matmul(
                                shape.layer_mut(slab, l, c, nb),
                                Accum::Replace,
                                net.layer(l),
                                s.pa[c].as_ref().submatrix(0, 0, k, nb),
                                1.0,
                                Par::Seq,
                            );
                        }
                    }
                });
            });
    }

    /// `Omega^2_{l,n} = floor + deriv sum_{j >= l} sum_k |d_{j,k,n}|^2` into
    /// `o` (`(L-1) N` values, block-major: layer `l` of a block at `l n_b`).
    pub(crate) fn omega_rows(&mut self, a: &[f64], o: &mut [f64]) {
        let Some(w) = self.info.omega else { return };
        self.prepare();
        let shape = &self.shape;
        let pool = &self.pool;
        let hidden = shape.depth() - 1;
        let step = self.blocks.block_len() * hidden;
        o.par_chunks_mut(step.max(1))
            .zip(self.blocks.ranges().par_iter())
            .for_each(|(ob, r)| {
                let nb = r.len();
                let slab = shape.slab(a, r);
                pool.with(|s| {
                    let acc = &mut s.acc[..nb];
                    acc.fill(0.0);
                    let nd = shape.dirs();
                    for l in (0..hidden).rev() {
                        for c in 1..=nd {
                            let d = shape.layer(slab, l, c, nb);
                            for (j, v) in acc.iter_mut().enumerate() {
                                for x in col(d, j) {
                                    *v += x * x;
                                }
                            }
                        }
                        for (t, &(k, q)) in shape.pairs.iter().enumerate() {
                            let (dk, dq) = (
                                shape.layer(slab, l, 1 + k, nb),
                                shape.layer(slab, l, 1 + q, nb),
                            );
                            let e = shape.layer(slab, l, 1 + nd + t, nb);
                            for (j, v) in acc.iter_mut().enumerate() {
                                for ((a, b), x) in col(dk, j).iter().zip(col(dq, j)).zip(col(e, j))
                                {
                                    let h = (a * b).abs() + x.abs();
                                    *v += h * h;
                                }
                            }
                        }
                        for (j, v) in acc.iter().enumerate() {
                            ob[l * nb + j] = w.floor + w.deriv * v;
                        }
                    }
                });
            });
    }

    /// `A_l -= t D_l` for every hidden layer with `moved[l]` (all channels).
    pub(crate) fn update(&mut self, a: &mut [f64], d: &[f64], moved: &[bool], step: f64) {
        let shape = &self.shape;
        let len = self.blocks.block_len() * shape.hidden_rows;
        a.par_chunks_mut(len.max(1))
            .zip(d.par_chunks(len.max(1)))
            .for_each(|(ab, db)| {
                let nb = ab.len() / shape.hidden_rows.max(1);
                for (l, _) in moved.iter().enumerate().filter(|(_, m)| **m) {
                    let span = shape.layer_span(l, nb);
                    for (av, dv) in ab[span.clone()].iter_mut().zip(&db[span]) {
                        *av -= dv * step;
                    }
                }
            });
    }

    /// `[sum |d - dz|^2, sum |dz|^2]` over the first-derivative channels of
    /// every hidden layer, then the same over the second-derivative channels:
    /// the auxiliaries against the network's true input derivatives.
    pub(crate) fn derivative_gap(
        &mut self,
        net: &Network,
        set: &RowSet<'_>,
        a: &[f64],
    ) -> [f64; 4] {
        if self.shape.chans < 2 {
            return [0.0; 4];
        }
        self.prepare();
        let shape = &self.shape;
        let act = self.act;
        let pool = &self.pool;
        let mut total = [0.0; 4];
        let work = |_b: usize, r: std::ops::Range<usize>, slot: &mut Slot| {
            let nb = r.len();
            let slab = shape.slab(a, &r);
            slot.gap = [0.0; 4];
            pool.with(|s| {
                layer_inputs(shape, act, set, slab, &r, 0, &mut s.pa);
                for l in 0..shape.depth() - 1 {
                    let (k, m) = (shape.k(l), shape.m(l));
                    for c in 0..shape.chans {
                        matmul(
                            s.ea[c].as_mut().submatrix_mut(0, 0, m, nb),
                            Accum::Replace,
                            net.layer(l),
                            s.pa[c].as_ref().submatrix(0, 0, k, nb),
                            1.0,
                            Par::Seq,
                        );
                    }
                    for c in 1..shape.chans {
                        let (dz, d) = (
                            s.ea[c].as_ref().submatrix(0, 0, m, nb),
                            shape.layer(slab, l, c, nb),
                        );
                        // Channels past the directions are second derivatives.
                        let k = if c > shape.dirs() { 2 } else { 0 };
                        for j in 0..nb {
                            for (x, y) in col(dz, j).iter().zip(col(d, j)) {
                                slot.gap[k] += (y - x) * (y - x);
                                slot.gap[k + 1] += x * x;
                            }
                        }
                    }
                    let ea = &s.ea;
                    let dz = |c: usize| ea[c].as_ref().submatrix(0, 0, m, nb);
                    next_inputs(act, shape, dz, &mut s.pa);
                }
            });
        };
        let fold = |_first: usize, slots: &mut [Slot]| {
            for s in slots.iter() {
                for (t, g) in total.iter_mut().zip(s.gap) {
                    *t += g;
                }
            }
        };
        self.blocks.for_each_wave(&mut self.slots, work, fold);
        total
    }
}

/// Inputs of layer `l` for every channel of a block, from the auxiliaries of
/// layer `l - 1` (or the set's inputs and directions for `l = 0`) into `p`.
pub(crate) fn layer_inputs(
    shape: &Shape,
    act: Activation,
    set: &RowSet<'_>,
    slab: &[f64],
    r: &std::ops::Range<usize>,
    l: usize,
    p: &mut [Mat<f64>],
) {
    let nb = r.len();
    let k = shape.k(l);
    if l == 0 {
        input_into(
            None,
            set.x.subcols(r.start, nb),
            p[0].as_mut().submatrix_mut(0, 0, k, nb),
        );
        for (c, v) in set.dirs.iter().enumerate() {
            let z = v.subcols(r.start, nb);
            deriv_input_into(None, z, z, z, p[1 + c].as_mut().submatrix_mut(0, 0, k, nb));
        }
        // Straight directions: the input's second derivatives are zero.
        for pc in &mut p[1 + set.dirs.len()..shape.chans] {
            pc.as_mut().submatrix_mut(0, 0, k, nb).fill(0.0);
        }
        return;
    }
    let a = |c: usize| shape.layer(slab, l - 1, c, nb);
    next_inputs(act, shape, a, p);
}

/// The next layer's inputs from the pre-activations `z = z(0)` (`m x n_b`)
/// and channel `c`'s derivatives `z(c)`: `[s(z); 1]`, `[s'(z) (.) z(c); 0]`
/// for the first-derivative channels and `[s''(z) (.) z(k) (.) z(m) + s'(z)
/// (.) z(c); 0]` for the second-derivative ones, into `p` (`m + 1` rows each).
pub(crate) fn next_inputs<'a>(
    act: Activation,
    shape: &Shape,
    z: impl Fn(usize) -> MatRef<'a, f64>,
    p: &mut [Mat<f64>],
) {
    let z0 = z(0);
    let (k, nb) = (z0.nrows() + 1, z0.ncols());
    input_into(Some(act), z0, p[0].as_mut().submatrix_mut(0, 0, k, nb));
    let (p0, rest) = p.split_at_mut(1);
    let s = p0[0].as_ref().submatrix(0, 0, k - 1, nb);
    let nd = shape.dirs();
    for c in 1..=nd {
        let q = rest[c - 1].as_mut().submatrix_mut(0, 0, k, nb);
        deriv_input_into(Some(act), z0, s, z(c), q);
    }
    for (t, &(a, b)) in shape.pairs.iter().enumerate() {
        let c = 1 + nd + t;
        let q = rest[c - 1].as_mut().submatrix_mut(0, 0, k, nb);
        second_input_into(act, (z0, s), (z(1 + a), z(1 + b), z(c)), q);
    }
}

/// Sum of the readout coefficients of channel `c` at point `j` of `set`.
pub(crate) fn point_coef(set: &RowSet<'_>, c: usize, j: usize) -> f64 {
    let r = &set.readout;
    (0..r.terms.len())
        .filter(|&t| set.channel_index(r.terms[t].0) == Some(c))
        .map(|t| r.coef_at(t, j))
        .sum()
}

/// The readout's design `sum_c coef_c P_c` of the points `r` of `set` into
/// `comb` (per-point coefficients when the readout has them).
pub(crate) fn combine(
    info: &SetInfo,
    set: &RowSet<'_>,
    r: &std::ops::Range<usize>,
    p: &[Mat<f64>],
    k: usize,
    comb: &mut Mat<f64>,
) {
    let nb = r.len();
    let mut out = comb.as_mut().submatrix_mut(0, 0, k, nb);
    out.fill(0.0);
    for (t, &(c, w)) in info.readout.iter().enumerate() {
        let pc = p[c].as_ref().submatrix(0, 0, k, nb);
        for j in 0..nb {
            let w = if info.per_point_coefs {
                set.readout.coef_at(t, r.start + j)
            } else {
                w
            };
            let o = col_mut(out.rb_mut(), j);
            for (x, y) in o.iter_mut().zip(col(pc, j)) {
                *x += w * y;
            }
        }
    }
}
