//! SAPM's consistency bounds: the true least-squares loss `J_LS` against the
//! auxiliary loss `J` for any auxiliaries, written once for both kinds of rows.
//!
//! - Value rows (regression): `J_LS <= L max(1, K^(2(L-1))) J` (design note
//!   section 3), [`consistency_constant`].
//! - Row sets with derivative channels (PINN rows of first and second order,
//!   `Channel::D1`/`Channel::D2`): `sqrt(J_LS) <= c1 sqrt(J) + c2 J`, with
//!   `c1`, `c2` functions of the weight norms, the activation's derivative
//!   bounds, the readout coefficients, the input directions and the `Omega`
//!   settings only, [`rows_bound`]. Derivation: docs/method.md, "Consistency
//!   of derivative rows". `J`'s `Omega^2` rows are those of the auxiliaries
//!   `J` is evaluated at.

use super::loss::Weighting;
use crate::net::Network;
use crate::task::rows::{Channel, RowSet};

/// The consistency constant `L max(1, K^(2(L-1)))` of the bound `J_LS <= c J_SAPM`.
pub fn consistency_constant(depth: usize, lipschitz: f64) -> f64 {
    depth as f64 * lipschitz.powi(2 * (depth as i32 - 1)).max(1.0)
}

/// The constants of `sqrt(J_LS) <= c1 sqrt(J) + c2 J` on row sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowsBound {
    /// Linear constant (first-order errors of every channel).
    pub c1: f64,
    /// Quadratic constant (products `beta_k beta_m` of first-derivative
    /// errors in the second-derivative inputs), already multiplied by the
    /// largest `sqrt(N_s / w_s)` over the sets.
    pub c2: f64,
}

impl RowsBound {
    /// The bound on `J_LS` at auxiliary loss `j`: `(c1 sqrt(j) + c2 j)^2`.
    pub fn ls_bound(&self, j: f64) -> f64 {
        let r = mul(self.c1, j.sqrt()) + mul(self.c2, j);
        r * r
    }

    /// The bound on `J_LS / J` at auxiliary loss `j`: `(c1 + c2 sqrt(j))^2`.
    pub fn ratio_bound(&self, j: f64) -> f64 {
        let r = self.c1 + mul(self.c2, j.sqrt());
        r * r
    }
}

/// What the bound needs of one row set: sups over its points of the readout
/// coefficients by channel kind, of the input directions' 2-norms, and its
/// `Omega` settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetScales {
    /// `sup |coefficient|` of the value channel.
    pub cu: f64,
    /// Sum over first-derivative terms of `sup |coefficient|`.
    pub cd: f64,
    /// Sum over second-derivative terms of `sup |coefficient|`.
    pub ch: f64,
    /// Largest 2-norm of an input direction (0 without directions).
    pub vmax: f64,
    /// Whether the set has derivative channels.
    pub has_dirs: bool,
    /// `Omega^2 = floor + deriv sum_{j >= l} H_j` (1 and 0 without `Omega` rows).
    pub floor: f64,
    /// See `floor`.
    pub deriv: f64,
}

impl SetScales {
    /// The scales of `set`.
    pub fn of(set: &RowSet<'_>) -> Self {
        let (mut cu, mut cd, mut ch) = (0.0, 0.0, 0.0);
        for (t, &(c, coef)) in set.readout.terms.iter().enumerate() {
            let scale = match set.readout.scales.get(t).copied().flatten() {
                Some(m) => (0..m.ncols()).map(|j| m[(0, j)].abs()).fold(0.0, f64::max),
                None => 1.0,
            };
            let s = coef.abs() * scale;
            match c {
                Channel::Value => cu += s,
                Channel::D1(_) => cd += s,
                Channel::D2(..) => ch += s,
            }
        }
        let vmax = set
            .dirs
            .iter()
            .flat_map(|v| (0..v.ncols()).map(move |j| v.col(j).norm_l2()))
            .fold(0.0, f64::max);
        let (floor, deriv) = set.omega_rows.map_or((1.0, 0.0), |o| (o.floor, o.deriv));
        SetScales {
            cu,
            cd,
            ch,
            vmax,
            has_dirs: !set.dirs.is_empty(),
            floor,
            deriv,
        }
    }
}

/// `a b` with `0 * inf = 0`: a route through a zero weight carries no error.
fn mul(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 { 0.0 } else { a * b }
}

