//! The auxiliary-variable engine: PM and SAPM (losses, the block passes and
//! the trainer).

pub mod loss;
mod passes;
pub mod pinn;
pub mod reference;
mod trainer;

pub(crate) use trainer::capped_solve;
pub use trainer::{
    AuxInit, AuxOrder, OmegaMode, PenaltyConfig, PenaltyMemory, PenaltyTrainer, SweepOrder,
};

/// Blocks per wave of the PM/SAPM data pass (fixes the TSQR merge tree).
pub const DATA_WAVE: usize = passes::WAVE;
