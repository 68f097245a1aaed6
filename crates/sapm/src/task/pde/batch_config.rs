//! `pde.batch`: how the collocation mini-batches of `train.batch_size` are
//! drawn (see `batch.rs`); what the problem must allow is checked with the
//! rest of `[pde]`.

use serde::{Deserialize, Serialize};

/// Where a PINN mini-batch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BatchMode {
    /// A subset of the fixed points, reshuffled every epoch.
    #[default]
    Subset,
    /// Fresh points from the sampler at every step.
    Resample,
}

/// `pde.batch = { mode = "subset" | "resample", boundary = n }`: how the
/// collocation batches of `train.batch_size` are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Subset of the fixed points or fresh points.
    pub mode: BatchMode,
    /// Boundary points per step (0: the interior's share, see the module doc).
    pub boundary: usize,
}

impl BatchConfig {
    /// Boundary points per step for `batch` interior points, when the
    /// points number `n_int` and `n_bc`.
    pub fn boundary_size(&self, batch: usize, n_int: usize, n_bc: usize) -> usize {
        if self.boundary > 0 {
            self.boundary
        } else {
            (batch.saturating_mul(n_bc)).div_ceil(n_int.max(1)).max(1)
        }
    }
}
