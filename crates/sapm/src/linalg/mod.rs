//! Linear-algebra helpers: sample blocks and their reduction, and the
//! regularised least-squares solve behind every weight step.

mod lstsq;
mod reduce;

pub use lstsq::{condition_number, solve_layer, LayerSystem, Regularization, SolveInfo, SolveMethod};
pub use reduce::{LocalReducer, Reducer, SampleBlocks};
