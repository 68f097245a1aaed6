//! The residual passes of the auxiliary step: residuals with their sums and
//! the scaled auxiliary gradient (`gradient`), and residual sums at a trial
//! point (`trial`). See `passes.rs` for the layout and the fold order.

use super::layout::{
    ChannelLayer, ChannelScalars, Onext, Shape, channel_direction_into, residual_into,
    value_direction_into, weighted_squares,
};
use super::passes::{SetInfo, SetPasses, Slot, combine, layer_inputs, next_inputs, point_coef};
use crate::net::activation::Activation;
use crate::net::{Network, col, col_mut};
use crate::task::rows::RowSet;
use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// What the gradient pass needs besides the data.
pub(crate) struct GradArgs<'s> {
    /// Loss weights `omega_l`.
    pub omega: &'s [f64],
    /// `|W_l|_F^2`.
    pub norms: &'s [f64],
    /// Per-layer inverse curvature bounds (sets without derivative channels).
    pub inv: &'s [f64],
    /// `K^2` of the activation.
    pub k2: f64,
    /// Hidden layers whose direction is wanted.
    pub dir: &'s [bool],
}

/// Per-layer sums of one set's pass.
pub(crate) struct Sums<'s> {
    pub r: &'s mut [f64],
    pub gsq: &'s mut [f64],
    pub slope: &'s mut [f64],
}

impl SetPasses {
    /// Residuals of layers `lo..=hi` at the current auxiliaries and weights:
    /// their (weighted) sums into `sums.r[l]`; for each hidden `l < hi` with
    /// `dir[l]` the scaled gradient into `d` and `|g|^2`, `<g, D>` into
    /// `sums.gsq[l]`, `sums.slope[l]` (the latter only for sets with
    /// derivative channels; value-only sets scale by `inv[l]` afterwards).
    pub(crate) fn gradient(
        &mut self,
        net: &Network,
        set: &RowSet<'_>,
        (a, o): (&[f64], &[f64]),
        d: &mut [f64],
        (lo, hi): (usize, usize),
        args: &GradArgs<'_>,
        sums: Sums<'_>,
    ) {
        self.prepare();
        let shape = &self.shape;
        let act = self.act;
        let info = &self.info;
        let pool = &self.pool;
        let depth = shape.depth();
        let per_point = info.per_point(shape);
        for l in lo..=hi {
            sums.r[l] = 0.0;
            sums.gsq[l] = 0.0;
            sums.slope[l] = 0.0;
        }
        let work = |_b: usize, rg: std::ops::Range<usize>, slot: &mut Slot, dslab: &mut [f64]| {
            let nb = rg.len();
            let slab = shape.slab(a, &rg);
            let orow = omega_rows(info.omega.is_some(), o, &rg, depth);
            pool.with(|s| {
                let (mut pc, mut pp) = (&mut s.pa, &mut s.pb);
                let (mut ec, mut ep) = (&mut s.ea, &mut s.eb);
                for l in (lo..=hi).rev() {
                    let m = shape.m(l);
                    layer_inputs(shape, act, set, slab, &rg, l, pc);
                    slot.r[l] = if l + 1 == depth {
                        let e = ec[0].as_mut().submatrix_mut(0, 0, m, nb);
                        readout_residual(info, set, net.layer(l), pc, &mut s.comb, &rg, e)
                    } else {
                        hidden_residuals(shape, net, slab, pc, ec, (l, nb), orow(l))
                    };
                    if l < hi && args.dir[l] {
                        pull_back(
                            shape,
                            (info, set, &rg),
                            net,
                            args.omega,
                            dslab,
                            ep,
                            (l, nb),
                            orow(l + 1),
                        );
                        let s_al = pp[0].as_ref().submatrix(0, 0, m, nb);
                        if per_point {
                            let onext = if l + 2 == depth {
                                Onext::Const(info.value_coef * info.value_coef)
                            } else {
                                match orow(l + 1) {
                                    Some(r) => Onext::Rows(r),
                                    None => Onext::Const(1.0),
                                }
                            };
                            let span = shape.layer_span(l, nb);
                            let lay = ChannelLayer {
                                nb,
                                m,
                                chans: shape.chans,
                                pairs: &shape.pairs,
                                aux: &slab[span.clone()],
                                s: s_al,
                                res: ec,
                                o: orow(l),
                                onext,
                            };
                            let sc = ChannelScalars {
                                omega_l: args.omega[l],
                                omega_next: args.omega[l + 1],
                                norm_next: args.norms[l + 1],
                                k2: args.k2,
                                scale: info.scale,
                                unit: info.unit,
                            };
                            let (g, sl) = channel_direction_into(act, &lay, &sc, &mut dslab[span]);
                            slot.gsq[l] = g;
                            slot.slope[l] = sl;
                        } else {
                            slot.gsq[l] = value_direction_into(
                                act,
                                shape.layer(slab, l, 0, nb),
                                s_al,
                                ec[0].as_ref().submatrix(0, 0, m, nb),
                                shape.layer_mut(dslab, l, 0, nb),
                                args.omega[l],
                                info.scale,
                                args.inv[l],
                            );
                        }
                    }
                    std::mem::swap(&mut pc, &mut pp);
                    std::mem::swap(&mut ec, &mut ep);
                }
            });
        };
        let Sums { r, gsq, slope } = sums;
        let fold = |_first: usize, slots: &mut [Slot]| {
            for s in slots.iter() {
                for l in lo..=hi {
                    r[l] += s.r[l];
                    gsq[l] += s.gsq[l];
                    slope[l] += s.slope[l];
                }
            }
        };
        let h = shape.hidden_rows;
        self.blocks
            .for_each_wave_chunks(&mut self.slots, d, h, work, fold);
    }

