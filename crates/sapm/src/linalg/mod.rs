//! Linear-algebra helpers: sample blocks and their reduction, and the
//! regularised least-squares solve behind every weight step.

mod lstsq;
mod reduce;

pub use lstsq::{
    LayerSolveWs, LayerSystem, QrWs, Regularization, RowGroup, SolveInfo, SolveMethod,
    condition_number, lstsq_qr, mat_bytes, pinv_solve, qr_r_into, solve_gram_into, solve_layer,
    solve_normal, solve_qr_factor_into,
};
pub use reduce::{
    DEFAULT_BLOCK, LocalReducer, MIN_BLOCK, MIN_BLOCKS, PerThread, Reducer, SampleBlocks,
    balanced_block,
};
