//! Auxiliary-variable losses: the penalty model (PM) and its self-adaptive
//! weighted form (SAPM).
//!
//! With auxiliaries `A_l ~ z_l` (pre-activations of hidden layer `l`, one
//! column per sample), layer inputs `P_0 = [X; 1]`, `P_l = [s(A_{l-1}); 1]`,
//! targets `T_l = A_l` (hidden) and `T_{L-1} = Y` (output), and residuals
//! `E_l = T_l - W~_l P_l` (0-based layers `l = 0..L-1`):
//!
//! ```text
//!   J(theta, A) = (1/N) sum_l omega_l |E_l|_F^2
//! ```
//!
//! PM: `omega_l = beta` for hidden layers, 1 for the output layer.
//! SAPM: `omega_l = prod_{j>l} |W_j|_F^2` (bias excluded), `omega_{L-1} = 1`.
//!
//! Consistency (design note section 3): for any `A`, with `K` the Lipschitz
//! constant of the activation, `J_LS <= L max(1, K^(2(L-1))) J_SAPM`, with
//! equality `J_SAPM = J_LS` when `A` is the forward pass.
//!
//! Gradient with respect to a hidden auxiliary (the same convention for all layers):
//! `dJ/dA_l = (2/N) [ omega_l E_l - omega_{l+1} s'(A_l) (.) (W_{l+1}^T E_{l+1}) ]`.

use crate::net::{ForwardCache, Network, activate_into, ones_row_mat};
use crate::task::rows::RowSet;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How the penalty terms are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Weighting {
    /// PM: a constant penalty `beta` on every hidden constraint.
    Constant(f64),
    /// SAPM: `omega_l = prod_{j>l} |W_j|_F^2`.
    SelfAdaptive,
}

impl Weighting {
    /// `omega_l` for every layer (`omega_{L-1} = 1`) given `|W_j|_F^2`.
    pub fn omega(&self, norms_sq: &[f64]) -> Vec<f64> {
        let mut w = vec![1.0; norms_sq.len()];
        self.omega_into(norms_sq, &mut w);
        w
    }

    /// [`Weighting::omega`] into a caller-owned slice (same length as `norms_sq`).
    pub fn omega_into(&self, norms_sq: &[f64], w: &mut [f64]) {
        let depth = norms_sq.len();
        w.fill(1.0);
        match *self {
            Weighting::Constant(beta) => {
                for v in w.iter_mut().take(depth.saturating_sub(1)) {
                    *v = beta;
                }
            }
            Weighting::SelfAdaptive => {
                for l in (0..depth.saturating_sub(1)).rev() {
                    w[l] = w[l + 1] * norms_sq[l + 1];
                }
            }
        }
    }
}

/// The consistency constants live with the derivative rows' bound.
pub use super::consistency::consistency_constant;

/// Auxiliary variables `A_l` (`m_l x N`) for the hidden layers `l = 0..L-2`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxVars {
    /// One matrix per hidden layer.
    pub a: Vec<Mat<f64>>,
}

impl AuxVars {
    /// Auxiliaries equal to the forward pass of `net` on `x`, so `J_SAPM = J_LS`.
    pub fn forward(net: &Network, x: MatRef<'_, f64>) -> Self {
        let mut cache = ForwardCache::new(net.widths(), x.ncols());
        net.forward_into(x, &mut cache);
        let depth = net.depth();
        AuxVars {
            a: cache.z.into_iter().take(depth - 1).collect(),
        }
    }

    /// Number of samples.
    pub fn n(&self) -> usize {
        self.a.first().map_or(0, |a| a.ncols())
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.a
            .iter()
            .all(|m| (0..m.ncols()).all(|j| m.col_as_slice(j).iter().all(|v| v.is_finite())))
    }

    /// Bytes held by the auxiliaries.
    pub fn bytes(&self) -> usize {
        self.a.iter().map(|m| m.nrows() * m.ncols() * 8).sum()
    }
}

