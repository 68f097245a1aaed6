//! What the gradient and least-squares methods see of a task: a loss of the
//! network parameters with its gradient ([`Objective`]) and, for
//! Gauss-Newton methods, the residual vector behind it with its Jacobian
//! ([`LeastSquares`]). Each task kind implements them once; every optimiser
//! talks only to these traits.

use crate::net::Network;
use faer::MatMut;
use std::ops::Range;

/// A differentiable loss of the network parameters (J_LS for regression, the
/// PINN loss for PDEs), used by the gradient-based trainers.
pub trait Objective: Send {
    /// Loss value.
    fn value(&mut self, net: &Network) -> f64;
    /// Loss value and gradient (flat, in [`Network::params`] order).
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64;
    /// The optimiser's step number (0-based) of the next `value_grad`:
    /// stochastic objectives pick their batch from it, so a resumed run sees
    /// the same batches. Deterministic objectives ignore it.
    fn set_step(&mut self, _step: u64) {}
    /// Whether the value is a batch estimate that varies from step to step
    /// (mini-batches): the driver then does not judge the run by its last
    /// value against its best one.
    fn stochastic(&self) -> bool {
        false
    }
}

/// A loss that is a sum of squares, `value = |r(theta)|^2`, with a residual
/// vector `r` of fixed length `M` (regression: `r = (u(x_n) - y_n) / sqrt(N)`,
/// one row per sample and output, sample-major; PINN: the PDE rows
/// `sqrt(alpha / N_i) (L u - f)` then the boundary rows
/// `sqrt(beta_bc / N_b) (B u - g)`).
///
/// The Jacobian `J = dr/dtheta` (`M x P`, columns in [`Network::params`]
/// order) is produced in row blocks so that methods can accumulate `J^T J`
/// or `J J^T` without holding all of `J`.
pub trait LeastSquares: Objective {
    /// `M`, the number of residuals.
    fn residual_count(&self) -> usize;
    /// `r(theta)` into `r` (length `M`); returns `|r|^2`, the objective value.
    fn residuals_into(&mut self, net: &Network, r: &mut [f64]) -> f64;
    /// Rows `rows` of the Jacobian into `jac` (`rows.len() x P`).
    fn jacobian_rows_into(&mut self, net: &Network, rows: Range<usize>, jac: MatMut<'_, f64>);
    /// Rows `rows` of the Jacobian's output-layer columns (the last
    /// `m_L (m_{L-1} + 1)` parameters) into `dst`, if the task has a cheaper
    /// way than full rows (a forward pass: the residual is affine in the
    /// output layer, so these columns are the design VarPro and ELM solve
    /// with). `false`: not provided, the caller extracts them from
    /// [`LeastSquares::jacobian_rows_into`].
    fn output_columns_into(
        &mut self,
        _net: &Network,
        _rows: Range<usize>,
        _dst: MatMut<'_, f64>,
    ) -> bool {
        false
    }
}

/// An objective over every process's shard: `inner` is this process's share
/// of the loss (its means divide by the counts of all processes), and the
/// value and gradient are summed over the processes of `reducer`, the
/// gradient and the value in one collective.
pub struct ShardedObjective<'a> {
    inner: Box<dyn Objective + 'a>,
    reducer: crate::linalg::SharedReducer,
    buf: Vec<f64>,
}

impl<'a> ShardedObjective<'a> {
    /// `inner` summed over `reducer`'s processes (`p` parameters).
    pub fn new(
        inner: Box<dyn Objective + 'a>,
        reducer: crate::linalg::SharedReducer,
        p: usize,
    ) -> Self {
        ShardedObjective {
            inner,
            reducer,
            buf: vec![0.0; p + 1],
        }
    }
}

impl Objective for ShardedObjective<'_> {
    fn value(&mut self, net: &Network) -> f64 {
        let mut v = [self.inner.value(net)];
        crate::linalg::reduce_or_nan(self.reducer.as_ref(), &mut v);
        v[0]
    }
    fn value_grad(&mut self, net: &Network, grad: &mut [f64]) -> f64 {
        let f = self.inner.value_grad(net, grad);
        let p = grad.len();
        self.buf.resize(p + 1, 0.0);
        self.buf[..p].copy_from_slice(grad);
        self.buf[p] = f;
        crate::linalg::reduce_or_nan(self.reducer.as_ref(), &mut self.buf);
        grad.copy_from_slice(&self.buf[..p]);
        self.buf[p]
    }
    fn set_step(&mut self, step: u64) {
        self.inner.set_step(step);
    }
    fn stochastic(&self) -> bool {
        self.inner.stochastic()
    }
}
