//! The data of the weight steps: per layer, the Gram matrix `sum w P P^T` and
//! `sum w P T^T`, or the R factor of the stacked weighted rows (TSQR), built
//! by one pass over every set's points and channels.

use super::layer_data::{Accumulate, LayerData};
use super::passes::{SetPasses, Slot, combine, layer_inputs};
use crate::linalg::qr_r_into;
use crate::net::{col, col_mut};
use crate::task::rows::RowSet;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

impl SetPasses {
    /// Build every layer's weight-step data from the current auxiliaries,
    /// adding this set's rows to `data` (reset it before the first set).
    pub(crate) fn accumulate(
        &mut self,
        set: &RowSet<'_>,
        a: &[f64],
        o: &[f64],
        data: &mut [LayerData],
    ) {
        self.prepare();
        let shape = &self.shape;
        let act = self.act;
        let mode = self.mode;
        let info = &self.info;
        let pool = &self.pool;
        let depth = shape.depth();
        let weighted = info.rel != 1.0 || info.omega.is_some();
        for (l, d) in data.iter_mut().enumerate() {
            d.rows += self.rows(l);
        }
        let work = |_b: usize, r: std::ops::Range<usize>, slot: &mut Slot| {
            let nb = r.len();
            let slab = shape.slab(a, &r);
            let ob = &o[(r.start * (depth - 1)).min(o.len())..];
            pool.with(|s| {
                for l in 0..depth {
                    let (k, m) = (shape.k(l), shape.m(l));
                    layer_inputs(shape, act, set, slab, &r, l, &mut s.pa);
                    let out = l + 1 == depth;
                    let chans = if out { 1 } else { shape.chans };
                    if out && info.plain != Some(0) {
                        combine(info, set, &r, &s.pa, k, &mut s.comb);
                    }
                    for c in 0..chans {
                        let p = if out {
                            match info.plain {
                                Some(pc) => s.pa[pc].as_ref().submatrix(0, 0, k, nb),
                                None => s.comb.as_ref().submatrix(0, 0, k, nb),
                            }
                        } else {
                            s.pa[c].as_ref().submatrix(0, 0, k, nb)
                        };
                        let t = if out {
                            set.readout.target.subcols(r.start, nb)
                        } else {
                            shape.layer(slab, l, c, nb)
                        };
                        let (p, t) = if weighted {
                            let ow = (!out && c == 0 && info.omega.is_some())
                                .then(|| &ob[l * nb..(l + 1) * nb]);
                            scale_rows(info.rel, ow, p, t, &mut s.wp, &mut s.wt);
                            (
                                s.wp.as_ref().submatrix(0, 0, k, nb),
                                s.wt.as_ref().submatrix(0, 0, m, nb),
                            )
                        } else {
                            (p, t)
                        };
                        let acc = if c == 0 { Accum::Replace } else { Accum::Add };
                        match mode {
                            Accumulate::Gram => {
                                triangular::matmul(
                                    slot.gram[l].as_mut(),
                                    BlockStructure::TriangularLower,
                                    acc,
                                    p,
                                    BlockStructure::Rectangular,
                                    p.transpose(),
                                    BlockStructure::Rectangular,
                                    1.0,
                                    Par::Seq,
                                );
                                matmul(slot.rhs[l].as_mut(), acc, p, t.transpose(), 1.0, Par::Seq);
                            }
                            Accumulate::Tsqr => {
                                let mut st = s.stack.as_mut().submatrix_mut(c * nb, 0, nb, k + m);
                                // faer's transposed copy is cache-blocked (~7% of the block QR).
                                st.rb_mut().subcols_mut(0, k).copy_from(p.transpose());
                                st.rb_mut().subcols_mut(k, m).copy_from(t.transpose());
                            }
                        }
                    }
                    if mode == Accumulate::Tsqr {
                        let (rows, cols) = (chans * nb, k + m);
                        let ws = s
                            .qrs
                            .iter_mut()
                            .find(|(r, cc, _)| *r >= rows && *cc == cols)
                            .map(|(_, _, q)| q)
                            .expect("a QR workspace per layer shape");
                        qr_r_into(
                            s.stack.as_mut().submatrix_mut(0, 0, rows, cols),
                            slot.rf[l].as_mut(),
                            ws,
                        );
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
}

/// `sqrt(rel o_n) p_n` and `sqrt(rel o_n) t_n` into `wp`, `wt`.
fn scale_rows(
    rel: f64,
    o: Option<&[f64]>,
    p: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    wp: &mut Mat<f64>,
    wt: &mut Mat<f64>,
) {
    let (k, m, nb) = (p.nrows(), t.nrows(), p.ncols());
    let mut wpm: MatMut<'_, f64> = wp.as_mut().submatrix_mut(0, 0, k, nb);
    let mut wtm: MatMut<'_, f64> = wt.as_mut().submatrix_mut(0, 0, m, nb);
    for j in 0..nb {
        let w = (rel * o.map_or(1.0, |o| o[j])).sqrt();
        for (x, y) in col_mut(wpm.rb_mut(), j).iter_mut().zip(col(p, j)) {
            *x = w * y;
        }
        for (x, y) in col_mut(wtm.rb_mut(), j).iter_mut().zip(col(t, j)) {
            *x = w * y;
        }
    }
}
