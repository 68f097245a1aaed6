//! sapm
#![warn(missing_docs)]
pub mod activation;
pub mod error;
pub mod linalg;
pub mod net;
pub use activation::Activation;
pub use error::{Error, Result};
pub use net::{Network, NetworkSpec};
