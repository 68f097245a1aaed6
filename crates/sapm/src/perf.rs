//! Arithmetic and memory models of one iteration, and a synthetic workload
//! for benchmarks (`sapm bench`, `benches/iteration.rs`).
//!
//! Flops count multiply-adds as 2 and include the matrix products and the
//! elementwise arithmetic of each pass; activation evaluations are counted
//! separately ([`PenaltyFlops::activations`]) and are not in the flop totals,
//! so GFLOP/s figures are conservative. Notation: layer `l` (0-based) has
//! `k_l = m_{l-1} + 1` design columns (weights and bias) and `m_l` outputs,
//! `N` samples, `H = sum_{l<L-1} m_l` auxiliaries per sample.
//!
//! One PM/SAPM iteration (default: backward sweep, Jacobi, one auxiliary step,
//! `t` backtracking trials) costs
//!
//! ```text
//!   data pass     Gram: sum_l N (k_l (k_l + 1) + 2 k_l m_l)       (lower triangle of P P^T, P T^T)
//!                 TSQR: sum_l [N/b (2 b c_l^2 - 2/3 c_l^3) + merges], c_l = k_l + m_l
//!   small solves  Gram: sum_l (k_l^3 / 3 + 2 k_l^2 m_l);  QR: sum_l k_l^2 m_l (+ a small QR when damped)
//!   direction     sum_l N (2 k_l m_l + 2 m_l) + sum_{l<L-1} N (2 m_{l+1} m_l + 6 m_l)
//!   each trial    sum_l N (2 k_l m_l + 2 m_l) + sum_{l<L-1} 2 N m_l
//!   update        sum_{l<L-1} 2 N m_l
//! ```
//!
//! For uniform width `m` this is about `N m^2 (3 + 2 + 2 + 2 t)` per layer
//! with Gram sums (`N m^2 (8 + 2 + 2 + 2 t)` with TSQR): the Gram pass, the
//! residuals with the new weights, `W^T E`, and one residual product per trial.
//! An Adam step (forward, backward, update) costs about `6 N m^2` per layer,
//! so a SAPM iteration is 1.5-2.5 Adam steps of arithmetic.
//!
//! **PINN.** SAPM-PINN's weight steps stack value rows (interior and
//! boundary) and derivative rows (one block per derivative direction, `q = 1`
//! for a directional operator `c . grad u`, `q = d` with per-coordinate
//! auxiliaries), and its forward quantities propagate both values and
//! derivatives. Every term above is linear in the number of rows, so the same
//! model applies with `N` replaced by [`pinn_equivalent_rows`]
//! `= N_int (1 + q) + N_bnd` (one derivative direction doubles the interior
//! Gram work), plus `O(N_int q m)` elementwise work for the `s'`/`s''` chains.

use crate::error::Result;
use crate::linalg::SolveMethod;
use crate::net::{Network, NetworkSpec};
use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Flops (and activation evaluations) of the passes a [`crate::engine::PenaltyTrainer`]
/// has run, accumulated from the model in this module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PenaltyFlops {
    /// Data passes (Gram sums or TSQR) for the weight steps.
    pub data: f64,
    /// Small dense solves of the weight steps.
    pub solve: f64,
    /// Residual and direction passes.
    pub gradient: f64,
    /// Backtracking trial passes.
    pub trial: f64,
    /// Accepted updates `A -= t D`.
    pub update: f64,
    /// Activation evaluations (not included in the flop total).
    pub activations: f64,
    /// Number of data passes.
    pub data_passes: usize,
    /// Number of residual/direction passes.
    pub gradient_passes: usize,
    /// Number of trial passes.
    pub trial_passes: usize,
    /// Wall seconds spent in data passes, small solves, direction passes,
    /// trials and updates, in that order.
    pub seconds: [f64; 5],
}

impl PenaltyFlops {
    /// All flops.
    pub fn total(&self) -> f64 {
        self.data + self.solve + self.gradient + self.trial + self.update
    }
    /// `self - earlier` (the work of the iterations in between).
    pub fn since(&self, earlier: &PenaltyFlops) -> PenaltyFlops {
        PenaltyFlops {
            data: self.data - earlier.data,
            solve: self.solve - earlier.solve,
            gradient: self.gradient - earlier.gradient,
            trial: self.trial - earlier.trial,
            update: self.update - earlier.update,
            activations: self.activations - earlier.activations,
            data_passes: self.data_passes - earlier.data_passes,
            gradient_passes: self.gradient_passes - earlier.gradient_passes,
            trial_passes: self.trial_passes - earlier.trial_passes,
            seconds: std::array::from_fn(|i| self.seconds[i] - earlier.seconds[i]),
        }
    }
}

fn k(w: &[usize], l: usize) -> f64 {
    (w[l] + 1) as f64
}
fn m(w: &[usize], l: usize) -> f64 {
    w[l + 1] as f64
}

