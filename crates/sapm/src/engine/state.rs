//! A started trainer's state and the passes over all its sets, with the
//! work they do counted in the flop model of [`crate::perf`].
//!
//! Per-set sums are combined into per-layer totals `R_l = sum_s rel_s r_{l,s}`
//! (`rel_0 = 1`), and the loss is `J = sum_l omega_l R_l / (N_0 / alpha_0)`.

use super::passes::{Accumulate, LayerData, SetPasses};
use super::passes_grad::{GradArgs, Sums};
use crate::linalg::{LayerSolveWs, SharedReducer, reduce_or_nan};
use crate::net::Network;
use crate::perf::{self, PenaltyFlops};
use crate::task::rows::RowSet;
use faer::Mat;
use std::time::Instant;

/// One set's buffers.
pub(crate) struct SetState {
    pub passes: SetPasses,
    /// Points of the set over all processes.
    pub total: usize,
    /// Auxiliaries, `N H` values block by block (see `layout.rs`).
    pub a: Vec<f64>,
    /// Search direction, same layout.
    pub d: Vec<f64>,
    /// `Omega^2` weights, `(L-1) N` values block by block (empty without).
    pub o: Vec<f64>,
    /// This set's residual sums, `|g|^2` and `<g, D>` per layer.
    pub r: Vec<f64>,
    pub gsq: Vec<f64>,
    pub slope: Vec<f64>,
    /// Per-layer inverse curvature bounds (value-only sets).
    pub inv: Vec<f64>,
    /// This set's residual sums at a trial point.
    pub rt: Vec<f64>,
}

/// Everything a started trainer keeps; sized once in `start`.
pub(crate) struct State {
    pub sets: Vec<SetState>,
    pub mode: Accumulate,
    /// Weight-step data per layer (all sets).
    pub data: Vec<LayerData>,
    /// `R_l` at the current weights and auxiliaries.
    pub r: Vec<f64>,
    pub r_trial: Vec<f64>,
    pub norms: Vec<f64>,
    pub omega: Vec<f64>,
    pub tau: Vec<f64>,
    pub moved: Vec<bool>,
    pub order: Vec<usize>,
    /// Residual sums predate the last weight change.
    pub stale: bool,
    pub solve_ws: Vec<LayerSolveWs>,
    pub w_new: Vec<Mat<f64>>,
    /// Packed Gram sums for the reducer.
    pub pack: Vec<f64>,
    /// `N_0 / alpha_0`: `J = sum_l omega_l R_l / nref`.
    pub nref: f64,
    /// `K^2` of the activation.
    pub k2: f64,
    /// Work done so far, from the model in [`crate::perf`].
    pub flops: PenaltyFlops,
    /// Sums the per-set sums over processes (each set holds a shard).
    pub reducer: SharedReducer,
}

/// Sum `parts(set)[lo..=hi]` of every set over processes, in one collective
/// through `buf` (kept, so steady-state iterations allocate nothing).
fn reduce_set_sums(
    reducer: &SharedReducer,
    buf: &mut Vec<f64>,
    sets: &mut [SetState],
    (lo, hi): (usize, usize),
    parts: fn(&mut SetState) -> Vec<&mut Vec<f64>>,
) {
    if reducer.size() == 1 {
        return;
    }
    buf.clear();
    for ss in sets.iter_mut() {
        for v in parts(ss) {
            buf.extend_from_slice(&v[lo..=hi]);
        }
    }
    reduce_or_nan(reducer.as_ref(), buf);
    let mut at = 0;
    for ss in sets.iter_mut() {
        for v in parts(ss) {
            let k = hi + 1 - lo;
            v[lo..=hi].copy_from_slice(&buf[at..at + k]);
            at += k;
        }
    }
}

impl State {
    /// `J` from per-layer sums.
    pub(crate) fn objective_of(&self, r: &[f64]) -> f64 {
        r.iter().zip(&self.omega).map(|(r, w)| r * w).sum::<f64>() / self.nref
    }

    /// Work of the set passes, for the flop model: points weighted by
    /// their rows (a derivative channel adds the point once more).
    fn rows(&self) -> usize {
        self.sets
            .iter()
            .map(|s| s.passes.shape.n * s.passes.shape.chans)
            .sum()
    }