/// Buffers for evaluating `J` and its gradient: layer inputs `P_l` and residuals `E_l`.
#[derive(Debug, Clone)]
pub struct PenaltyWorkspace {
    /// `P_l = [s(A_{l-1}); 1]` (`P_0 = [X; 1]`), `(m_l + 1) x N`.
    pub p: Vec<Mat<f64>>,
    /// `E_l = T_l - W~_l P_l`, `m_{l+1} x N`.
    pub e: Vec<Mat<f64>>,
    /// `|E_l|_F^2` (sums, not means).
    pub r: Vec<f64>,
}

impl PenaltyWorkspace {
    /// Buffers for `net` and inputs `x` (copied into `P_0` once).
    pub fn new(net: &Network, x: MatRef<'_, f64>) -> Self {
        let w = net.widths();
        let n = x.ncols();
        let mut p: Vec<Mat<f64>> = (0..net.depth()).map(|l| ones_row_mat(w[l], n)).collect();
        p[0].as_mut().subrows_mut(0, w[0]).copy_from(x);
        let e = (0..net.depth()).map(|l| Mat::zeros(w[l + 1], n)).collect();
        PenaltyWorkspace {
            p,
            e,
            r: vec![0.0; net.depth()],
        }
    }

    /// Refresh `P_l` from the auxiliaries (layers `1..L`).
    pub fn set_inputs(&mut self, net: &Network, aux: &AuxVars) {
        let act = net.activation();
        self.p[1..]
            .par_iter_mut()
            .zip(aux.a.par_iter())
            .for_each(|(p, a)| activate_into(act, a.as_ref(), p.as_mut()));
    }

    /// Recompute `E_l` and `r_l` for one layer from the current `P_l`.
    pub fn residual(&mut self, net: &Network, aux: &AuxVars, y: MatRef<'_, f64>, l: usize) {
        let target = if l + 1 < net.depth() {
            aux.a[l].as_ref()
        } else {
            y
        };
        self.r[l] = residual_into(&mut self.e[l], net.layer(l), self.p[l].as_ref(), target);
    }

    /// Recompute all `P_l`, `E_l`, `r_l`.
    pub fn refresh(&mut self, net: &Network, aux: &AuxVars, y: MatRef<'_, f64>) {
        self.set_inputs(net, aux);
        let depth = net.depth();
        let results: Vec<f64> = self
            .e
            .par_iter_mut()
            .enumerate()
            .map(|(l, e)| {
                let target = if l + 1 < depth { aux.a[l].as_ref() } else { y };
                residual_into(e, net.layer(l), self.p[l].as_ref(), target)
            })
            .collect();
        self.r = results;
    }

    /// `J = (1/N) sum omega_l r_l` from the cached residual sums.
    pub fn objective(&self, omega: &[f64]) -> f64 {
        let n = self.p[0].ncols().max(1) as f64;
        self.r.iter().zip(omega).map(|(r, w)| r * w).sum::<f64>() / n
    }

    /// Gradient `dJ/dA_l` for every hidden layer into `g` (shapes of `aux.a`),
    /// from the cached residuals.
    pub fn aux_gradient(&self, net: &Network, aux: &AuxVars, omega: &[f64], g: &mut [Mat<f64>]) {
        let scale = 2.0 / self.p[0].ncols().max(1) as f64;
        let act = net.activation();
        g.par_iter_mut().enumerate().for_each(|(l, gl)| {
            // gl = -omega_{l+1} W_{l+1}^T E_{l+1}, then the elementwise parts.
            faer::linalg::matmul::matmul(
                gl.as_mut(),
                Accum::Replace,
                net.weight(l + 1).transpose(),
                self.e[l + 1].as_ref(),
                -omega[l + 1],
                Par::Seq,
            );
            let a = aux.a[l].as_ref();
            let s = self.p[l + 1].as_ref();
            let e = self.e[l].as_ref();
            for j in 0..gl.ncols() {
                for i in 0..gl.nrows() {
                    let d = act.deriv_with_value(a[(i, j)], s[(i, j)]);
                    gl[(i, j)] = scale * (omega[l] * e[(i, j)] + d * gl[(i, j)]);
                }
            }
        });
    }
}

