//! Linear-algebra helpers: sample blocks and their reduction, and the
//! regularised least-squares solve behind every weight step.

mod lstsq;
#[cfg(feature = "mpi")]
pub mod mpi;
mod reduce;
pub mod reduce_tree;
mod regularization;
mod solve_into;

pub use lstsq::{
    LayerSystem, RowGroup, SolveInfo, SolveMethod, condition_number, lstsq_qr, pinv_solve,
    solve_layer, solve_normal,
};
pub use reduce::{
    DEFAULT_BLOCK, LocalReducer, MIN_BLOCK, MIN_BLOCKS, PerThread, Reducer, SampleBlocks,
    SharedReducer, all_gather, balanced_block, local_reducer, reduce_or_nan, shard_range,
};
pub use regularization::Regularization;
pub use solve_into::{
    LayerSolveWs, QrWs, mat_bytes, qr_r_into, solve_gram_into, solve_qr_factor_into,
};
