//! What Levenberg-Marquardt iterates on: a residual vector of some
//! parameters with its Jacobian. Plain LM uses all network parameters
//! ([`Plain`]); VarPro uses the hidden ones and re-solves the output layer
//! ([`super::varpro::VarPro`]).

use crate::error::Result;
use crate::net::Network;
use crate::objective::LeastSquares;
use crate::task::khatri_rao::{KhatriRao, KrFactors};
use faer::{MatMut, MatRef};
use std::ops::Range;

/// A least-squares problem in LM's parameters `theta`.
pub trait LmModel: Send {
    /// `M`, the number of residuals.
    fn residual_count(&self) -> usize;
    /// The number of parameters LM iterates on, for `net`'s shape.
    fn dim(&self, net: &Network) -> usize;
    /// Current `theta` of `net` into `out` (length [`LmModel::dim`]).
    fn params_into(&self, net: &Network, out: &mut [f64]);
    /// Put `theta` into `net` (VarPro: and solve the output layer). The
    /// model's derived state for this point (VarPro: the projector) takes
    /// effect only when [`LmModel::accept`] is called.
    fn set_params(&mut self, net: &mut Network, theta: &[f64]) -> Result<()>;
    /// The point of the last [`LmModel::set_params`] is the new iterate.
    fn accept(&mut self) {}
    /// Called before the first iteration (VarPro: solve the output layer).
    fn prepare(&mut self, _net: &mut Network) -> Result<()> {
        Ok(())
    }
    /// Called when resuming from a checkpoint, for a `net` that was
    /// prepared: rebuild derived state (VarPro: the projector) without
    /// changing `net`.
    fn restore(&mut self, _net: &Network) -> Result<()> {
        Ok(())
    }
    /// Residuals at `net` into `r`; returns `|r|^2`.
    fn residuals_into(&mut self, net: &Network, r: &mut [f64]) -> f64;
    /// Rows `rows` of `dr/dtheta` at `net` into `jac` (`rows.len() x dim`).
    fn jacobian_rows_into(&mut self, net: &Network, rows: Range<usize>, jac: MatMut<'_, f64>);
    /// Whether [`LmModel::kr_factors_into`] works (the dual Gram matrix then
    /// comes from Khatri-Rao factors instead of an explicit `J`).
    fn factored(&self) -> bool {
        false
    }
    /// The Jacobian's Khatri-Rao factors at `net`; returns how many leading
    /// layers belong to `theta` (their parameters are `theta`, in order).
    fn kr_factors_into(&mut self, _net: &Network, _f: &mut KrFactors) -> usize {
        0
    }
    /// An orthonormal basis `Q` (`M x k`) whose span is projected off the
    /// Jacobian, `J <- (I - Q Q^T) J` (VarPro's Kaufman Jacobian), if any.
    fn projector(&self) -> Option<MatRef<'_, f64>> {
        None
    }
}

/// A residual objective, with or without Khatri-Rao factors.
pub enum Residuals<'a> {
    /// Only rows of `J`.
    Rows(Box<dyn LeastSquares + 'a>),
    /// Rows of `J` and its factors.
    Factored(Box<dyn KhatriRao + 'a>),
}

impl Residuals<'_> {
    /// The residual interface.
    pub fn ls(&mut self) -> &mut dyn LeastSquares {
        match self {
            Residuals::Rows(l) => l.as_mut(),
            Residuals::Factored(k) => k.as_mut(),
        }
    }
    /// `M`.
    pub fn residual_count(&self) -> usize {
        match self {
            Residuals::Rows(l) => l.residual_count(),
            Residuals::Factored(k) => k.residual_count(),
        }
    }
    /// Factors at `net` (false without them).
    pub fn factors_into(&mut self, net: &Network, f: &mut KrFactors) -> bool {
        match self {
            Residuals::Rows(_) => false,
            Residuals::Factored(k) => {
                k.kr_factors_into(net, f);
                true
            }
        }
    }
}

/// LM on all network parameters of a residual objective.
pub struct Plain<'a> {
    ls: Residuals<'a>,
}

impl<'a> Plain<'a> {
    /// Wrap a residual objective.
    pub fn new(ls: Residuals<'a>) -> Self {
        Plain { ls }
    }
}

impl LmModel for Plain<'_> {
    fn residual_count(&self) -> usize {
        self.ls.residual_count()
    }
    fn dim(&self, net: &Network) -> usize {
        net.num_params()
    }
    fn params_into(&self, net: &Network, out: &mut [f64]) {
        net.params_into(out);
    }
    fn set_params(&mut self, net: &mut Network, theta: &[f64]) -> Result<()> {
        net.set_params(theta);
        Ok(())
    }
    fn residuals_into(&mut self, net: &Network, r: &mut [f64]) -> f64 {
        self.ls.ls().residuals_into(net, r)
    }
    fn jacobian_rows_into(&mut self, net: &Network, rows: Range<usize>, jac: MatMut<'_, f64>) {
        self.ls.ls().jacobian_rows_into(net, rows, jac);
    }
    fn factored(&self) -> bool {
        matches!(self.ls, Residuals::Factored(_))
    }
    fn kr_factors_into(&mut self, net: &Network, f: &mut KrFactors) -> usize {
        if self.ls.factors_into(net, f) {
            net.depth()
        } else {
            0
        }
    }
}