/// `E = T - W~ P`; returns `|E|_F^2`.
fn residual_into(
    e: &mut Mat<f64>,
    w: MatRef<'_, f64>,
    p: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
) -> f64 {
    e.as_mut().copy_from(t);
    faer::linalg::matmul::matmul(e.as_mut(), Accum::Add, w, p, -1.0, Par::Seq);
    e.squared_norm_l2()
}

/// `J` for `net`, auxiliaries `aux`, data `(x, y)` and a weighting (allocating convenience).
///
/// ```
/// use faer::Mat;
/// use sapm::engine::loss::{objective, AuxVars, Weighting};
/// use sapm::NetworkSpec;
/// let net = NetworkSpec::new(vec![1, 8, 8, 1]).build(1).unwrap();
/// let x = Mat::from_fn(1, 20, |_, j| j as f64 / 10.0 - 1.0);
/// let y = Mat::from_fn(1, 20, |_, j| (j as f64 / 10.0).sin());
/// let aux = AuxVars::forward(&net, x.as_ref());
/// let j = objective(&net, &aux, x.as_ref(), y.as_ref(), Weighting::SelfAdaptive);
/// let ls = sapm::task::regression::mse(&net, x.as_ref(), y.as_ref());
/// assert!((j - ls).abs() <= 1e-14 * ls);
/// ```
pub fn objective(
    net: &Network,
    aux: &AuxVars,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    w: Weighting,
) -> f64 {
    let mut ws = PenaltyWorkspace::new(net, x);
    ws.refresh(net, aux, y);
    ws.objective(&w.omega(&net.weight_norms_sq()))
}

/// Auxiliaries of every set: `[set][channel][hidden layer]`, each `m_l x N_s`
/// (the shape of [`crate::engine::PenaltyTrainer::channel_aux`]).
pub type SetAux = Vec<Vec<Vec<Mat<f64>>>>;

