//! # sapm
//!
//! Least-squares training of fully connected networks with **self-adaptive
//! weighted auxiliary variables** (SAPM), next to the penalty model (PM) and
//! the standard optimisers it must beat: gradient descent, Adam, L-BFGS,
//! Adam -> L-BFGS, and an extreme learning machine (ELM) baseline.
//!
//! Everything is `f64`. The same config and seed give bit-identical results
//! for any thread count (sample sums run over fixed blocks in a fixed order),
//! unless a wall-time limit stops the run.
//!
//! ## Train and predict
//!
//! ```
//! use sapm::{fit, Method, TrainConfig};
//!
//! let mut cfg = TrainConfig::default();          // sin(x^2) on [-3, 3], tanh, 6 layers of width 20
//! cfg.method = Method::Sapm;
//! cfg.train.max_iterations = 30;
//! let cfg = cfg.check()?;                        // every value checked once, here
//! let data = cfg.data.load(cfg.seed)?;           // 100 random training points, 1000-point test grid
//! let fitted = fit(&cfg, &data)?;
//! let u = fitted.model.predict(data.test.x.as_ref())?;   // 1 x 1000 predictions
//!
//! let first = fitted.history.first().unwrap().values[0];  // train MSE at iteration 0
//! assert!(fitted.summary.train_mse < 0.1 * first);
//! assert_eq!(u.ncols(), 1000);
//! // Always read accuracy next to the fragility check:
//! let d = &fitted.summary.diagnostics;
//! println!("test MSE {:.2e}, in f32 {:.2e}, |W_L|^2 {:.2e}", fitted.summary.test_mse, d.test_mse_f32, d.output_weight_norm_sq);
//! # Ok::<(), sapm::Error>(())
//! ```
//!
//! ## Map (dependencies point downward; see `docs/architecture.md`)
//! - [`fit`](mod@fit): config -> task -> trainer -> driver -> fitted model and summary.
//! - [`driver`]: the loop, stopping rules, history, observers, checkpoints.
//! - [`optim`]: one module per method behind the [`optim::Trainer`] trait.
//! - [`engine`]: the PM/SAPM auxiliary-variable engine.
//! - [`objective`]: what gradient and least-squares methods see of a task.
//! - [`task`]: regression data and PDE problems ([`task::regression`], [`task::pde`]).
//! - [`net`]: the network, its forward pass and input derivatives.
//! - [`linalg`]: sample-block reductions and the weight-step least-squares solve.
//! - [`config`], [`data`], [`model`], [`io`], [`checkpoint`], [`record`], [`perf`]:
//!   configuration, data files, models, atomic writes, checkpoint files,
//!   history rows, flop and memory models; [`outdir`]: locked, probed output
//!   folders published all at once; [`memory`]: estimates and limits;
//!   [`verdict`]: failed fits (worse than a constant) and `summary.json`.
//!
//! ## What this crate is not
//! A general deep-learning framework: no GPUs, no mini-batching, no
//! convolution. It is a careful CPU implementation for studying
//! auxiliary-variable training of small dense networks.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod driver;
pub mod engine;
pub mod error;
pub mod export;
pub mod fit;
pub mod io;
pub mod linalg;
pub mod memory;
pub mod model;
pub mod net;
pub mod objective;
pub mod optim;
pub mod outdir;
pub mod perf;
pub mod record;
pub mod scale;
pub mod task;
pub mod verdict;

pub use config::{Method, TrainConfig};
pub use error::{Error, Result};
pub use fit::{Fitted, Summary, fit, fit_with};
pub use model::Model;
pub use net::{Activation, Network, NetworkSpec};