/// `1 / sqrt(x)` (infinite at 0).
fn inv_sqrt(x: f64) -> f64 {
    if x > 0.0 {
        1.0 / x.sqrt()
    } else {
        f64::INFINITY
    }
}

/// Per-point constants `(c1, c2)` of `|rho_n| <= c1 sqrt(j_n) + c2 j_n` for a
/// set with scales `s`: `w[l] = |W_l|_F` for every layer, `omega[l]` the layer
/// weights of `J` (`omega[L-1] = 1`), `k = [sup |s'|, sup |s''|, sup |s'''|]`.
/// `dd_l`: bounds on the exact first derivative of hidden layer `l`'s
/// pre-activation along any input direction of 2-norm `<= vmax`,
/// `dd_0 = |W_0| vmax`, `dd_l = sup|s'| |W_l| dd_{l-1}` (`w[l] = |W_l|_F`).
pub fn exact_derivative_bounds(w: &[f64], k1: f64, vmax: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(w.len().saturating_sub(1));
    for l in 0..w.len().saturating_sub(1) {
        let dd = match l {
            0 => w[0] * vmax,
            _ => k1 * w[l] * out[l - 1],
        };
        out.push(dd);
    }
    out
}

/// The recursion of docs/method.md: after hidden layer `l`, the value error
/// is at most `a_l S`, `sqrt(H_l)` times it `x_l S`, a first-derivative
/// error `b_l S`, a second-derivative error `c_l S + q_l S^2`, an exact first
/// derivative `dd_l` (`S^2 = j_n`).
pub fn set_constants(w: &[f64], omega: &[f64], k: [f64; 3], s: &SetScales) -> (f64, f64) {
    let [k1, k2, k3] = k;
    let k23 = k2.max(k3);
    let depth = w.len();
    let exact = exact_derivative_bounds(w, k1, s.vmax);
    let (mut a, mut x, mut b, mut c, mut q, mut dd) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for l in 0..depth.saturating_sub(1) {
        let (wl, r) = (w[l], inv_sqrt(omega[l]));
        let na = mul(mul(k1, wl), a) + mul(r, inv_sqrt(s.floor));
        let nx = if s.has_dirs {
            mul(mul(k1, wl), x) + mul(r, inv_sqrt(s.deriv))
        } else {
            0.0
        };
        let nb = r + mul(wl, mul(k1, b) + mul(k2, x));
        let nc = r + mul(wl, mul(k1, c) + mul(k23, x) + mul(2.0 * k2, mul(dd, b)));
        let nq = mul(wl, mul(k1, q) + mul(k2, mul(b, b)));
        dd = exact[l];
        (a, x, b, c, q) = (na, nx, nb, nc, nq);
    }
    let wo = w[depth - 1];
    let lin = mul(s.cu, mul(k1, a))
        + mul(s.cd, mul(k1, b) + mul(k2, x))
        + mul(s.ch, mul(k1, c) + mul(k23, x) + mul(2.0 * k2, mul(dd, b)));
    let quad = mul(s.ch, mul(k1, q) + mul(k2, mul(b, b)));
    (1.0 + mul(wo, lin), mul(wo, quad))
}

/// The bound `sqrt(J_LS) <= c1 sqrt(J) + c2 J` of `net` on `sets` with
/// weighting `wt`, where `J_LS` is the sets' least-squares loss
/// `sum_s (w_s / N_s) sum_n |rho_n|^2` (the PINN loss) and `J` the auxiliary
/// loss at any auxiliaries, with `Omega^2` rows of those auxiliaries.
/// `c1 = max_s c1_s`, `c2 = max_s c2_s sqrt(N_s / w_s)` (Minkowski over points
/// and sets, `sum_n j_n^2 <= (sum_n j_n)^2`).
pub fn rows_bound(net: &Network, sets: &[RowSet<'_>], wt: Weighting) -> RowsBound {
    let norms_sq = net.weight_norms_sq();
    let omega = wt.omega(&norms_sq);
    let w: Vec<f64> = norms_sq.iter().map(|v| v.sqrt()).collect();
    let k = net.activation().derivative_sups();
    let mut out = RowsBound { c1: 0.0, c2: 0.0 };
    for set in sets.iter().filter(|s| s.n() > 0 && s.weight > 0.0) {
        let (c1, c2) = set_constants(&w, &omega, k, &SetScales::of(set));
        out.c1 = out.c1.max(c1);
        out.c2 = out.c2.max(mul(c2, (set.n() as f64 / set.weight).sqrt()));
    }
    out
}
