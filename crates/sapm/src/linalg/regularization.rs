//! The ridge and proximal terms of a weight step, and how each solver adds
//! them: to the normal equations' diagonal and right-hand side, or as extra
//! rows of the stacked least-squares system.

use crate::error::{Error, Result};
use faer::{MatMut, MatRef};

/// Ridge and proximal terms of a weight step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Regularization<'a> {
    /// `lambda >= 0`, on the weight columns only.
    pub lambda: f64,
    /// `rho >= 0`, pulls every entry towards `center`.
    pub rho: f64,
    /// `W~_0` (`m x k`); required when `rho > 0`.
    pub center: Option<MatRef<'a, f64>>,
}

impl Regularization<'_> {
    /// Rows the regularisation adds to a stacked system of `k` columns:
    /// `k - 1` ridge rows (no bias) and `k` proximal rows.
    pub(crate) fn extra_rows(&self, k: usize) -> usize {
        let ridge = if self.lambda > 0.0 { k - 1 } else { 0 };
        ridge + if self.rho > 0.0 { k } else { 0 }
    }

    /// Add `lambda D + rho I` to the diagonal of the normal matrix `a`
    /// (`k x k`, `D` = identity without the bias entry).
    pub(crate) fn add_to_diagonal(&self, mut a: MatMut<'_, f64>) {
        let k = a.nrows();
        for i in 0..k {
            if i + 1 < k {
                a[(i, i)] += self.lambda;
            }
            a[(i, i)] += self.rho;
        }
    }

    /// Add `rho W~_0^T` to the normal equations' right-hand side `b`
    /// (`k x m`); `what` names the solve in the error without a centre.
    pub(crate) fn add_to_rhs(&self, mut b: MatMut<'_, f64>, what: &str) -> Result<()> {
        if self.rho > 0.0 {
            let c = self.center(what)?;
            for i in 0..b.nrows() {
                for o in 0..b.ncols() {
                    b[(i, o)] += self.rho * c[(o, i)];
                }
            }
        }
        Ok(())
    }

    /// Write the regularisation rows of the stacked system from row `row`
    /// on: `sqrt(lambda) e_i` (weights only) into `a`, then `sqrt(rho) e_i`
    /// into `a` with `sqrt(rho) W~_0^T` into `b`.
    pub(crate) fn write_rows(
        &self,
        mut a: MatMut<'_, f64>,
        mut b: MatMut<'_, f64>,
        mut row: usize,
    ) -> Result<()> {
        let (k, m) = (a.ncols(), b.ncols());
        if self.lambda > 0.0 {
            let s = self.lambda.sqrt();
            for i in 0..k - 1 {
                a[(row, i)] = s;
                row += 1;
            }
        }
        if self.rho > 0.0 {
            let s = self.rho.sqrt();
            let c = self.center("weight step")?;
            for i in 0..k {
                a[(row, i)] = s;
                for o in 0..m {
                    b[(row, o)] = s * c[(o, i)];
                }
                row += 1;
            }
        }
        Ok(())
    }

    fn center(&self, what: &str) -> Result<MatRef<'_, f64>> {
        self.center
            .ok_or_else(|| Error::numerical(what, "proximal term without a centre"))
    }
}