/// Householder QR of a `rows x cols` matrix (`rows >= cols`): `2 rows cols^2 - 2/3 cols^3`.
pub fn qr_flops(rows: usize, cols: usize) -> f64 {
    let (r, c) = (rows as f64, cols as f64);
    if r >= c {
        2.0 * r * c * c - 2.0 / 3.0 * c * c * c
    } else {
        2.0 * c * r * r - 2.0 / 3.0 * r * r * r
    }
}

/// The data pass of all layers of `widths` over `n` samples in blocks of at
/// most `block` ([`crate::linalg::balanced_block`]): Gram sums, or block QRs plus the wave merges of the TSQR
/// (`wave` blocks per merge).
pub fn data_pass_flops(widths: &[usize], n: usize, block: usize, tsqr: bool, wave: usize) -> f64 {
    let depth = widths.len() - 1;
    let nf = n as f64;
    let block = crate::linalg::balanced_block(n, block);
    let mut f = 0.0;
    for l in 0..depth {
        let (kl, ml) = (k(widths, l), m(widths, l));
        if tsqr {
            let c = widths[l] + 1 + widths[l + 1];
            let block = block.max(1);
            let full = n / block;
            let rest = n % block;
            f += full as f64 * qr_flops(block, c);
            if rest > 0 {
                f += qr_flops(rest, c);
            }
            let blocks = n.div_ceil(block);
            let mut done = 0;
            let mut first = true;
            while done < blocks {
                let w = wave.max(1).min(blocks - done);
                let rows = (w + usize::from(!first)) * c;
                f += qr_flops(rows, c);
                done += w;
                first = false;
            }
        } else {
            f += nf * (kl * (kl + 1.0) + 2.0 * kl * ml);
        }
    }
    f
}

/// The small solve of layer `l` (Cholesky of the normal equations, or the
/// triangular solve after TSQR; `damped` adds the small re-triangularisation).
pub fn solve_flops(widths: &[usize], l: usize, solver: SolveMethod, damped: bool) -> f64 {
    let (kl, ml) = (k(widths, l), m(widths, l));
    match solver {
        SolveMethod::Cholesky => kl * kl * kl / 3.0 + 2.0 * kl * kl * ml,
        SolveMethod::Qr => {
            let extra = if damped {
                qr_flops(3 * (widths[l] + 1), widths[l] + 1 + widths[l + 1])
            } else {
                0.0
            };
            kl * kl * ml + extra
        }
    }
}

/// Residuals `E_l = T_l - W~_l P_l` and their squared norms for `lo <= l <= hi`.
pub fn residual_flops(widths: &[usize], n: usize, lo: usize, hi: usize) -> f64 {
    (lo..=hi)
        .map(|l| n as f64 * (2.0 * k(widths, l) * m(widths, l) + 2.0 * m(widths, l)))
        .sum()
}

/// The direction of hidden layer `l`: `W_{l+1}^T E_{l+1}` and the elementwise gradient.
pub fn direction_flops(widths: &[usize], n: usize, l: usize) -> f64 {
    n as f64 * (2.0 * m(widths, l + 1) * m(widths, l) + 6.0 * m(widths, l))
}

/// `A_l - t D_l` for one hidden layer (trial or update).
pub fn axpy_flops(widths: &[usize], n: usize, l: usize) -> f64 {
    2.0 * n as f64 * m(widths, l)
}

/// Activation evaluations for the inputs of layers `lo..=hi` (`P_0 = [x; 1]` needs none).
pub fn activation_count(widths: &[usize], n: usize, lo: usize, hi: usize) -> f64 {
    (lo.max(1)..=hi).map(|l| (n * widths[l]) as f64).sum()
}

/// A priori model of one default iteration (backward sweep, Jacobi, one
/// auxiliary step, `trials` backtracking trials, undamped).
pub fn penalty_iteration_flops(
    widths: &[usize],
    n: usize,
    block: usize,
    solver: SolveMethod,
    trials: f64,
) -> f64 {
    let depth = widths.len() - 1;
    let tsqr = solver == SolveMethod::Qr;
    let wave = crate::engine::DATA_WAVE;
    let data = data_pass_flops(widths, n, block, tsqr, wave);
    let solve: f64 = (0..depth)
        .map(|l| solve_flops(widths, l, solver, false))
        .sum();
    let moved: f64 = (0..depth - 1).map(|l| axpy_flops(widths, n, l)).sum();
    let res = residual_flops(widths, n, 0, depth - 1);
    let dir: f64 = (0..depth - 1).map(|l| direction_flops(widths, n, l)).sum();
    data + solve + res + dir + trials * (res + moved) + moved
}

