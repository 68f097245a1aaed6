//! Views of a started [`PenaltyTrainer`]: its auxiliaries (to read or
//! replace), `Omega`, memory, work done, the derivative gap, where a
//! non-finite value sits; and test hooks into single passes.

use super::loss::{AuxVars, SetAux};
use super::passes::LayerData;
use super::state::{SetState, State};
use super::trainer::PenaltyTrainer;
use crate::error::{Error, Result};
use crate::linalg::mat_bytes;
use crate::net::Network;
use crate::perf::PenaltyFlops;
use faer::Mat;
use serde::Serialize;

/// The derivative gap `|d - dz|_F / |dz|_F` of [`PenaltyTrainer::derivative_gaps`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DerivativeGaps {
    /// Over every derivative auxiliary.
    pub all: f64,
    /// Over the first-derivative auxiliaries.
    pub first: f64,
    /// Over the second-derivative auxiliaries (`None` without them).
    pub second: Option<f64>,
}

/// The block-major buffer `buf` (`A` or `D`) of every set as
/// `[set][channel][hidden layer]` matrices, each `m_l x N_s`; layers
/// without `keep(l)` are zero.
fn unpack(st: &State, buf: impl Fn(&SetState) -> &[f64], keep: impl Fn(usize) -> bool) -> SetAux {
    st.sets
        .iter()
        .map(|ss| {
            let (sh, v) = (&ss.passes.shape, buf(ss));
            (0..sh.chans)
                .map(|c| {
                    (0..sh.depth() - 1)
                        .map(|l| {
                            let mut m = Mat::zeros(sh.m(l), sh.n);
                            if keep(l) {
                                for r in ss.passes.blocks.ranges() {
                                    m.as_mut().subcols_mut(r.start, r.len()).copy_from(sh.layer(
                                        sh.slab(v, r),
                                        l,
                                        c,
                                        r.len(),
                                    ));
                                }
                            }
                            m
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Memory held by a started [`PenaltyTrainer`], in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PenaltyMemory {
    /// Points over every set.
    pub samples: usize,
    /// The auxiliaries `A` (`H x N` per set).
    pub aux: usize,
    /// The search direction `D` (same shape as `A`).
    pub direction: usize,
    /// Everything else: per-thread block scratch, wave slots, `Omega` rows,
    /// per-layer weight-step data and solver workspaces (independent of `N`
    /// beyond one block, except `Omega`).
    pub workspace: usize,
}

impl PenaltyMemory {
    /// All bytes.
    pub fn total(&self) -> usize {
        self.aux + self.direction + self.workspace
    }
    /// Bytes per point held by per-point buffers (`A` and `D`).
    pub fn per_sample(&self) -> f64 {
        (self.aux + self.direction) as f64 / self.samples.max(1) as f64
    }
}

impl PenaltyTrainer<'_> {
    /// A copy of every set's auxiliaries: `[set][channel][hidden layer]`,
    /// each `m_l x N_s` (after `start`).
    pub fn channel_aux(&self) -> Option<Vec<Vec<Vec<Mat<f64>>>>> {
        let st = self.st.as_ref()?;
        Some(unpack(st, |ss| &ss.a, |_| true))
    }

    /// Replace every set's auxiliaries (shapes as returned by
    /// [`PenaltyTrainer::channel_aux`]) and refresh `Omega` and the cached
    /// residuals for `net`.
    pub fn set_channel_aux(&mut self, net: &Network, aux: &[Vec<Vec<Mat<f64>>>]) -> Result<()> {
        let Some(st) = self.st.as_mut() else {
            return Err(Error::numerical("set_aux", "trainer not started"));
        };
        let bad = |what: String| Error::shape("auxiliaries", what, "other shapes");
        if aux.len() != st.sets.len() {
            return Err(bad(format!("{} sets", st.sets.len())));
        }
        for (ss, sa) in st.sets.iter_mut().zip(aux) {
            let sh = &ss.passes.shape;
            let ok = sa.len() == sh.chans
                && sa.iter().all(|ch| {
                    ch.len() + 1 == sh.depth()
                        && ch
                            .iter()
                            .enumerate()
                            .all(|(l, m)| m.nrows() == sh.m(l) && m.ncols() == sh.n)
                });
            if !ok {
                return Err(bad(format!(
                    "{} channels of {} hidden layers of {} points",
                    sh.chans,
                    sh.depth() - 1,
                    sh.n
                )));
            }
            let h = sh.hidden_rows;
            for r in ss.passes.blocks.ranges() {
                let slab = &mut ss.a[r.start * h..r.end * h];
                for (c, ch) in sa.iter().enumerate() {
                    for (l, m) in ch.iter().enumerate() {
                        sh.layer_mut(slab, l, c, r.len())
                            .copy_from(m.as_ref().subcols(r.start, r.len()));
                    }
                }
            }
        }
        st.update_omega_rows();
        st.refresh(net, &self.sets);
        self.objective = st.objective_of(&st.r);
        Ok(())
    }

    /// A copy of the first set's value auxiliaries, one matrix per hidden
    /// layer (regression).
    pub fn aux(&self) -> Option<AuxVars> {
        let mut all = self.channel_aux()?;
        Some(AuxVars {
            a: all.swap_remove(0).swap_remove(0),
        })
    }

    /// Replace the first set's value auxiliaries (regression; shapes as
    /// returned by [`PenaltyTrainer::aux`]) and refresh the cached residuals.
    pub fn set_aux(&mut self, net: &Network, aux: &AuxVars) -> Result<()> {
        let mut all = self
            .channel_aux()
            .ok_or_else(|| Error::numerical("set_aux", "trainer not started"))?;
        all[0][0] = aux.a.clone();
        self.set_channel_aux(net, &all)
    }

    /// `Omega^2_{l,n}` of set `s` per hidden layer (empty without `Omega` rows).
    pub fn omega_rows(&self, s: usize) -> Option<Vec<Vec<f64>>> {
        let ss = self.st.as_ref()?.sets.get(s)?;
        let sh = &ss.passes.shape;
        if ss.o.is_empty() {
            return Some(Vec::new());
        }
        let hidden = sh.depth() - 1;
        let mut out = vec![vec![0.0; sh.n]; hidden];
        for r in ss.passes.blocks.ranges() {
            let nb = r.len();
            for (l, row) in out.iter_mut().enumerate() {
                row[r.clone()].copy_from_slice(&ss.o[r.start * hidden + l * nb..][..nb]);
            }
        }
        Some(out)
    }

    /// Memory held (after `start`).
    pub fn memory(&self) -> Option<PenaltyMemory> {
        let st = self.st.as_ref()?;
        Some(PenaltyMemory {
            samples: self.sets.iter().map(|s| s.n()).sum(),
            aux: st.sets.iter().map(|s| 8 * s.a.capacity()).sum(),
            direction: st.sets.iter().map(|s| 8 * s.d.capacity()).sum(),
            workspace: st
                .sets
                .iter()
                .map(|s| s.passes.bytes() + 8 * s.o.capacity())
                .sum::<usize>()
                + st.data.iter().map(LayerData::bytes).sum::<usize>()
                + st.solve_ws.iter().map(|w| w.bytes()).sum::<usize>()
                + st.w_new.iter().map(mat_bytes).sum::<usize>(),
        })
    }

    /// Work done since `start`, from the flop model in [`crate::perf`].
    pub fn flops(&self) -> Option<PenaltyFlops> {
        self.st.as_ref().map(|s| s.flops)
    }

    /// `|d - dz|_F / |dz|_F` over every derivative auxiliary: how close the
    /// derivative auxiliaries are to the network's true input derivatives
    /// (`None` without derivative channels or before `start`), over every
    /// process's points.
    pub fn derivative_gap(&mut self, net: &Network) -> Option<f64> {
        self.derivative_gaps(net).map(|g| g.all)
    }

    /// The derivative gap over every derivative auxiliary, and over the
    /// first- and the second-derivative auxiliaries apart (`None` without
    /// derivative channels or before `start`), over every process's points.
    pub fn derivative_gaps(&mut self, net: &Network) -> Option<DerivativeGaps> {
        let st = self.st.as_mut()?;
        let mut sums = [0.0; 4];
        let mut any = false;
        for (ss, set) in st.sets.iter_mut().zip(&self.sets) {
            if ss.passes.shape.chans > 1 {
                any = true;
                let part = ss.passes.derivative_gap(net, set, &ss.a);
                for (s, p) in sums.iter_mut().zip(part) {
                    *s += p;
                }
            }
        }
        // Every process's shard (the same sets, so the same `any`, on all).
        if any {
            crate::linalg::reduce_or_nan(st.reducer.as_ref(), &mut sums);
        }
        let ratio = |num: f64, den: f64| {
            if den > 0.0 {
                (num / den).sqrt()
            } else {
                f64::NAN
            }
        };
        let second = self.sets.iter().any(|s| !s.pairs.is_empty());
        any.then(|| DerivativeGaps {
            all: ratio(sums[0] + sums[2], sums[1] + sums[3]),
            first: ratio(sums[0], sums[1]),
            second: second.then(|| ratio(sums[2], sums[3])),
        })
    }

    /// The gradient of `J` in every auxiliary (`Omega` as last set), shaped
    /// like [`PenaltyTrainer::channel_aux`]: one unscaled direction pass.
    #[cfg(test)]
    pub(crate) fn raw_gradient(&mut self, net: &Network) -> super::loss::SetAux {
        let st = self.st.as_mut().expect("started");
        let depth = net.depth();
        let saved: Vec<Vec<f64>> = st.sets.iter().map(|s| s.inv.clone()).collect();
        for ss in &mut st.sets {
            ss.passes.info.unit = true;
            ss.inv.fill(1.0);
        }
        st.moved.fill(false);
        for m in &mut st.moved[..depth - 1] {
            *m = true;
        }
        st.gradient(net, &self.sets, (0, depth - 1));
        let out = unpack(st, |ss| &ss.d, |_| true);
        for (ss, inv) in st.sets.iter_mut().zip(saved) {
            ss.passes.info.unit = false;
            ss.inv = inv;
        }
        st.moved.fill(false);
        out
    }

    /// `J` at the trial point `A - t D` of the hidden layers of `lo..=hi`
    /// that `mask` names (the direction from one pass over every layer; the
    /// trial pass reads the other layers' slab), and that direction.
    #[cfg(test)]
    pub(crate) fn trial_objective_masked(
        &mut self,
        net: &Network,
        (lo, hi): (usize, usize),
        mask: &[bool],
        t: f64,
    ) -> (f64, super::loss::SetAux) {
        let depth = net.depth();
        self.update_scalings(net);
        let st = self.st.as_mut().expect("started");
        st.moved.fill(false);
        for (m, &on) in st.moved[lo..=hi].iter_mut().zip(&mask[lo..=hi]) {
            *m = on;
        }
        st.gradient(net, &self.sets, (0, depth - 1));
        st.trial(net, &self.sets, (lo, hi + 1), t);
        let j = st.objective_of(&st.r_trial);
        let d = unpack(st, |ss| &ss.d, |l| st.moved[l]);
        (j, d)
    }

    /// Build the weight-step data and take one weight step on layer `l`.
    #[cfg(test)]
    pub(crate) fn weight_step_alone(&mut self, net: &mut Network, l: usize) -> Result<()> {
        let st = self.st.as_mut().expect("started");
        st.accumulate(&self.sets, self.cfg.block);
        self.reduce_gram()?;
        self.weight_step(net, l)
    }

    /// Rows stacked into each layer's weight-step data by one accumulation.
    #[cfg(test)]
    pub(crate) fn weight_rows(&mut self) -> Vec<usize> {
        let st = self.st.as_mut().expect("started");
        st.accumulate(&self.sets, self.cfg.block);
        st.data.iter().map(|d| d.rows).collect()
    }

    /// Where the first non-finite auxiliary is, named.
    pub(super) fn locate_non_finite(&self) -> Option<String> {
        let st = self.st.as_ref()?;
        for (ss, set) in st.sets.iter().zip(&self.sets) {
            let Some(idx) = ss.a.iter().position(|v| !v.is_finite()) else {
                continue;
            };
            let sh = &ss.passes.shape;
            let h = sh.hidden_rows;
            let r = ss
                .passes
                .blocks
                .ranges()
                .iter()
                .find(|r| idx < r.end * h)?
                .clone();
            let local = idx - r.start * h;
            let l = (0..sh.depth() - 1)
                .rev()
                .find(|&l| sh.off[l] * r.len() <= local)?;
            let within = local - sh.off[l] * r.len();
            let (c, rest) = (within / (sh.m(l) * r.len()), within % (sh.m(l) * r.len()));
            let point = r.start + rest / sh.m(l);
            let nd = sh.dirs();
            let var = if c == 0 {
                format!("a_{}", l + 1)
            } else if sh.chans == 2 {
                format!("d_{}", l + 1)
            } else if c <= nd {
                format!("d_{},{c}", l + 1)
            } else {
                let (k, m) = sh.pairs[c - 1 - nd];
                format!("e_{},{}{}", l + 1, k + 1, m + 1)
            };
            let place = if set.name == "samples" {
                format!("sample {point}")
            } else {
                format!("{} point {point}", set.name)
            };
            return Some(format!(
                "auxiliary {var} (layer {}) became {} ({place})",
                l + 1,
                ss.a[idx]
            ));
        }
        None
    }
}
