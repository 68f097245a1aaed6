//! What the data pass accumulates for the weight steps: per layer either
//! the Gram data or a TSQR factor, merged over blocks in a fixed tree.

use crate::linalg::{QrWs, mat_bytes};
use faer::Mat;

/// Blocks per wave. Fixed (not tied to the thread count) because the TSQR
/// merge tree follows the waves.
pub(crate) const WAVE: usize = 16;

/// What [`SetPasses::accumulate`] builds for the weight steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accumulate {
    /// Lower triangle of `G = P P^T` and `R = P T^T` per layer.
    Gram,
    /// Upper-triangular factor of the stacked `[P^T T^T]` per layer.
    Tsqr,
}

/// Accumulated weight-step data of one layer, over every set.
pub(crate) struct LayerData {
    /// Lower triangle of `sum w P P^T` (Gram mode).
    pub gram: Mat<f64>,
    /// `sum w P T^T` (Gram mode).
    pub rhs: Mat<f64>,
    /// R factor of the stacked `[sqrt(w) P^T, sqrt(w) T^T]` (TSQR mode).
    pub rf: Mat<f64>,
    /// Rows behind the data (points times channels, over every set).
    pub rows: usize,
    pub(super) merge: Mat<f64>,
    pub(super) qr: Option<QrWs>,
    pub(super) has: bool,
}

impl LayerData {
    pub(crate) fn new(k: usize, m: usize, mode: Accumulate) -> Self {
        let empty = || Mat::zeros(0, 0);
        match mode {
            Accumulate::Gram => LayerData {
                gram: Mat::zeros(k, k),
                rhs: Mat::zeros(k, m),
                rf: empty(),
                rows: 0,
                merge: empty(),
                qr: None,
                has: false,
            },
            Accumulate::Tsqr => {
                let c = k + m;
                LayerData {
                    gram: empty(),
                    rhs: empty(),
                    rf: Mat::zeros(c, c),
                    rows: 0,
                    merge: Mat::zeros((WAVE + 1) * c, c),
                    qr: Some(QrWs::new((WAVE + 1) * c, c)),
                    has: false,
                }
            }
        }
    }
    pub(crate) fn bytes(&self) -> usize {
        [&self.gram, &self.rhs, &self.rf, &self.merge]
            .iter()
            .map(|m| mat_bytes(m))
            .sum::<usize>()
            + self.qr.as_ref().map_or(0, |q| q.bytes())
    }
    /// Forget the last accumulation (before the first set's pass).
    pub(crate) fn reset(&mut self, mode: Accumulate) {
        self.has = false;
        self.rows = 0;
        if mode == Accumulate::Gram {
            self.gram.fill(0.0);
            self.rhs.fill(0.0);
        }
    }
    /// `trace(sum w P P^T)` (for relative ridge and proximal terms).
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