    /// Residuals of layers `lo..=hi` and the directions of the layers in
    /// `moved`, over every set; returns `<g, D>` over the moved layers.
    pub(crate) fn gradient(
        &mut self,
        net: &Network,
        sets: &[RowSet<'_>],
        (lo, hi): (usize, usize),
    ) -> f64 {
        let t0 = Instant::now();
        let args = GradArgs {
            omega: &self.omega,
            norms: &self.norms,
            inv: &[],
            k2: self.k2,
            dir: &self.moved,
        };
        for (ss, set) in self.sets.iter_mut().zip(sets) {
            let args = GradArgs {
                inv: &ss.inv,
                ..args
            };
            ss.passes.gradient(
                net,
                set,
                (&ss.a, &ss.o),
                &mut ss.d,
                (lo, hi),
                &args,
                Sums {
                    r: &mut ss.r,
                    gsq: &mut ss.gsq,
                    slope: &mut ss.slope,
                },
            );
        }
        reduce_set_sums(
            &self.reducer,
            &mut self.pack,
            &mut self.sets,
            (lo, hi),
            |ss| vec![&mut ss.r, &mut ss.gsq, &mut ss.slope],
        );
        let mut slope = 0.0;
        for l in lo..=hi {
            self.r[l] = 0.0;
            let mut sl = 0.0;
            for ss in &self.sets {
                self.r[l] += ss.passes.info.rel * ss.r[l];
                if l < hi && self.moved[l] {
                    sl += if ss.passes.info.per_point(&ss.passes.shape) {
                        ss.slope[l]
                    } else {
                        ss.gsq[l] * ss.inv[l]
                    };
                }
            }
            if l < hi && self.moved[l] {
                slope += sl;
            }
        }
        let (w, n) = (net.widths(), self.rows());
        self.flops.gradient += perf::residual_flops(w, n, lo, hi)
            + (lo..hi)
                .filter(|&l| self.moved[l])
                .map(|l| perf::direction_flops(w, n, l))
                .sum::<f64>();
        self.flops.activations += perf::activation_count(w, n, lo, hi);
        self.flops.gradient_passes += 1;
        self.flops.seconds[2] += t0.elapsed().as_secs_f64();
        slope
    }

    /// `R_l` of layers `lo..=hi` at `A - t D` into `r_trial`.
    pub(crate) fn trial(
        &mut self,
        net: &Network,
        sets: &[RowSet<'_>],
        (lo, hi): (usize, usize),
        t: f64,
    ) {
        let t0 = Instant::now();
        self.r_trial.copy_from_slice(&self.r);
        for l in lo..=hi {
            self.r_trial[l] = 0.0;
        }
        for (ss, set) in self.sets.iter_mut().zip(sets) {
            ss.passes.trial(
                net,
                set,
                (&ss.a, &ss.o, &ss.d),
                (lo, hi),
                &self.moved,
                t,
                &mut ss.rt,
            );
        }
        reduce_set_sums(
            &self.reducer,
            &mut self.pack,
            &mut self.sets,
            (lo, hi),
            |ss| vec![&mut ss.rt],
        );
        for ss in &self.sets {
            for l in lo..=hi {
                self.r_trial[l] += ss.passes.info.rel * ss.rt[l];
            }
        }
        let (w, n) = (net.widths(), self.rows());
        self.flops.trial += perf::residual_flops(w, n, lo, hi) + self.moved_axpy(w, n);
        self.flops.activations += perf::activation_count(w, n, lo, hi);
        self.flops.trial_passes += 1;
        self.flops.seconds[3] += t0.elapsed().as_secs_f64();
    }

    /// `A -= t D` on the moved layers of every set.
    pub(crate) fn update(&mut self, net: &Network, t: f64) {
        let t0 = Instant::now();
        for ss in &mut self.sets {
            ss.passes.update(&mut ss.a, &ss.d, &self.moved, t);
        }
        let (w, n) = (net.widths(), self.rows());
        self.flops.update += self.moved_axpy(w, n);
        self.flops.seconds[4] += t0.elapsed().as_secs_f64();
    }

    fn moved_axpy(&self, w: &[usize], n: usize) -> f64 {
        (0..self.moved.len())
            .filter(|&l| self.moved[l])
            .map(|l| perf::axpy_flops(w, n, l))
            .sum()
    }

    /// Residual sums of every layer at the current point.
    pub(crate) fn refresh(&mut self, net: &Network, sets: &[RowSet<'_>]) {
        self.moved.fill(false);
        self.gradient(net, sets, (0, net.depth() - 1));
    }

    /// `Omega^2` of every set that has them, from its derivative auxiliaries.
    /// Returns whether any changed with the auxiliaries (a nonzero factor).
    pub(crate) fn update_omega_rows(&mut self) -> bool {
        let mut any = false;
        for ss in &mut self.sets {
            if let Some(w) = ss.passes.info.omega {
                ss.passes.omega_rows(&ss.a, &mut ss.o);
                any |= w.deriv != 0.0;
            }
        }
        any
    }

    /// Build every layer's weight-step data from the current auxiliaries.
    pub(crate) fn accumulate(&mut self, sets: &[RowSet<'_>], block: usize) {
        let t0 = Instant::now();
        for d in &mut self.data {
            d.reset(self.mode);
        }
        for (ss, set) in self.sets.iter_mut().zip(sets) {
            ss.passes.accumulate(set, &ss.a, &ss.o, &mut self.data);
        }
        let w = &self.sets[0].passes.shape.widths;
        self.flops.data += perf::data_pass_flops(
            w,
            self.rows(),
            block,
            self.mode == Accumulate::Tsqr,
            super::passes::WAVE,
        );
        self.flops.activations += perf::activation_count(w, self.rows(), 0, w.len() - 2);
        self.flops.data_passes += 1;
        self.flops.seconds[0] += t0.elapsed().as_secs_f64();
    }
}
