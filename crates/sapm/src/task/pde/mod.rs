//! PDE problems for PINN training: the spec, expressions, built-ins, sampling
//! and exact solutions.
//!
//! A problem is `c(x) . grad u = f` in a box `Omega` of dimension 1-3 with
//! `u = g` on the inflow boundary (where `c . n < 0`). It comes either from
//! Rust closures ([`Problem`]) or from the `[pde]` section of a config
//! ([`PdeConfig`]), whose expressions are parsed by [`Expr`].

mod config;
mod expr;
pub(crate) mod jacobian;
pub mod loss;
mod operator;
mod problem;
mod sampling;
mod task;
pub mod window;

pub use config::{DEFAULT_MAX_TEST_POINTS, MAX_TEST_POINTS, PROBLEMS, PdeConfig, Sampling};
pub use expr::Expr;
pub use operator::Operator;
pub use problem::{Problem, ScalarFn, VectorFn};
pub use sampling::PinnData;
pub use task::{PdeTask, PinnMetrics, rel_l2};
