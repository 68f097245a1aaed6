//! `ls-adam`: Adam, full-batch or on the mini-batches of `task::minibatch`.

use super::{StepOutcome, Trainer};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;
use crate::net::Network;
use crate::objective::Objective;
use serde::{Deserialize, Serialize};

/// Adam hyper-parameters (Kingma & Ba 2015).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    /// Learning rate (> 0).
    pub lr: f64,
    /// First-moment decay in [0, 1).
    pub beta1: f64,
    /// Second-moment decay in [0, 1).
    pub beta2: f64,
    /// Denominator offset (> 0).
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Full-batch Adam on an [`Objective`].
pub struct Adam<'a> {
    obj: Box<dyn Objective + 'a>,
    cfg: AdamConfig,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
    grad: Vec<f64>,
    params: Vec<f64>,
    last: f64,
}

impl<'a> Adam<'a> {
    /// Adam on `obj`.
    pub fn new(obj: Box<dyn Objective + 'a>, cfg: AdamConfig) -> Self {
        Adam {
            obj,
            cfg,
            m: Vec::new(),
            v: Vec::new(),
            t: 0,
            grad: Vec::new(),
            params: Vec::new(),
            last: f64::NAN,
        }
    }
}

impl Trainer for Adam<'_> {
    fn name(&self) -> &str {
        "ls-adam"
    }
    fn start(&mut self, net: &Network) -> Result<()> {
        let n = net.num_params();
        self.m = vec![0.0; n];
        self.v = vec![0.0; n];
        self.grad = vec![0.0; n];
        self.params = net.params();
        self.t = 0;
        Ok(())
    }
    fn step(&mut self, net: &mut Network) -> Result<StepOutcome> {
        // The loss at the current point comes with the gradient; the objective
        // reported is that of the parameters *before* this update, which saves a
        // forward pass per step (the driver records true metrics separately).
        self.obj.set_step(self.t.max(0) as u64);
        let f = self.obj.value_grad(net, &mut self.grad);
        self.t = self.t.saturating_add(1);
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = self.cfg;
        let c1 = 1.0 - beta1.powi(self.t);
        let c2 = 1.0 - beta2.powi(self.t);
        net.params_into(&mut self.params);
        for i in 0..self.params.len() {
            let g = self.grad[i];
            self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * g;
            self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * g * g;
            let mh = self.m[i] / c1;
            let vh = self.v[i] / c2;
            self.params[i] -= lr * mh / (vh.sqrt() + eps);
        }
        net.set_params(&self.params);
        self.last = f;
        Ok(StepOutcome {
            objective: f,
            converged: false,
            lagged: true,
            new_phase: false,
        })
    }
    fn stochastic(&self) -> bool {
        self.obj.stochastic()
    }
    fn save_state<'s>(&'s self, w: &mut StateWriter<'s>) -> Result<()> {
        w.f64s("m", &self.m);
        w.f64s("v", &self.v);
        w.int("t", self.t.max(0) as u64);
        w.f64("last", self.last);
        Ok(())
    }
    fn load_state(&mut self, r: &mut StateReader, net: &Network) -> Result<()> {
        self.start(net)?;
        r.f64s_into("m", &mut self.m)?;
        r.f64s_into("v", &mut self.v)?;
        self.t = r.usize_at_most("t", i32::MAX as usize)? as i32;
        self.last = r.f64("last")?;
        Ok(())
    }
}
