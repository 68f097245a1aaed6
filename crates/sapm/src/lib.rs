//! sapm
#![warn(missing_docs)]
pub mod activation;
pub mod config;
pub mod data;
pub mod error;
pub mod fit;
pub mod io;
pub mod linalg;
pub mod loss;
pub mod model;
pub mod net;
pub mod penalty;
pub mod train;
pub use activation::Activation;
pub use error::{Error, Result};
pub use net::{Network, NetworkSpec};
