//! PINNs for first-order linear PDEs: exact input derivatives, the standard
//! PINN loss for the gradient trainers, and PM/SAPM-PINN.

mod forward;

pub use forward::{
    DirCache, DirGrad, PinnLoss, PinnObjective, dir_forward_into, directional_derivative, pde_mse,
    pinn_loss,
};
mod penalty;

pub use penalty::{
    PinnAux, PinnPenaltySettings, PinnPenaltyTrainer, PinnWorkspace, objective, omega_rows,
};
mod fit;
pub mod march;

pub use march::WindowSummary;

pub use fit::{
    GapProbe, PinnMetrics, build_pinn_trainer, fit_pde, fit_pde_checkpointed, points_fingerprint,
    rel_l2,
};
