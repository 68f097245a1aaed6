//! The auxiliary-variable engine: PM and SAPM on any task, written once over
//! row sets (`rows.rs`): the losses, the block passes, the weight and
//! auxiliary steps and the trainer.

mod config;
pub mod consistency;
mod inspect;
mod layer_data;
mod layout;
pub mod loss;
mod passes;
mod passes_grad;
mod state;
mod trainer;
mod weight_data;
mod weight_step;

#[cfg(test)]
mod tests;

pub use crate::task::rows::{Channel, OmegaRows, Readout, RowSet};
pub use config::{AuxInit, AuxOrder, OmegaMode, PenaltyConfig, SweepOrder};
pub use inspect::{DerivativeGaps, PenaltyMemory};
pub use trainer::PenaltyTrainer;
pub use weight_step::capped_solve;

/// Blocks per wave of the PM/SAPM data pass (fixes the TSQR merge tree).
pub const DATA_WAVE: usize = passes::WAVE;
