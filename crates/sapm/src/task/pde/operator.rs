//! The differential operator of a PDE problem: which input derivatives of
//! `u` it reads and how it combines them: `c(x) . grad u` (first order) or
//! `sum_ij A_ij(x) u_{x_i x_j} + c(x) . grad u + r(x) u` (second order). Everything that depends on the
//! operator (the sampled directions, the rows of the penalty engine, the
//! time-window rescaling) asks this type, so a new operator is an addition
//! here (and its derivative rows in `net/` and `engine/`), not a rewrite.

use crate::task::rows::Channel;
use std::sync::Arc;

/// A scalar function of the problem coordinates.
pub type ScalarFn = Arc<dyn Fn(&[f64]) -> f64 + Send + Sync>;
/// The transport field `c(x)`: writes `d` values into the second argument.
pub type VectorFn = Arc<dyn Fn(&[f64], &mut [f64]) + Send + Sync>;

/// A matrix field `A(x)`: writes `d * d` values, row-major.
pub type MatrixFn = Arc<dyn Fn(&[f64], &mut [f64]) + Send + Sync>;

/// The second-order part of an operator, `sum_ij A_ij u_{x_i x_j} + r u`
/// (the first-order part is [`Operator::c`]), with its structure: which
/// entries may be nonzero, so only those derivatives are computed.
#[derive(Clone)]
pub struct SecondOrder {
    /// `A(x)`, symmetric, `d * d` values row-major.
    pub a: MatrixFn,
    /// `r(x)`.
    pub r: ScalarFn,
    /// The pairs `(i, j)`, `i <= j`, where `A_ij` may be nonzero (at least one).
    pub a_pairs: Vec<(usize, usize)>,
    /// The coordinates `i` where `c_i` may be nonzero.
    pub c_dirs: Vec<usize>,
    /// Whether `r` may be nonzero.
    pub has_r: bool,
}

/// A linear differential operator on `u`: the first-order transport term
/// `L u = c(x) . grad u`, or with [`Operator::second`] the second-order
/// `L u = sum_ij A_ij(x) u_{x_i x_j} + c(x) . grad u + r(x) u`.
#[derive(Clone)]
pub struct Operator {
    /// `c(x)`: writes `d` values (one per problem coordinate).
    pub c: VectorFn,
    /// The second-order part (`None` for `c . grad u`).
    pub second: Option<Arc<SecondOrder>>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.second {
            None => f.write_str("Operator(c . grad u)"),
            Some(s) => write!(
                f,
                "Operator(A : Hess u + c . grad u + r u; A pairs {:?}, c along {:?}, r {})",
                s.a_pairs, s.c_dirs, s.has_r
            ),
        }
    }
}

impl Operator {
    /// `c(x) . grad u`.
    pub fn transport(c: VectorFn) -> Self {
        Operator { c, second: None }
    }

    /// `sum_ij A_ij u_{x_i x_j} + c . grad u + r u`.
    pub fn second_order(c: VectorFn, second: SecondOrder) -> Self {
        Operator {
            c,
            second: Some(Arc::new(second)),
        }
    }

    /// Which derivative orders of `u` (0, 1, 2) the operator reads.
    pub fn orders(&self) -> [bool; 3] {
        match &self.second {
            None => [false, true, false],
            Some(s) => [s.has_r, !s.c_dirs.is_empty(), true],
        }
    }

    /// Whether the operator has second derivatives.
    pub fn is_second_order(&self) -> bool {
        self.second.is_some()
    }

    /// The input directions (coordinate indices) and the pairs of them
    /// (indices into the directions) a second-order operator reads: the
    /// coordinates of `A`'s nonzero pairs and of `c`'s nonzero entries.
    /// Empty for a first-order operator.
    pub fn second_channels(&self) -> (Vec<usize>, Vec<(usize, usize)>) {
        let Some(s) = &self.second else {
            return (Vec::new(), Vec::new());
        };
        let mut dirs: Vec<usize> = s
            .a_pairs
            .iter()
            .flat_map(|&(i, j)| [i, j])
            .chain(s.c_dirs.iter().copied())
            .collect();
        dirs.sort_unstable();
        dirs.dedup();
        let at = |i: usize| dirs.iter().position(|&k| k == i).unwrap_or(0);
        let pairs = s.a_pairs.iter().map(|&(i, j)| (at(i), at(j))).collect();
        (dirs, pairs)
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
            // Time windows refuse second-order problems (`window_problem`).
            second: self.second.clone(),
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
