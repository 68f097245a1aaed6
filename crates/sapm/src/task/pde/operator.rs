//! The differential operator of a PDE problem: which input derivatives of
//! `u` it reads and how it combines them. Everything that depends on the
//! operator (the sampled directions, the rows of the penalty engine, the
//! time-window rescaling) asks this type, so a new operator is an addition
//! here (and its derivative rows in `net/` and `engine/`), not a rewrite.

use crate::task::rows::Channel;
use std::sync::Arc;

/// A scalar function of the problem coordinates.
pub type ScalarFn = Arc<dyn Fn(&[f64]) -> f64 + Send + Sync>;
/// The transport field `c(x)`: writes `d` values into the second argument.
pub type VectorFn = Arc<dyn Fn(&[f64], &mut [f64]) + Send + Sync>;

/// A linear differential operator on `u`: today the first-order transport
/// term `L u = c(x) . grad u`.
#[derive(Clone)]
pub struct Operator {
    /// `c(x)`: writes `d` values (one per problem coordinate).
    pub c: VectorFn,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Operator(c . grad u)")
    }
}

impl Operator {
    /// `c(x) . grad u`.
    pub fn transport(c: VectorFn) -> Self {
        Operator { c }
    }

    /// Which derivative orders of `u` (0, 1, 2) the operator reads.
    pub fn orders(&self) -> [bool; 3] {
        [false, true, false]
    }

    /// First-derivative directions an interior point needs (the channels of
    /// the penalty engine): one, the direction `J_e c` of `c . grad u` in the
    /// network's input coordinates.
    pub fn directions(&self) -> usize {
        1
    }

    /// How the interior readout combines the network's channels into `L u`.
    pub fn readout_terms(&self) -> Vec<(Channel, f64)> {
        vec![(Channel::D1(0), 1.0)]
    }

    /// `c(x)` at a point of problem coordinates (`out` has `d` entries).
    pub fn c_at(&self, x: &[f64], out: &mut [f64]) {
        (self.c)(x, out)
    }

    /// The operator in the coordinates of a map `y = global(x)`, multiplied
    /// by `scale` in every coordinate but `keep` (a time window with local
    /// time `s = (t - t_k) / h` has `L' = h L` there: `c'_t = c_t`,
    /// `c'_i = h c_i`).
    pub fn mapped(
        &self,
        global: impl Fn(&[f64]) -> [f64; 3] + Send + Sync + 'static,
        d: usize,
        keep: usize,
        scale: Option<f64>,
    ) -> Operator {
        let c0 = self.c.clone();
        Operator {
            c: Arc::new(move |x, out| {
                c0(&global(x)[..d], out);
                if let Some(h) = scale {
                    for (i, o) in out.iter_mut().enumerate() {
                        if i != keep {
                            *o *= h;
                        }
                    }
                }
            }),
        }
    }
}