/// One full-batch Adam step: forward, backward (`delta P^T`, `W^T delta`,
/// `s'`), loss, and the parameter update (about 12 flops per parameter).
pub fn adam_step_flops(widths: &[usize], n: usize) -> f64 {
    let depth = widths.len() - 1;
    let nf = n as f64;
    let mut f = 0.0;
    let mut params = 0.0;
    for l in 0..depth {
        let (kl, ml) = (k(widths, l), m(widths, l));
        params += kl * ml;
        f += 2.0 * nf * kl * ml; // forward
        f += 2.0 * nf * kl * ml; // gradient delta P^T
        if l > 0 {
            f += 2.0 * nf * ml * widths[l] as f64 + 2.0 * nf * widths[l] as f64;
        }
    }
    f += 3.0 * nf * m(widths, depth - 1);
    f + 12.0 * params
}

/// `2 m k n`, the flops of an `m x k` times `k x n` product.
pub fn gemm_flops(m: usize, k: usize, n: usize) -> f64 {
    2.0 * (m * k) as f64 * n as f64
}

/// Rows of the SAPM-PINN weight steps, as the `N` to use in the FNN model:
/// `n_interior (1 + directions) + n_boundary`.
pub fn pinn_equivalent_rows(n_interior: usize, directions: usize, n_boundary: usize) -> usize {
    n_interior * (1 + directions) + n_boundary
}

/// Bytes per sample of the optimised trainer's per-sample state: the
/// auxiliaries `A` and the direction `D` (`16 H`; faer may pad `H` to a
/// multiple of 8 rows).
pub fn penalty_bytes_per_sample(widths: &[usize]) -> f64 {
    let h: usize = widths[1..widths.len() - 1].iter().sum();
    16.0 * h.next_multiple_of(8) as f64
}

/// Bytes per sample of [`crate::engine::reference::ReferencePenaltyTrainer`]: `A`, its
/// trial copy and the gradient (`3H`), `P_l` and `E_l` and their trial copies
/// (each matrix padded to a multiple of 8 rows), not counting the transient
/// stacked copy of the QR weight step (`8 (k + m)` more while it runs).
pub fn reference_bytes_per_sample(widths: &[usize]) -> f64 {
    let depth = widths.len() - 1;
    let pad = |r: usize| r.next_multiple_of(8) as f64;
    let h: f64 = (0..depth - 1).map(|l| pad(widths[l + 1])).sum();
    let p: f64 = (0..depth).map(|l| pad(widths[l] + 1)).sum();
    let e: f64 = (0..depth).map(|l| pad(widths[l + 1])).sum();
    8.0 * (3.0 * h + 2.0 * p + 2.0 * e)
}

/// A synthetic regression problem of any size: `x ~ U(-3, 3)` (one input),
/// `y = sin(x^2)`, and a tanh network `[1, w, ..., w, 1]` with `depth` layers.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Inputs, `1 x N`.
    pub x: Mat<f64>,
    /// Targets, `1 x N`.
    pub y: Mat<f64>,
    /// The initial network.
    pub net: Network,
}

impl Workload {
    /// `n` samples, hidden width `width`, `depth` affine layers, seeded.
    ///
    /// ```
    /// let w = sapm::perf::Workload::new(100, 8, 3, 1).unwrap();
    /// assert_eq!((w.x.ncols(), w.net.depth(), w.net.widths()[1]), (100, 3, 8));
    /// ```
    pub fn new(n: usize, width: usize, depth: usize, seed: u64) -> Result<Workload> {
        let mut widths = vec![1];
        widths.extend(std::iter::repeat_n(width, depth.saturating_sub(1)));
        widths.push(1);
        let net = NetworkSpec::new(widths).build(seed)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let x = Mat::from_fn(1, n, |_, _| rng.random_range(-3.0f64..3.0));
        let y = Mat::from_fn(1, n, |_, j| (x[(0, j)] * x[(0, j)]).sin());
        Ok(Workload { x, y, net })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_matches_hand_counts() {
        // [1, 4, 1], N = 10: layer 0 k=2 m=4, layer 1 k=5 m=1.
        let w = [1, 4, 1];
        let gram = data_pass_flops(&w, 10, 4, false, 16);
        assert_eq!(
            gram,
            10.0 * (2.0 * 3.0 + 2.0 * 2.0 * 4.0) + 10.0 * (5.0 * 6.0 + 2.0 * 5.0)
        );
        assert_eq!(
            residual_flops(&w, 10, 0, 1),
            10.0 * (16.0 + 8.0) + 10.0 * (10.0 + 2.0)
        );
        assert_eq!(direction_flops(&w, 10, 0), 10.0 * (2.0 * 4.0 + 24.0));
        assert_eq!(activation_count(&w, 10, 0, 1), 40.0);
        assert_eq!(pinn_equivalent_rows(100, 1, 20), 220);
        // One TSQR block and one merge of one R factor.
        let t = data_pass_flops(&[1, 1], 8, 8, true, 16);
        assert_eq!(t, qr_flops(8, 3) + qr_flops(3, 3));
        assert!(adam_step_flops(&w, 10) > 0.0);
        assert_eq!(penalty_bytes_per_sample(&[1, 64, 64, 1]), 16.0 * 128.0);
    }
}
