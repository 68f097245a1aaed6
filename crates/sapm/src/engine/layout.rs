//! Where a set's auxiliaries live, and the elementwise kernels of the passes.
//!
//! A set's auxiliaries (and the search direction `D`) are `H = C (m_1 + ... +
//! m_{L-1})` values per point (`C` channels), stored **block by block**: block
//! `b` owns the slab `[b B H, (b B + n_b) H)` (`B` the block size); inside it,
//! hidden layer `l`, channel `c` is the contiguous column-major `m_l x n_b`
//! matrix at offset `(off_l + c m_l) n_b`. Every pass streams each layer's
//! block contiguously (a layout with all layers of a point together made each
//! layer read 512-byte runs 4.6 KB apart and stall on every column), and rayon
//! hands each block its own slab without any unsafe sharing. With one channel
//! this is the layout of the regression engine before the merge, so its
//! numbers did not move.

use crate::checkpoint::RowSpan;
use crate::linalg::balanced_block;
use crate::net::activation::Activation;
use crate::net::{col, col_mut};
use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Shapes of one set.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// `[d, m_1, ..., m_L]`.
    pub widths: Vec<usize>,
    /// Channels `C` (value + derivative directions + second-derivative pairs).
    pub chans: usize,
    /// The pairs `(k, m)` of directions of the second-derivative channels
    /// (channel `1 + dirs + t` for pair `t`).
    pub pairs: Vec<(usize, usize)>,
    /// `off_l = C (m_1 + ... + m_l)` (0-based hidden `l`).
    pub off: Vec<usize>,
    /// `H`, auxiliaries per point.
    pub hidden_rows: usize,
    /// Points.
    pub n: usize,
}

impl Shape {
    pub(crate) fn new(widths: &[usize], chans: usize, pairs: &[(usize, usize)], n: usize) -> Self {
        let depth = widths.len() - 1;
        let mut off = Vec::with_capacity(depth);
        let mut h = 0;
        for l in 0..depth.saturating_sub(1) {
            off.push(h);
            h += chans * widths[l + 1];
        }
        Shape {
            widths: widths.to_vec(),
            chans,
            pairs: pairs.to_vec(),
            off,
            hidden_rows: h,
            n,
        }
    }
    pub(crate) fn depth(&self) -> usize {
        self.widths.len() - 1
    }
    /// First-derivative channels (directions).
    pub(crate) fn dirs(&self) -> usize {
        self.chans - 1 - self.pairs.len()
    }
    /// Columns `k_l = m_{l-1} + 1` of layer `l`'s design.
    pub(crate) fn k(&self, l: usize) -> usize {
        self.widths[l] + 1
    }
    /// Rows `m_l` of layer `l`'s output.
    pub(crate) fn m(&self, l: usize) -> usize {
        self.widths[l + 1]
    }
    /// Offset of hidden layer `l`, channel `c` in a slab of `nb` points.
    fn at(&self, l: usize, c: usize, nb: usize) -> usize {
        (self.off[l] + c * self.m(l)) * nb
    }
    /// Hidden layer `l`, channel `c` of a block slab of `nb` points.
    pub(crate) fn layer<'s>(
        &self,
        slab: &'s [f64],
        l: usize,
        c: usize,
        nb: usize,
    ) -> MatRef<'s, f64> {
        let (o, m) = (self.at(l, c, nb), self.m(l));
        MatRef::from_column_major_slice(&slab[o..o + m * nb], m, nb)
    }
    /// Mutable hidden layer `l`, channel `c` of a block slab.
    pub(crate) fn layer_mut<'s>(
        &self,
        slab: &'s mut [f64],
        l: usize,
        c: usize,
        nb: usize,
    ) -> MatMut<'s, f64> {
        let (o, m) = (self.at(l, c, nb), self.m(l));
        MatMut::from_column_major_slice_mut(&mut slab[o..o + m * nb], m, nb)
    }
    /// All channels of hidden layer `l` in a slab of `nb` points (one slice).
    pub(crate) fn layer_span(&self, l: usize, nb: usize) -> std::ops::Range<usize> {
        let o = self.off[l] * nb;
        o..o + self.chans * self.m(l) * nb
    }
    /// Where point `j`'s hidden layer `l`, channel `c` starts in a buffer of
    /// `n` points in blocks of `balanced_block(n, block)` (as
    /// [`super::passes::SetPasses`] blocks them).
    fn point_at(&self, block: usize, n: usize, j: usize, l: usize, c: usize) -> usize {
        let b = balanced_block(n, block);
        let start = j / b * b;
        start * self.hidden_rows + self.at(l, c, b.min(n - start)) + (j - start) * self.m(l)
    }

    /// Copy `count` points' values from `src` (rows `from`) to `dst` (rows
    /// `to`), both block by block as [`Shape::point_at`] says: resuming a
    /// checkpoint on another number of processes re-cuts the auxiliaries.
    pub(crate) fn copy_points(
        &self,
        block: usize,
        src: &[f64],
        from: RowSpan,
        dst: &mut [f64],
        to: RowSpan,
        count: usize,
    ) {
        for k in 0..count {
            for l in 0..self.depth() - 1 {
                let m = self.m(l);
                for c in 0..self.chans {
                    let s = self.point_at(block, from.n, from.at + k, l, c);
                    let d = self.point_at(block, to.n, to.at + k, l, c);
                    dst[d..d + m].copy_from_slice(&src[s..s + m]);
                }
            }
        }
    }
    /// The slab of the block covering `range` in a block-major buffer.
    pub(crate) fn slab<'s>(&self, buf: &'s [f64], range: &std::ops::Range<usize>) -> &'s [f64] {
        &buf[range.start * self.hidden_rows..range.end * self.hidden_rows]
    }
}