/// The exact auxiliaries of `net` on `sets`: the forward pass and its
/// directional derivatives, so every hidden residual vanishes and `J` is the
/// task's least-squares loss.
pub fn forward_channel_aux(net: &Network, sets: &[RowSet<'_>]) -> SetAux {
    let depth = net.depth();
    sets.iter()
        .map(|set| {
            let mut out: Vec<Vec<Mat<f64>>> = vec![Vec::new(); set.channels()];
            let mut p = channel_inputs0(set);
            for l in 0..depth - 1 {
                let z: Vec<Mat<f64>> = p.iter().map(|pc| net.layer(l) * pc).collect();
                p = next_inputs(net, set, &z);
                for (c, zc) in z.into_iter().enumerate() {
                    out[c].push(zc);
                }
            }
            out
        })
        .collect()
}

/// `J = sum_s (alpha_s / N_s) sum_l omega_l R_{l,s}` of the row-set engine
/// (`rows.rs`) for given weights, auxiliaries `aux[s][c][l]` and `Omega^2`
/// rows `o2[s][l][n]` (an empty list for sets without them): the
/// straightforward, allocating version the engine is tested against.
pub fn rows_objective(
    net: &Network,
    sets: &[RowSet<'_>],
    aux: &[Vec<Vec<Mat<f64>>>],
    w: Weighting,
    o2: &[Vec<Vec<f64>>],
) -> f64 {
    let omega = w.omega(&net.weight_norms_sq());
    let depth = net.depth();
    let mut j = 0.0;
    for (s, set) in sets.iter().enumerate() {
        let mut terms = 0.0;
        let mut p = channel_inputs0(set);
        for l in 0..depth {
            let wl = net.layer(l);
            if l + 1 == depth {
                let mut design = Mat::<f64>::zeros(p[0].nrows(), set.n());
                for (t, &(c, _)) in set.readout.terms.iter().enumerate() {
                    let i = set.channel_index(c).expect("a checked readout");
                    for n in 0..set.n() {
                        let w = set.readout.coef_at(t, n);
                        for r in 0..design.nrows() {
                            design[(r, n)] += w * p[i][(r, n)];
                        }
                    }
                }
                let e = set.readout.target - wl * &design;
                terms += omega[l] * e.squared_norm_l2();
            } else {
                for (c, pc) in p.iter().enumerate() {
                    let e = &aux[s][c][l] - wl * pc;
                    let sq = match o2.get(s).filter(|o| c == 0 && !o.is_empty()) {
                        Some(o) => (0..e.ncols())
                            .map(|n| o[l][n] * e.col(n).squared_norm_l2())
                            .sum(),
                        None => e.squared_norm_l2(),
                    };
                    terms += omega[l] * sq;
                }
                p = next_inputs(
                    net,
                    set,
                    &aux[s].iter().map(|ch| ch[l].clone()).collect::<Vec<_>>(),
                );
            }
        }
        j += set.weight / set.n() as f64 * terms;
    }
    j
}

/// `[x; 1]`, `[v_k; 0]` and (second-derivative channels) `[0; 0]` of a set.
pub(crate) fn channel_inputs0(set: &RowSet<'_>) -> Vec<Mat<f64>> {
    let (d, n) = (set.x.nrows(), set.n());
    let mut p = vec![Mat::from_fn(d + 1, n, |i, j| {
        if i < d { set.x[(i, j)] } else { 1.0 }
    })];
    for v in &set.dirs {
        p.push(Mat::from_fn(
            d + 1,
            n,
            |i, j| if i < d { v[(i, j)] } else { 0.0 },
        ));
    }
    for _ in &set.pairs {
        p.push(Mat::zeros(d + 1, n));
    }
    p
}

/// `[s(a); 1]`, `[s'(a) d_k; 0]` and `[s''(a) d_k d_m + s'(a) e_km; 0]` from
/// the values and derivatives `z[c]` of `set`'s channels.
pub(crate) fn next_inputs(net: &Network, set: &RowSet<'_>, z: &[Mat<f64>]) -> Vec<Mat<f64>> {
    let act = net.activation();
    let (m, n) = (z[0].nrows(), z[0].ncols());
    let nd = set.dirs.len();
    let mut p = vec![Mat::from_fn(m + 1, n, |i, j| {
        if i < m { act.eval(z[0][(i, j)]) } else { 1.0 }
    })];
    for zc in &z[1..=nd] {
        p.push(Mat::from_fn(m + 1, n, |i, j| {
            if i < m {
                act.deriv(z[0][(i, j)]) * zc[(i, j)]
            } else {
                0.0
            }
        }));
    }
    for (t, &(k, q)) in set.pairs.iter().enumerate() {
        let e = &z[1 + nd + t];
        p.push(Mat::from_fn(m + 1, n, |i, j| {
            if i < m {
                let a = z[0][(i, j)];
                act.deriv2(a) * z[1 + k][(i, j)] * z[1 + q][(i, j)] + act.deriv(a) * e[(i, j)]
            } else {
                0.0
            }
        }));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::regression::mse;
    use crate::{Activation, NetworkSpec};
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn data(n: usize, d: usize, m: usize, seed: u64) -> (Mat<f64>, Mat<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = Mat::from_fn(d, n, |_, _| rng.random_range(-2.0..2.0));
        let y = Mat::from_fn(m, n, |_, _| rng.random_range(-1.0..1.0));
        (x, y)
    }

    #[test]
    fn sapm_equals_ls_at_the_forward_pass() {
        for act in Activation::ALL {
            for depth in [1, 2, 5] {
                let mut w = vec![2];
                w.extend(std::iter::repeat_n(6, depth - 1));
                w.push(3);
                let net = NetworkSpec::new(w)
                    .with_activation(act)
                    .build(depth as u64)
                    .unwrap();
                let (x, y) = data(17, 2, 3, 4);
                let aux = AuxVars::forward(&net, x.as_ref());
                let ls = mse(&net, x.as_ref(), y.as_ref());
                for wt in [Weighting::SelfAdaptive, Weighting::Constant(3.0)] {
                    let j = objective(&net, &aux, x.as_ref(), y.as_ref(), wt);
                    assert!((j - ls).abs() <= 1e-13 * ls, "{act} L={depth}: {j} vs {ls}");
                }
            }
        }
    }

    #[test]
    fn aux_gradient_matches_central_differences() {
        for act in Activation::smooth() {
            let net = NetworkSpec::new(vec![2, 4, 3, 5, 2])
                .with_activation(act)
                .build(2)
                .unwrap();
            let (x, y) = data(6, 2, 2, 8);
            let mut aux = AuxVars::forward(&net, x.as_ref());
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for a in &mut aux.a {
                for j in 0..a.ncols() {
                    for i in 0..a.nrows() {
                        a[(i, j)] += rng.random_range(-0.5..0.5);
                    }
                }
            }
            for wt in [Weighting::SelfAdaptive, Weighting::Constant(0.7)] {
                let omega = wt.omega(&net.weight_norms_sq());
                let mut ws = PenaltyWorkspace::new(&net, x.as_ref());
                ws.refresh(&net, &aux, y.as_ref());
                let mut g: Vec<Mat<f64>> = aux
                    .a
                    .iter()
                    .map(|a| Mat::zeros(a.nrows(), a.ncols()))
                    .collect();
                ws.aux_gradient(&net, &aux, &omega, &mut g);
                let h = 1e-6;
                for l in 0..aux.a.len() {
                    for j in 0..aux.a[l].ncols() {
                        for i in 0..aux.a[l].nrows() {
                            let mut ap = aux.clone();
                            ap.a[l][(i, j)] += h;
                            let fp = objective(&net, &ap, x.as_ref(), y.as_ref(), wt);
                            ap.a[l][(i, j)] -= 2.0 * h;
                            let fm = objective(&net, &ap, x.as_ref(), y.as_ref(), wt);
                            let fd = (fp - fm) / (2.0 * h);
                            let an = g[l][(i, j)];
                            assert!(
                                (fd - an).abs() <= 1e-6 * (1.0 + an.abs()),
                                "{act} {wt:?} l={l}: fd {fd} vs {an}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// SAPM's `omega_l` is the product of the later layers' `|W_j|_F^2`,
    /// computed here from the weight matrices entry by entry; PM's is `beta`.
    #[test]
    fn omega_is_the_product_of_later_weight_norms() {
        let net = NetworkSpec::new(vec![2, 3, 4, 5, 2]).build(7).unwrap();
        let depth = net.depth();
        let norm = |l: usize| {
            let w = net.weight(l);
            let mut s = 0.0;
            for j in 0..w.ncols() {
                for i in 0..w.nrows() {
                    s += w[(i, j)] * w[(i, j)];
                }
            }
            s
        };
        let omega = Weighting::SelfAdaptive.omega(&net.weight_norms_sq());
        for (l, &o) in omega.iter().enumerate() {
            let want: f64 = (l + 1..depth).map(norm).product();
            assert!((o - want).abs() <= 1e-13 * want, "omega_{l} {o} != {want}");
        }
        // Not all ones, so the check above is not vacuous.
        assert!(omega[..depth - 1].iter().all(|&o| (o - 1.0).abs() > 1e-3));
        let pm = Weighting::Constant(0.3).omega(&net.weight_norms_sq());
        assert_eq!(pm, vec![0.3, 0.3, 0.3, 1.0]);
    }

    /// Two inputs, `depth - 1` hidden layers of `width`, two outputs.
    fn two_to_two(depth: usize, width: usize, act: Activation) -> NetworkSpec {
        let mut widths = vec![2];
        widths.extend(std::iter::repeat_n(width, depth - 1));
        widths.push(2);
        NetworkSpec::new(widths).with_activation(act)
    }

    /// Adds `scale * U(-1, 1)` to every entry of `a`; returns the sum of the
    /// squared perturbations.
    fn perturb(a: &mut Mat<f64>, scale: f64, rng: &mut ChaCha8Rng) -> f64 {
        let mut dd = 0.0;
        for j in 0..a.ncols() {
            for i in 0..a.nrows() {
                let d = scale * rng.random_range(-1.0..1.0);
                a[(i, j)] += d;
                dd += d * d;
            }
        }
        dd
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The consistency bound on auxiliaries chosen to make it nearly tight:
        /// the forward pass except for a perturbation `delta` of the last
        /// hidden layer, targets that the output layer fits exactly from the
        /// perturbed auxiliaries, and the output weights scaled by `f` so that
        /// `J_LS = 4 c |delta|^2 / N`. Then `J_SAPM = omega_{L-2} |delta|^2 /
        /// N` with `omega_{L-2} = |W_{L-1}|_F^2`, and the bound holds only
        /// because of that weight: with `omega = 1` it fails by a factor 4.
        #[test]
        fn consistency_bound_needs_the_self_adaptive_weights(
            depth in 2usize..7,
            width in 1usize..9,
            act_i in 0usize..4,
            seed in 0u64..1_000_000,
            dscale in 0.01f64..2.0,
        ) {
            let act = Activation::ALL[act_i];
            let net = two_to_two(depth, width, act).build(seed).unwrap();
            let (x, _) = data(11, 2, 2, seed ^ 0x5a);
            let n = x.ncols() as f64;
            let mut aux = AuxVars::forward(&net, x.as_ref());
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let last = depth - 2;
            let dd = perturb(&mut aux.a[last], dscale, &mut rng);
            // Targets the output layer fits exactly from the perturbed auxiliaries.
            let targets = |net: &Network| {
                let mut p = ones_row_mat(width, x.ncols());
                activate_into(act, aux.a[last].as_ref(), p.as_mut().subrows_mut(0, width));
                net.layer(depth - 1) * p
            };
            let ls1 = mse(&net, x.as_ref(), targets(&net).as_ref());
            prop_assume!(ls1 > 1e-12 * dd / n);
            let c = consistency_constant(depth, act.lipschitz());
            let f = (4.0 * c * dd / n / ls1).sqrt();
            let mut layers: Vec<Mat<f64>> = (0..depth).map(|l| net.layer(l).to_owned()).collect();
            layers[depth - 1] *= faer::Scale(f);
            let net = Network::from_layers(act, layers).unwrap();
            let y = targets(&net);
            let ls = mse(&net, x.as_ref(), y.as_ref());
            let j = objective(&net, &aux, x.as_ref(), y.as_ref(), Weighting::SelfAdaptive);
            let wl = net.weight_norms_sq()[depth - 1];
            prop_assert!((j - wl * dd / n).abs() <= 1e-9 * j, "J_SAPM {} != {}", j, wl * dd / n);
            prop_assert!((ls - 4.0 * c * dd / n).abs() <= 1e-9 * ls, "J_LS {}", ls);
            prop_assert!(ls <= c * j * (1.0 + 1e-12), "J_LS {} > {} * J_SAPM {}", ls, c, j);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// J_LS <= L max(1, K^(2(L-1))) J_SAPM for random networks and random auxiliaries.
        #[test]
        fn consistency_bound_holds(
            depth in 1usize..8,
            width in 1usize..9,
            act_i in 0usize..5,
            seed in 0u64..1_000_000,
            wscale in 0.1f64..4.0,
            ascale in 0.0f64..3.0,
        ) {
            let act = Activation::ALL[act_i];
            let mut spec = two_to_two(depth, width, act);
            spec.init = crate::net::WeightInit::Uniform;
            spec.init_range = wscale;
            let net = spec.build(seed).unwrap();
            let (x, y) = data(11, 2, 2, seed ^ 0x5a);
            let mut aux = AuxVars::forward(&net, x.as_ref());
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for a in &mut aux.a {
                perturb(a, ascale, &mut rng);
            }
            let ls = mse(&net, x.as_ref(), y.as_ref());
            let j = objective(&net, &aux, x.as_ref(), y.as_ref(), Weighting::SelfAdaptive);
            let c = consistency_constant(depth, act.lipschitz());
            prop_assert!(ls <= c * j * (1.0 + 1e-12) + 1e-300, "J_LS {} > {} * J_SAPM {}", ls, c, j);
        }
    }
}
