//! The domain map of a PINN (`pde.scale`): the network sees the problem's
//! bounding box mapped affinely to `[-1, 1]^d`, `xi_i = (x_i - c_i) / h_i`
//! (`c` the box's centre, `h` its half-widths, space and time axes alike), and
//! `u(x) = N(xi)`. By the chain rule a derivative along a direction `v` of the
//! problem is the derivative of `N` along `v_i / h_i` (second derivatives along
//! two directions likewise), so the map is applied once, where a problem's
//! points become network inputs and directions (`Problem::network_input`,
//! `Problem::network_directions`): the rows of every method and the engine see
//! the mapped problem, the operator's coefficients unchanged. Periodic
//! coordinates already enter through `(cos, sin)` of a scaled angle and are
//! left alone. The saved model carries the map as an input-only min-max
//! [`Scaling`], so predictions are at physical points.

use super::problem::{PdeScale, Problem};
use crate::scale::{Affine, ScaleKind, Scaling};
use faer::Mat;

impl Problem {
    /// The map of the network inputs (embedded coordinates, see
    /// [`Problem::embed`]): `(e - shift) / scale` per input, the box's centre
    /// and half-width on a non-periodic coordinate, `0` and `1` on the
    /// `(cos, sin)` of a periodic one; `None` without `pde.scale = "unit"`.
    pub fn input_map(&self) -> Option<Affine> {
        if self.scale != PdeScale::Unit {
            return None;
        }
        let (mut shift, mut scale) = (Vec::new(), Vec::new());
        for i in 0..self.dim() {
            let (lo, hi) = (self.lo[i], self.hi[i]);
            if self.periodic[i] {
                shift.extend([0.0, 0.0]);
                scale.extend([1.0, 1.0]);
            } else {
                // As `Affine::fit` with min-max: halves first.
                shift.push(lo / 2.0 + hi / 2.0);
                scale.push(hi / 2.0 - lo / 2.0);
            }
        }
        Some(Affine { shift, scale })
    }

    /// The map as the saved model's [`Scaling`]: inputs as
    /// [`Problem::input_map`], the output unchanged.
    pub fn input_scaling(&self) -> Option<Scaling> {
        self.input_map().map(|inputs| Scaling {
            kind: ScaleKind::Minmax,
            inputs,
            outputs: Affine {
                shift: vec![0.0],
                scale: vec![1.0],
            },
        })
    }

    /// The network input at problem point `x` and the direction `v` of
    /// `c(x) . grad u` in network coordinates: [`Problem::embed`], then the
    /// map (`e_k -> (e_k - shift_k) / scale_k`, `v_k -> v_k / scale_k`).
    pub fn network_input(&self, x: &[f64], e: &mut [f64], v: &mut [f64]) {
        self.embed(x, e, v);
        if let Some(m) = self.input_map() {
            for k in 0..e.len() {
                e[k] = (e[k] - m.shift[k]) / m.scale[k];
                v[k] /= m.scale[k];
            }
        }
    }

    /// The network inputs of `pts` (each of `dim()` coordinates), one column each.
    pub fn network_inputs(&self, pts: &[Vec<f64>]) -> Mat<f64> {
        let de = self.embedded_dim();
        let mut m = Mat::zeros(de, pts.len());
        let (mut e, mut v) = (vec![0.0; de], vec![0.0; de]);
        for (j, x) in pts.iter().enumerate() {
            self.network_input(x, &mut e, &mut v);
            for i in 0..de {
                m[(i, j)] = e[i];
            }
        }
        m
    }

    /// The divisors `h_i` that turn a direction of the problem's coordinates
    /// into one of the network's, `v_i -> v_i / h_i` (second-order problems,
    /// which have no periodic coordinates): the half-widths, or 1 unmapped.
    pub(super) fn direction_scale(&self) -> Vec<f64> {
        match self.input_map() {
            Some(m) => m.scale,
            None => vec![1.0; self.dim()],
        }
    }
}

#[cfg(test)]
#[path = "unit_map_tests.rs"]
mod tests;
