//! `ls-gd`: full-batch gradient descent with a constant step.

use super::{StepOutcome, Trainer};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;
use crate::net::Network;
use crate::objective::Objective;

/// `theta <- theta - lr * grad J(theta)`.
pub struct GradientDescent<'a> {
    obj: Box<dyn Objective + 'a>,
    lr: f64,
    grad: Vec<f64>,
    params: Vec<f64>,
}

impl<'a> GradientDescent<'a> {
    /// Gradient descent on `obj` with step `lr`.
    pub fn new(obj: Box<dyn Objective + 'a>, lr: f64) -> Self {
        GradientDescent {
            obj,
            lr,
            grad: Vec::new(),
            params: Vec::new(),
        }
    }
}

impl Trainer for GradientDescent<'_> {
    fn name(&self) -> &str {
        "ls-gd"
    }
    fn start(&mut self, net: &Network) -> Result<()> {
        self.grad = vec![0.0; net.num_params()];
        self.params = net.params();
        Ok(())
    }
    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        // Loss of the point the gradient was taken at (saves a forward pass).
        let objective = self.obj.value_grad(net, &mut self.grad);
        net.params_into(&mut self.params);
        for (p, g) in self.params.iter_mut().zip(&self.grad) {
            *p -= self.lr * g;
        }
        net.set_params(&self.params);
        Ok(StepOutcome {
            objective,
            converged: false,
            lagged: true,
            new_phase: false,
        })
    }
    /// Nothing but the weights (which the driver saves) carries over between steps.
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        w.text("method", self.name());
        Ok(())
    }
    fn load_state(&mut self, _r: &mut StateReader, net: &Network) -> Result<()> {
        self.start(net)
    }
}