    /// Residual sums `r[l]`, `lo <= l <= hi`, at the trial point `A - t D`
    /// (only the layers with `moved[l]` move).
    pub(crate) fn trial(
        &mut self,
        net: &Network,
        set: &RowSet<'_>,
        (a, o, d): (&[f64], &[f64], &[f64]),
        (lo, hi): (usize, usize),
        moved: &[bool],
        step: f64,
        r: &mut [f64],
    ) {
        self.prepare();
        let shape = &self.shape;
        let act = self.act;
        let info = &self.info;
        let pool = &self.pool;
        let depth = shape.depth();
        for v in &mut r[lo..=hi] {
            *v = 0.0;
        }
        let work = |_b: usize, rg: std::ops::Range<usize>, slot: &mut Slot| {
            let nb = rg.len();
            let (ab, db) = (shape.slab(a, &rg), shape.slab(d, &rg));
            let orow = omega_rows(info.omega.is_some(), o, &rg, depth);
            pool.with(|s| {
                let (mut pc, mut pn) = (&mut s.pa, &mut s.pb);
                let (mut tc, mut tp) = (&mut s.ta, &mut s.tb);
                // Inputs of layer lo from the (possibly moved) auxiliaries below it.
                if lo > 0 && moved[lo - 1] {
                    let j = lo - 1;
                    for c in 0..shape.chans {
                        aux_at(shape, ab, db, (j, c, nb), true, step, &mut tp[c]);
                    }
                    inputs_from(shape, act, tp, (j, nb), pc);
                } else {
                    layer_inputs(shape, act, set, ab, &rg, lo, pc);
                }
                for l in lo..=hi {
                    let (k, m) = (shape.k(l), shape.m(l));
                    let e = s.ea[0].as_mut().submatrix_mut(0, 0, m, nb);
                    if l + 1 == depth {
                        let w = net.layer(l);
                        slot.r[l] = readout_residual(info, set, w, pc, &mut s.comb, &rg, e);
                        continue;
                    }
                    for c in 0..shape.chans {
                        aux_at(shape, ab, db, (l, c, nb), moved[l], step, &mut tc[c]);
                    }
                    let mut sum = 0.0;
                    for c in 0..shape.chans {
                        let tl = target_of(shape, ab, tc, (l, c, nb), moved[l]);
                        let e = s.ea[c].as_mut().submatrix_mut(0, 0, m, nb);
                        let p = pc[c].as_ref().submatrix(0, 0, k, nb);
                        let sq = residual_into(net.layer(l), p, tl, e);
                        sum += match (c, orow(l)) {
                            (0, Some(w)) => {
                                weighted_squares(s.ea[0].as_ref().submatrix(0, 0, m, nb), w)
                            }
                            _ => sq,
                        };
                    }
                    slot.r[l] = sum;
                    if l < hi {
                        if moved[l] {
                            inputs_from(shape, act, tc, (l, nb), pn);
                        } else {
                            layer_inputs(shape, act, set, ab, &rg, l + 1, pn);
                        }
                        std::mem::swap(&mut pc, &mut pn);
                        std::mem::swap(&mut tc, &mut tp);
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
}

/// Block `rg`'s `Omega^2` row of hidden layer `l` from the block-major `o`
/// (none without `Omega`, and for the readout).
fn omega_rows<'o>(
    has: bool,
    o: &'o [f64],
    rg: &std::ops::Range<usize>,
    depth: usize,
) -> impl Fn(usize) -> Option<&'o [f64]> + Copy {
    let nb = rg.len();
    let ob = &o[(rg.start * (depth - 1)).min(o.len())..];
    move |l| (has && l + 1 < depth).then(|| &ob[l * nb..(l + 1) * nb])
}

/// The readout's residuals `W~ P - T` on the samples `rg` into `e`, with
/// `P` the plain channel's inputs or their [`combine`]d sum (built in
/// `comb`); returns their squared sum.
fn readout_residual(
    info: &SetInfo,
    set: &RowSet<'_>,
    w: MatRef<'_, f64>,
    p: &[Mat<f64>],
    comb: &mut Mat<f64>,
    rg: &std::ops::Range<usize>,
    e: MatMut<'_, f64>,
) -> f64 {
    let (k, nb) = (w.ncols(), rg.len());
    let design = match info.plain {
        Some(c) => p[c].as_ref().submatrix(0, 0, k, nb),
        None => {
            combine(info, set, rg, p, k, comb);
            comb.as_ref().submatrix(0, 0, k, nb)
        }
    };
    let t = set.readout.target.subcols(rg.start, nb);
    residual_into(w, design, t, e)
}

/// Residuals of hidden layer `l` for every channel into `e`; returns
/// `sum_n Omega^2_n |E_n|^2 + sum_k |F_k|^2` (`Omega^2 = 1` without `o`).
fn hidden_residuals(
    shape: &Shape,
    net: &Network,
    slab: &[f64],
    p: &[Mat<f64>],
    e: &mut [Mat<f64>],
    (l, nb): (usize, usize),
    o: Option<&[f64]>,
) -> f64 {
    let (k, m) = (shape.k(l), shape.m(l));
    let mut sum = 0.0;
    for c in 0..shape.chans {
        let mut ec = e[c].as_mut().submatrix_mut(0, 0, m, nb);
        let sq = residual_into(
            net.layer(l),
            p[c].as_ref().submatrix(0, 0, k, nb),
            shape.layer(slab, l, c, nb),
            ec.rb_mut(),
        );
        sum += match (c, o) {
            (0, Some(w)) => weighted_squares(ec.rb(), w),
            _ => sq,
        };
    }
    sum
}

/// `D_{l,c} = -omega_{l+1} W_{l+1}^T B_c`, the next layer's residuals pulled
/// back per channel (weighted by `Omega^2_{l+1}` for value rows; for the
/// output layer by the readout coefficient of the channel, per point when
/// the readout's coefficients vary).
#[allow(clippy::too_many_arguments)]
fn pull_back(
    shape: &Shape,
    (info, set, rg): (&SetInfo, &RowSet<'_>, &std::ops::Range<usize>),
    net: &Network,
    omega: &[f64],
    dslab: &mut [f64],
    ep: &mut [Mat<f64>],
    (l, nb): (usize, usize),
    onext: Option<&[f64]>,
) {
    let next = l + 1;
    let m1 = shape.m(next);
    let wt = net.weight(next).transpose();
    let out = next + 1 == shape.depth();
    if !out && let Some(w) = onext {
        let mut e = ep[0].as_mut().submatrix_mut(0, 0, m1, nb);
        for (j, wj) in w.iter().enumerate().take(nb) {
            for x in col_mut(e.rb_mut(), j) {
                *x *= wj;
            }
        }
    }
    for c in 0..shape.chans {
        let (src, coef) = if out {
            let coef = info
                .readout
                .iter()
                .filter(|(cc, _)| *cc == c)
                .map(|(_, w)| w)
                .sum::<f64>();
            (0, coef)
        } else {
            (c, 1.0)
        };
        let mut dl = shape.layer_mut(dslab, l, c, nb);
        let reads = info.readout.iter().any(|(cc, _)| *cc == c);
        if coef == 0.0 && !(out && info.per_point_coefs && reads) {
            dl.fill(0.0);
            continue;
        }
        let per_point = out && info.per_point_coefs;
        matmul(
            dl.rb_mut(),
            Accum::Replace,
            wt,
            ep[src].as_ref().submatrix(0, 0, m1, nb),
            if per_point {
                -omega[next]
            } else {
                -omega[next] * coef
            },
            Par::Seq,
        );
        if per_point {
            for j in 0..nb {
                let cj = point_coef(set, c, rg.start + j);
                for x in col_mut(dl.rb_mut(), j) {
                    *x *= cj;
                }
            }
        }
    }
}

/// Auxiliaries of hidden layer `l`, channel `c` at `A - t D` into `buf` when
/// the layer moves (else nothing: [`target_of`] reads the slab).
fn aux_at(
    shape: &Shape,
    ab: &[f64],
    db: &[f64],
    (l, c, nb): (usize, usize, usize),
    moved: bool,
    step: f64,
    buf: &mut Mat<f64>,
) {
    if !moved {
        return;
    }
    let (al, dl) = (shape.layer(ab, l, c, nb), shape.layer(db, l, c, nb));
    let m = al.nrows();
    let mut out = buf.as_mut().submatrix_mut(0, 0, m, nb);
    for j in 0..nb {
        let (ac, dc) = (col(al, j), col(dl, j));
        for ((t, av), dv) in col_mut(out.rb_mut(), j).iter_mut().zip(ac).zip(dc) {
            *t = av - dv * step;
        }
    }
}

/// The auxiliaries of layer `l`, channel `c`: the trial copy when the layer
/// moves, else the slab.
fn target_of<'s>(
    shape: &Shape,
    ab: &'s [f64],
    t: &'s [Mat<f64>],
    (l, c, nb): (usize, usize, usize),
    moved: bool,
) -> MatRef<'s, f64> {
    if moved {
        t[c].as_ref().submatrix(0, 0, shape.m(l), nb)
    } else {
        shape.layer(ab, l, c, nb)
    }
}

/// Inputs of layer `l + 1` from the trial auxiliaries of layer `l` in `t`.
fn inputs_from(
    shape: &Shape,
    act: Activation,
    t: &[Mat<f64>],
    (l, nb): (usize, usize),
    p: &mut [Mat<f64>],
) {
    let m = shape.m(l);
    next_inputs(act, shape, |c| t[c].as_ref().submatrix(0, 0, m, nb), p);
}
