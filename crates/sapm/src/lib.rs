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
//! ## Map
//! - [`net`]: the network, its initialisation and forward pass; [`activation`].
//! - [`data`]: built-in targets, CSV/npy files, splits.
//! - [`loss`]: `J_LS` and backpropagation; [`penalty`]: `J_PM`, `J_SAPM`, omega, auxiliary gradients.
//! - [`train`]: one module per method behind the [`train::Trainer`] trait, and the driver.
//! - [`linalg`]: sample-block reductions and the weight-step least-squares solve.
//! - [`config`], [`fit`](mod@fit), [`model`], [`io`]: configuration, the high-level API, files;
//!   [`outdir`]: locked, probed output folders published all at once; [`memory`]: estimates and limits;
//!   [`verdict`]: failed fits (worse than a constant) and `summary.json`;
//!   [`checkpoint`]: checkpoint files for stopping and resuming runs.
//! - [`perf`]: flop and memory models of an iteration and a benchmark workload;
//!   [`reference`](mod@reference): the straightforward PM/SAPM trainer the optimised one is tested against.
//! - [`pde`], [`pinn`]: first-order linear PDEs and PINN training (standard loss,
//!   PM/SAPM-PINN); see `docs/pinn.md`.
//!
//! ## What this crate is not
//! A general deep-learning framework: no GPUs, no mini-batching, no
//! convolution. It is a careful CPU implementation for studying
//! auxiliary-variable training of small dense networks.
#![warn(missing_docs)]

pub mod activation;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod fit;
pub mod io;
pub mod linalg;
pub mod loss;
pub mod memory;
pub mod model;
pub mod net;
pub mod outdir;
pub mod penalty;
pub mod perf;
pub mod reference;
pub mod train;
pub mod verdict;

pub use activation::Activation;
pub use config::{Method, TrainConfig};
pub use error::{Error, Result};
pub use fit::{Fitted, Summary, fit, fit_with};
pub use model::Model;
pub use net::{Network, NetworkSpec};
pub mod pde;
pub mod pinn;
