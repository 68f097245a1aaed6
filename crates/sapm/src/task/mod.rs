//! What is trained: regression data ([`regression`]) or a PDE problem
//! ([`pde`]).

pub mod pde;
pub mod regression;
pub mod regression_jacobian;
