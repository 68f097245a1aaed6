//! The knobs of PM and SAPM, shared by every problem kind.

use crate::linalg::SolveMethod;
use serde::{Deserialize, Serialize};

/// How SAPM's weight step treats `omega`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OmegaMode {
    /// Exact block minimisation: adaptive ridge from the layers below (descent).
    #[default]
    Coupled,
    /// `omega` held fixed during the weight step (plain least squares per layer).
    Frozen,
}

/// Order of the weight sweep over layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SweepOrder {
    /// Output layer first.
    #[default]
    Backward,
    /// Input layer first.
    Forward,
}

/// How auxiliary steps visit the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuxOrder {
    /// All layers at once with one backtracked step.
    #[default]
    Jacobi,
    /// One layer at a time (in sweep order), each backtracked.
    GaussSeidel,
}

/// How auxiliaries start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuxInit {
    /// The forward pass of the initial network (`J_SAPM = J_LS` at iteration 0).
    #[default]
    Forward,
    /// Independent `U(-1, 1)` entries (drives SAPM's omega towards 0; for ablations).
    Random,
}

/// Knobs of the PM and SAPM trainers. See the README's table for defaults and ranges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PenaltyConfig {
    /// PM's constant penalty `beta > 0` (unused by SAPM).
    pub beta: f64,
    /// SAPM weight step: `coupled` (exact block minimisation) or `frozen`.
    pub omega_mode: OmegaMode,
    /// Weight-step factorisation: `qr` (stacked system) or `cholesky` (normal equations).
    pub solver: SolveMethod,
    /// Extra ridge on `W_l`, relative to `trace(P P^T) / k` (>= 0).
    pub ridge: f64,
    /// Proximal weight `rho` on `|W~ - W~_old|^2`, relative to `trace(P P^T) / k` (>= 0).
    pub prox: f64,
    /// Largest auxiliary step, in units of the per-layer Lipschitz bound (> 0).
    pub tau: f64,
    /// Auxiliary gradient steps per outer iteration (>= 1).
    pub aux_steps: usize,
    /// Armijo backtracking on the auxiliary step.
    pub backtrack: bool,
    /// Auxiliary update order.
    pub aux_order: AuxOrder,
    /// Weight sweep order.
    pub sweep: SweepOrder,
    /// Cap on `|W_L|_F^2` of the output layer (0 = none).
    pub cap_output: f64,
    /// Cap on `|W_l|_F^2` of every hidden layer (0 = none).
    pub cap_hidden: f64,
    /// Auxiliary initialisation.
    pub aux_init: AuxInit,
    /// Adam steps before switching to PM/SAPM (0 = cold start).
    pub warm_start: usize,
    /// Samples per block for sample-parallel kernels.
    pub block: usize,
}

impl Default for PenaltyConfig {
    fn default() -> Self {
        PenaltyConfig {
            beta: 1.0,
            omega_mode: OmegaMode::Coupled,
            solver: SolveMethod::Qr,
            ridge: 0.0,
            prox: 0.0,
            tau: 1.0,
            aux_steps: 1,
            backtrack: true,
            aux_order: AuxOrder::Jacobi,
            sweep: SweepOrder::Backward,
            cap_output: 0.0,
            cap_hidden: 0.0,
            aux_init: AuxInit::Forward,
            warm_start: 0,
            block: crate::linalg::DEFAULT_BLOCK,
        }
    }
}
