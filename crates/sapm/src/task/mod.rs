//! What is trained: regression data ([`regression`]) or a PDE problem
//! ([`pde`]).

pub mod khatri_rao;
pub mod pde;
pub mod regression;
pub mod regression_jacobian;