/// `p = [s(src); 1]` (`s` = identity for the input layer).
pub(crate) fn input_into(act: Option<Activation>, src: MatRef<'_, f64>, mut p: MatMut<'_, f64>) {
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

/// `q = [s'(a) (.) d; 0]` given `s = s(a)` (the first rows of the value
/// input); for the input layer (`act = None`) `q = [d; 0]`.
pub(crate) fn deriv_input_into(
    act: Option<Activation>,
    a: MatRef<'_, f64>,
    s: MatRef<'_, f64>,
    d: MatRef<'_, f64>,
    mut q: MatMut<'_, f64>,
) {
    let m = d.nrows();
    for j in 0..d.ncols() {
        let qc = col_mut(q.rb_mut(), j);
        let dc = col(d, j);
        match act {
            None => qc[..m].copy_from_slice(dc),
            Some(Activation::Tanh) => {
                let sc = col(s, j);
                for i in 0..m {
                    qc[i] = (1.0 - sc[i] * sc[i]) * dc[i];
                }
            }
            Some(act) => {
                let (ac, sc) = (col(a, j), col(s, j));
                for i in 0..m {
                    qc[i] = crate::net::derivs::derivs(act, ac[i], sc[i]).0 * dc[i];
                }
            }
        }
        qc[m] = 0.0;
    }
}

/// `r = [s''(a) (.) dk (.) dm + s'(a) (.) e; 0]` given `s = s(a)`: the
/// layer input of a second-derivative channel.
pub(crate) fn second_input_into(
    act: Activation,
    (a, s): (MatRef<'_, f64>, MatRef<'_, f64>),
    (dk, dm, e): (MatRef<'_, f64>, MatRef<'_, f64>, MatRef<'_, f64>),
    mut r: MatMut<'_, f64>,
) {
    let m = e.nrows();
    for j in 0..e.ncols() {
        let rc = col_mut(r.rb_mut(), j);
        let (ac, sc, kc, mc, ec) = (col(a, j), col(s, j), col(dk, j), col(dm, j), col(e, j));
        for i in 0..m {
            let (s1, s2) = crate::net::derivs::derivs(act, ac[i], sc[i]);
            rc[i] = s2 * kc[i] * mc[i] + s1 * ec[i];
        }
        rc[m] = 0.0;
    }
}

/// `e = t - w p`; returns `|e|_F^2`.
pub(crate) fn residual_into(
    w: MatRef<'_, f64>,
    p: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    mut e: MatMut<'_, f64>,
) -> f64 {
    e.copy_from(t);
    matmul(e.rb_mut(), Accum::Add, w, p, -1.0, Par::Seq);
    let mut acc = Lanes::default();
    for j in 0..e.ncols() {
        acc.add_squares(col(e.as_ref(), j));
    }
    acc.sum()
}

/// `sum_n o_n |e_n|^2` over the columns of `e`.
pub(crate) fn weighted_squares(e: MatRef<'_, f64>, o: &[f64]) -> f64 {
    let mut s = 0.0;
    for (j, oj) in o.iter().enumerate().take(e.ncols()) {
        let mut acc = Lanes::default();
        acc.add_squares(col(e, j));
        s += oj * acc.sum();
    }
    s
}

/// Eight independent partial sums, so that sums of squares vectorise (a
/// single accumulator is a serial dependency chain). The order is fixed, so
/// results stay independent of the thread count.
#[derive(Default, Clone, Copy)]
pub(crate) struct Lanes([f64; 8]);

impl Lanes {
    #[inline]
    pub(crate) fn add_squares(&mut self, v: &[f64]) {
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
    pub(crate) fn sum(&self) -> f64 {
        let s = &self.0;
        ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
    }
}

/// Finish a value-only set's `D_l` in place: on entry `dl = -omega_{l+1}
/// W^T E_{l+1}`; the gradient is `g = scale (omega_l E_l + s'(A_l) (.) dl)`,
/// stored as `inv g` (one curvature bound per layer). Returns `|g|^2`.
/// Written per activation so the loops vectorise.
#[allow(clippy::too_many_arguments)]
pub(crate) fn value_direction_into(
    act: Activation,
    a: MatRef<'_, f64>,
    s: MatRef<'_, f64>,
    e: MatRef<'_, f64>,
    mut dl: MatMut<'_, f64>,
    omega_l: f64,
    scale: f64,
    inv: f64,
) -> f64 {
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

/// One layer of a set with derivative channels, for [`channel_direction_into`].
/// Channel `c` of a block's layer span is the column-major `m x nb` matrix at
/// offset `c m nb` (see [`Shape::layer_span`]).
pub(crate) struct ChannelLayer<'s> {
    /// Points in the block, units in the layer, channels.
    pub nb: usize,
    pub m: usize,
    pub chans: usize,
    /// Direction pairs of the second-derivative channels (after the
    /// `chans - 1 - pairs.len()` first-derivative ones).
    pub pairs: &'s [(usize, usize)],
    /// The layer's auxiliaries (every channel).
    pub aux: &'s [f64],
    /// `s(A_l)` (`m x nb`, column-major with leading dimension `lda`).
    pub s: MatRef<'s, f64>,
    /// Residuals per channel: `E_l` for the value, `F_{l,k}` for the derivatives.
    pub res: &'s [Mat<f64>],
    /// `Omega^2_{l,n}` of the value rows (`None`: 1).
    pub o: Option<&'s [f64]>,
    /// Weight of the next layer's value rows per point: `Omega^2_{l+1,n}`,
    /// or for the output layer the squared readout coefficient of the value.
    pub onext: Onext<'s>,
}

/// See [`ChannelLayer::onext`].
pub(crate) enum Onext<'s> {
    Const(f64),
    Rows(&'s [f64]),
}

/// Scalars of [`channel_direction_into`].
pub(crate) struct ChannelScalars {
    pub omega_l: f64,
    pub omega_next: f64,
    /// `|W_{l+1}|_F^2`.
    pub norm_next: f64,
    /// `K^2`, the squared Lipschitz constant of the activation.
    pub k2: f64,
    /// `2 alpha_s / N_s`, in units of the reference set's mean.
    pub scale: f64,
    /// Leave the gradient unscaled (tests read the raw gradient).
    pub unit: bool,
}

/// Finish `D_l` of a set with derivative channels. On entry the value slot
/// of `dl` (the layer's span of the direction slab) holds `dv = -omega_{l+1}
/// B_val`, first-derivative slot `k` holds `dk = -omega_{l+1} B_k` and
/// second-derivative slot `km` holds `dkm = -omega_{l+1} B_km` (`B` the next
/// layer's residuals pulled back by `W_{l+1}^T`). The gradients
///
/// ```text
/// g_a   = scale (omega_l Omega^2 E + s'(a) dv + s''(a) sum_k d_k dk
///                + sum_km (s'''(a) d_k d_m + s''(a) e_km) dkm)
/// g_dk  = scale (omega_l F_k + s'(a) dk + s''(a) sum_km d_m dkm)
///                (a pair (k, k) counts twice)
/// g_ekm = scale (omega_l G_km + s'(a) dkm)
/// ```
///
/// are scaled per point by the inverse of a curvature bound of the point's
/// sub-problem (`omega` and `Omega` span decades, and the value auxiliaries'
/// curvature grows with the derivative magnitudes) and written back.
/// Returns `(|g|^2, <g, D>)`.
pub(crate) fn channel_direction_into(
    act: Activation,
    lay: &ChannelLayer<'_>,
    sc: &ChannelScalars,
    dl: &mut [f64],
) -> (f64, f64) {
    let inv = |l: f64| {
        if sc.unit {
            1.0
        } else if l > 0.0 && l.is_finite() {
            1.0 / l
        } else {
            0.0
        }
    };
    let (m, nb, chans) = (lay.m, lay.nb, lay.chans);
    let pairs = lay.pairs;
    let nd = chans - 1 - pairs.len();
    let second = !pairs.is_empty();
    let slot = m * nb;
    let (mut gsq, mut slope) = (0.0, 0.0);
    let next = sc.omega_next * sc.norm_next;
    let sd_const = inv(sc.scale * (sc.omega_l + next * sc.k2));
    let e = lay.res[0].as_ref();
    for j in 0..nb {
        let oj = lay.o.map_or(1.0, |o| o[j]);
        let onext = match lay.onext {
            Onext::Const(c) => c,
            Onext::Rows(r) => r[j],
        };
        let col0 = j * m;
        let aux = |c: usize, i: usize| lay.aux[c * slot + col0 + i];
        // Largest sums over the point's units: |d|^2 (first-derivative
        // channels) and (|d_k d_m| + |e_km|)^2 (second-derivative ones).
        let (mut dmax, mut hmax): (f64, f64) = (0.0, 0.0);
        for i in 0..m {
            let mut s2 = 0.0;
            for c in 1..=nd {
                s2 += aux(c, i) * aux(c, i);
            }
            dmax = dmax.max(s2);
            let mut h2 = 0.0;
            for (t, &(k, q)) in pairs.iter().enumerate() {
                let v = (aux(1 + k, i) * aux(1 + q, i)).abs() + aux(1 + nd + t, i).abs();
                h2 += v * v;
            }
            hmax = hmax.max(h2);
        }
        let sa = inv(sc.scale * (sc.omega_l * oj + next * (sc.k2 * onext + dmax + hmax)));
        // A first derivative also enters the next layer's second-derivative
        // rows, through s''(a) d_m.
        let sd = if second {
            inv(sc.scale * (sc.omega_l + next * sc.k2 * (1.0 + 4.0 * dmax)))
        } else {
            sd_const
        };
        let (mut ga2, mut gd2, mut ge2) = (0.0, 0.0, 0.0);
        for i in 0..m {
            let z = aux(0, i);
            let (s1, s2, s3) = if second {
                crate::net::second::derivs3(act, z, lay.s[(i, j)])
            } else {
                let (s1, s2) = crate::net::derivs::derivs(act, z, lay.s[(i, j)]);
                (s1, s2, 0.0)
            };
            let at = |c: usize| c * slot + col0 + i;
            let mut chain = 0.0;
            for c in 1..=nd {
                chain += aux(c, i) * dl[at(c)];
            }
            let mut chain2 = 0.0;
            for (t, &(k, q)) in pairs.iter().enumerate() {
                let c = 1 + nd + t;
                chain2 += (s3 * aux(1 + k, i) * aux(1 + q, i) + s2 * aux(c, i)) * dl[at(c)];
            }
            let g = sc.scale * (sc.omega_l * oj * e[(i, j)] + s1 * dl[at(0)] + s2 * chain + chain2);
            ga2 += g * g;
            dl[at(0)] = sa * g;
            // The first derivatives read the pair slots before they are overwritten.
            for c in 1..=nd {
                let k = c - 1;
                let mut pair = 0.0;
                for (t, &(p, q)) in pairs.iter().enumerate() {
                    let dkm = dl[at(1 + nd + t)];
                    if p == k {
                        pair += aux(1 + q, i) * dkm;
                    }
                    if q == k {
                        pair += aux(1 + p, i) * dkm;
                    }
                }
                let g = sc.scale * (sc.omega_l * lay.res[c][(i, j)] + s1 * dl[at(c)] + s2 * pair);
                gd2 += g * g;
                dl[at(c)] = sd * g;
            }
            for c in 1 + nd..chans {
                let g = sc.scale * (sc.omega_l * lay.res[c][(i, j)] + s1 * dl[at(c)]);
                ge2 += g * g;
                dl[at(c)] = sd_const * g;
            }
        }
        gsq += ga2 + gd2 + ge2;
        slope += sa * ga2 + sd * gd2 + sd_const * ge2;
    }
    (gsq, slope)
}
