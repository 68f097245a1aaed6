//! PDE problems for PINN training: the spec, expressions, built-ins, sampling
//! and exact solutions.
//!
//! A problem is `c(x) . grad u = f` in a box `Omega` of dimension 1-3 with
//! `u = g` on the inflow boundary (where `c . n < 0`), or the second-order
//! `sum_ij A_ij u_{x_i x_j} + c . grad u + r u = f` with a Dirichlet,
//! Neumann or Robin piece on every face that needs data ([`BoundaryPiece`]),
//! in a box or a non-box [`Domain`] (ball, union, difference).
//! It comes either from Rust closures ([`Problem`]) or from the `[pde]`
//! section of a config ([`PdeConfig`]), whose expressions are parsed by [`Expr`].

pub mod batch;
pub mod batch_config;
mod boundary;
mod config;
mod designs;
mod domain;
mod domain_builtins;
mod domain_config;
mod expr;
mod grid;
pub(crate) mod jacobian;
pub mod loss;
mod operator;
mod problem;
pub(crate) mod refine;
mod refine_config;
mod sampling;
mod second_builtins;
pub mod second_loss;
pub mod second_sampling;
mod second_spec;
mod shard;
mod task;
mod unit_map;
pub mod window;

pub use boundary::{BcKind, BoundaryPiece, Face, Side};
pub use config::RefineConfig;
pub use config::{DEFAULT_MAX_TEST_POINTS, MAX_TEST_POINTS, PROBLEMS, PdeConfig, Sampling};
pub use domain::{Domain, Part, Shape};
pub use domain_config::{DomainConfig, SHAPES};
pub use expr::Expr;
pub use operator::{MatrixFn, Operator, SecondOrder};
pub use problem::PdeScale;
pub use problem::{Problem, ScalarFn, VectorFn};
pub use sampling::PinnData;
pub use second_spec::{BcConfig, BcKindConfig};
pub use task::{PdeTask, PinnMetrics, rel_l2};
