//! What the gradient and least-squares methods see of a task: a loss of the
//! network parameters with its gradient.

use crate::net::Network;

/// A differentiable loss of the network parameters (J_LS for regression, the
/// PINN loss for PDEs), used by the gradient-based trainers.
pub trait Objective: Send {
    /// Loss value.
    fn value(&mut self, net: &Network) -> f64;
    /// Loss value and gradient (flat, in [`Network::params`] order).
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64;
}
