//! Linear-algebra helpers: sample blocks and their reduction, and the
//! regularised least-squares solve behind every weight step.

mod lstsq;
mod reduce;

pub use lstsq::{
    LayerSystem, Regularization, RowGroup, SolveInfo, SolveMethod, condition_number, lstsq_qr,
    pinv_solve, solve_layer, solve_normal,
};
pub use reduce::{LocalReducer, Reducer, SampleBlocks};
