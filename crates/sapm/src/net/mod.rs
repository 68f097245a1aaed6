//! Fully connected networks: parameters, initialisation and the forward pass.
//!
//! Layout: samples are **columns**. An input batch is a `d x N` column-major
//! matrix, so one sample is contiguous and a block of samples is a contiguous
//! slab. Layer `l` (1-based in the docs, 0-based in code) stores
//! `W~_l = [W_l, b_l]` as an `m_l x (m_{l-1} + 1)` matrix whose last column is
//! the bias, so that `z_l = W~_l [s_{l-1}; 1]` is one matrix product.

pub mod activation;
pub mod derivs;
pub mod second;

pub use activation::Activation;

use crate::error::{Error, Result};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How weights are drawn at initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightInit {
    /// Glorot-uniform: `U(-r, r)` with `r = sqrt(6 / (fan_in + fan_out))`.
    Glorot,
    /// `U(-r, r)` with the given `r` (`init_range`).
    Uniform,
}

/// How biases are drawn at initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BiasInit {
    /// `U(-r, r)` with `r = bias_range` (the default: random biases break the
    /// odd symmetry of tanh features, see the design note section 8).
    Uniform,
    /// All zero.
    Zero,
}

/// Architecture and initialisation of a network.
///
/// ```
/// use sapm::{Activation, NetworkSpec};
/// let spec = NetworkSpec::new(vec![1, 20, 20, 1]).with_activation(Activation::Sin);
/// let net = spec.build(7).unwrap();
/// assert_eq!(net.depth(), 3);
/// assert_eq!(net.num_params(), 20 * 2 + 20 * 21 + 21);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// Layer widths `[d, m_1, ..., m_{L-1}, m_L]`; at least two entries, all positive.
    pub widths: Vec<usize>,
    /// Hidden-layer activation.
    pub activation: Activation,
    /// Weight initialisation.
    pub init: WeightInit,
    /// Range `r` for [`WeightInit::Uniform`].
    pub init_range: f64,
    /// Bias initialisation.
    pub bias_init: BiasInit,
    /// Range `r` for [`BiasInit::Uniform`].
    pub bias_range: f64,
}

impl NetworkSpec {
    /// Widths with tanh, Glorot-uniform weights and `U(-1, 1)` biases.
    pub fn new(widths: Vec<usize>) -> Self {
        NetworkSpec {
            widths,
            activation: Activation::Tanh,
            init: WeightInit::Glorot,
            init_range: 1.0,
            bias_init: BiasInit::Uniform,
            bias_range: 1.0,
        }
    }

    /// Set the activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Check widths and ranges.
    pub fn validate(&self) -> Result<()> {
        if self.widths.len() < 2 {
            return Err(Error::config(
                "network.widths",
                format!(
                    "need at least input and output width, got {:?}",
                    self.widths
                ),
            ));
        }
        if let Some(i) = self.widths.iter().position(|&w| w == 0) {
            return Err(Error::config(
                "network.widths",
                format!("width {i} is zero in {:?}", self.widths),
            ));
        }
        for (key, v) in [
            ("network.init_range", self.init_range),
            ("network.bias_range", self.bias_range),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::config(
                    key,
                    format!("must be finite and > 0, got {v}"),
                ));
            }
        }
        Ok(())
    }

    /// Draw a network from `ChaCha8Rng::seed_from_u64(seed)`.
    pub fn build(&self, seed: u64) -> Result<Network> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(self.build_with(&mut rng))
    }

    /// Draw a network from a given generator (layer by layer, weights column-major, then biases).
    pub fn build_with<R: Rng>(&self, rng: &mut R) -> Network {
        let mut layers = Vec::with_capacity(self.widths.len() - 1);
        for w in self.widths.windows(2) {
            let (fan_in, fan_out) = (w[0], w[1]);
            let r = match self.init {
                WeightInit::Glorot => (6.0 / (fan_in + fan_out) as f64).sqrt(),
                WeightInit::Uniform => self.init_range,
            };
            let mut m = Mat::<f64>::zeros(fan_out, fan_in + 1);
            for j in 0..fan_in {
                for i in 0..fan_out {
                    m[(i, j)] = rng.random_range(-r..=r);
                }
            }
            for i in 0..fan_out {
                m[(i, fan_in)] = match self.bias_init {
                    BiasInit::Uniform => rng.random_range(-self.bias_range..=self.bias_range),
                    BiasInit::Zero => 0.0,
                };
            }
            layers.push(m);
        }
        Network {
            widths: self.widths.clone(),
            activation: self.activation,
            layers,
        }
    }
}

/// A fully connected network `u = W_L s(z_{L-1}) + b_L`, `z_l = W_l s(z_{l-1}) + b_l`,
/// `s(z_0) = x`, with `s` the activation.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    widths: Vec<usize>,
    activation: Activation,
    /// `W~_l = [W_l, b_l]`, `m_l x (m_{l-1} + 1)`.
    layers: Vec<Mat<f64>>,
}

impl Network {
    /// Assemble a network from layer matrices `[W_l, b_l]`; checks shapes and finiteness.
    pub fn from_layers(activation: Activation, layers: Vec<Mat<f64>>) -> Result<Network> {
        if layers.is_empty() {
            return Err(Error::shape("network", "at least one layer", "0 layers"));
        }
        let mut widths = vec![layers[0].ncols().saturating_sub(1)];
        for (l, m) in layers.iter().enumerate() {
            let prev = *widths.last().unwrap_or(&0);
            if m.ncols() != prev + 1 || m.nrows() == 0 || prev == 0 {
                return Err(Error::shape(
                    format!("layer {}", l + 1),
                    format!("m_l x {} with m_l > 0", prev + 1),
                    format!("{} x {}", m.nrows(), m.ncols()),
                ));
            }
            widths.push(m.nrows());
        }
        let net = Network {
            widths,
            activation,
            layers,
        };
        if !net.is_finite() {
            return Err(Error::Data("network weights contain NaN or Inf".into()));
        }
        Ok(net)
    }

    /// Widths `[d, m_1, ..., m_L]`.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }
    /// Number of affine layers `L`.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
    /// Input dimension `d`.
    pub fn input_dim(&self) -> usize {
        self.widths[0]
    }
    /// Output dimension `m_L`.
    pub fn output_dim(&self) -> usize {
        *self.widths.last().expect("widths non-empty")
    }
    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// Layer `l` (0-based) as `[W_l, b_l]`.
    pub fn layer(&self, l: usize) -> MatRef<'_, f64> {
        self.layers[l].as_ref()
    }
    /// Mutable layer `l` (0-based).
    pub fn layer_mut(&mut self, l: usize) -> MatMut<'_, f64> {
        self.layers[l].as_mut()
    }
    /// All layers.
    pub fn layers(&self) -> &[Mat<f64>] {
        &self.layers
    }
    /// `W_l` without the bias column (0-based `l`).
    pub fn weight(&self, l: usize) -> MatRef<'_, f64> {
        let m = &self.layers[l];
        m.as_ref().subcols(0, m.ncols() - 1)
    }
    /// Total number of scalars in all `[W_l, b_l]`.
    pub fn num_params(&self) -> usize {
        self.layers.iter().map(|m| m.nrows() * m.ncols()).sum()
    }

    /// `||W_l||_F^2` for every layer (bias excluded), the quantities in SAPM's omega.
    pub fn weight_norms_sq(&self) -> Vec<f64> {
        (0..self.depth())
            .map(|l| self.weight(l).squared_norm_l2())
            .collect()
    }

    /// [`Network::weight_norms_sq`] into a caller-owned slice of length `depth()`.
    pub fn weight_norms_sq_into(&self, out: &mut [f64]) {
        for (l, o) in out.iter_mut().enumerate().take(self.depth()) {
            *o = self.weight(l).squared_norm_l2();
        }
    }

    /// True when every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.layers
            .iter()
            .all(|m| (0..m.ncols()).all(|j| m.col_as_slice(j).iter().all(|v| v.is_finite())))
    }

    /// Copy all parameters into `out` (layer by layer, column-major). `out.len() == num_params()`.
    pub fn params_into(&self, out: &mut [f64]) {
        let mut k = 0;
        for m in &self.layers {
            for j in 0..m.ncols() {
                let c = m.col_as_slice(j);
                out[k..k + c.len()].copy_from_slice(c);
                k += c.len();
            }
        }
    }

    /// All parameters as a vector (see [`Network::params_into`]).
    pub fn params(&self) -> Vec<f64> {
        let mut v = vec![0.0; self.num_params()];
        self.params_into(&mut v);
        v
    }

    /// Overwrite all parameters from a flat slice (inverse of [`Network::params_into`]).
    pub fn set_params(&mut self, p: &[f64]) {
        assert_eq!(p.len(), self.num_params(), "parameter vector length");
        let mut k = 0;
        for m in &mut self.layers {
            for j in 0..m.ncols() {
                let c = m.col_as_slice_mut(j);
                let n = c.len();
                c.copy_from_slice(&p[k..k + n]);
                k += n;
            }
        }
    }

    /// Network output `u(x)` for inputs `x` (`d x N`), as `m_L x N`.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        if x.nrows() != self.input_dim() {
            return Err(Error::shape(
                "network input",
                format!("{} input rows", self.input_dim()),
                format!("{} rows", x.nrows()),
            ));
        }
        let mut cache = ForwardCache::new(&self.widths, x.ncols());
        self.forward_into(x, &mut cache);
        Ok(cache.output().to_owned())
    }

    /// Forward pass into a reusable cache (no allocation when shapes match).
    pub fn forward_into(&self, x: MatRef<'_, f64>, cache: &mut ForwardCache) {
        let n = x.ncols();
        cache.ensure(&self.widths, n);
        let d = self.input_dim();
        cache.p[0].as_mut().subrows_mut(0, d).copy_from(x);
        for l in 0..self.depth() {
            let (before, after) = cache.p.split_at_mut(l + 1);
            let p_prev = before[l].as_ref();
            matmul_into(cache.z[l].as_mut(), self.layers[l].as_ref(), p_prev);
            if l + 1 < self.depth() {
                activate_into(self.activation, cache.z[l].as_ref(), after[0].as_mut());
            }
        }
    }

    /// Forward pass into the first `x.ncols()` columns of a cache built for at
    /// least that many samples (other columns are left alone). Never
    /// allocates, so one cache serves every sample block, including a shorter
    /// last one.
    pub fn forward_prefix_into(&self, x: MatRef<'_, f64>, cache: &mut ForwardCache) {
        let n = x.ncols();
        let d = self.input_dim();
        assert!(
            cache.p.len() == self.depth() && cache.p[0].ncols() >= n,
            "forward cache too small"
        );
        cache.p[0].as_mut().submatrix_mut(0, 0, d, n).copy_from(x);
        for l in 0..self.depth() {
            let (before, after) = cache.p.split_at_mut(l + 1);
            let p_prev = before[l].as_ref().subcols(0, n);
            let mut z = cache.z[l].as_mut().subcols_mut(0, n);
            matmul_into(z.rb_mut(), self.layers[l].as_ref(), p_prev);
            if l + 1 < self.depth() {
                activate_into(self.activation, z.rb(), after[0].as_mut().subcols_mut(0, n));
            }
        }
    }

    /// Forward pass in single precision, returning `m_L x N` (widened back to f64).
    ///
    /// Used to flag fragile fits: a model whose f32 predictions differ wildly from
    /// its f64 predictions relies on cancellation between huge weights.
    pub fn predict_f32(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let n = x.ncols();
        let mut out = Mat::<f64>::zeros(self.output_dim(), n);
        let w32: Vec<Vec<f32>> = self
            .layers
            .iter()
            .map(|m| {
                let mut v = Vec::with_capacity(m.nrows() * m.ncols());
                for i in 0..m.nrows() {
                    for j in 0..m.ncols() {
                        v.push(m[(i, j)] as f32);
                    }
                }
                v
            })
            .collect();
        let mut cur: Vec<f32> = Vec::new();
        let mut next: Vec<f32> = Vec::new();
        for s in 0..n {
            cur.clear();
            cur.extend((0..x.nrows()).map(|i| x[(i, s)] as f32));
            for (l, w) in w32.iter().enumerate() {
                let rows = self.widths[l + 1];
                let cols = self.widths[l] + 1;
                next.clear();
                for i in 0..rows {
                    let row = &w[i * cols..(i + 1) * cols];
                    let mut acc = row[cols - 1];
                    for (a, b) in row[..cols - 1].iter().zip(&cur) {
                        acc += a * b;
                    }
                    next.push(if l + 1 < w32.len() {
                        self.activation.eval_f32(acc)
                    } else {
                        acc
                    });
                }
                std::mem::swap(&mut cur, &mut next);
            }
            for (i, v) in cur.iter().enumerate() {
                out[(i, s)] = *v as f64;
            }
        }
        out
    }
}

/// Buffers of one forward pass: `p[l] = [s(z_l); 1]` (`p[0] = [x; 1]`) and the
/// pre-activations `z[l]` of every layer (the last is the output).
#[derive(Debug, Clone)]
pub struct ForwardCache {
    /// `[s(z_{l}); 1]`, `(m_l + 1) x N`, for `l = 0..L-1` (`p[0] = [x; 1]`).
    pub p: Vec<Mat<f64>>,
    /// Pre-activations `z_{l+1}`, `m_{l+1} x N`, for `l = 0..L-1`; `z[L-1]` is the output.
    pub z: Vec<Mat<f64>>,
}

impl ForwardCache {
    /// Buffers for `widths` and `n` samples.
    pub fn new(widths: &[usize], n: usize) -> Self {
        let depth = widths.len() - 1;
        let p = (0..depth).map(|l| ones_row_mat(widths[l], n)).collect();
        let z = (0..depth)
            .map(|l| Mat::<f64>::zeros(widths[l + 1], n))
            .collect();
        ForwardCache { p, z }
    }

    fn ensure(&mut self, widths: &[usize], n: usize) {
        let depth = widths.len() - 1;
        let ok = self.p.len() == depth
            && self.z.len() == depth
            && (0..depth).all(|l| {
                self.p[l].nrows() == widths[l] + 1
                    && self.p[l].ncols() == n
                    && self.z[l].nrows() == widths[l + 1]
                    && self.z[l].ncols() == n
            });
        if !ok {
            *self = ForwardCache::new(widths, n);
        }
    }

    /// The network output (`m_L x N`).
    pub fn output(&self) -> MatRef<'_, f64> {
        self.z.last().expect("at least one layer").as_ref()
    }
}

/// A `(m + 1) x n` matrix whose last row is 1 and the rest 0.
pub fn ones_row_mat(m: usize, n: usize) -> Mat<f64> {
    let mut p = Mat::<f64>::zeros(m + 1, n);
    p.as_mut().row_mut(m).fill(1.0);
    p
}

/// `dst = lhs * rhs` (sequential; parallelism is over sample blocks, one level up).
pub fn matmul_into(dst: MatMut<'_, f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
    faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
}

/// Write `s(z)` into the first `m` rows of `p` (`(m+1) x N`, last row untouched).
pub fn activate_into(act: Activation, z: MatRef<'_, f64>, mut p: MatMut<'_, f64>) {
    let m = z.nrows();
    for j in 0..z.ncols() {
        let zc = col(z, j);
        let pc = col_mut(p.rb_mut(), j);
        act.eval_slice(zc, &mut pc[..m]);
    }
}

/// Column `j` of a column-major view as a slice (views here always have unit row stride).
#[inline]
pub fn col(m: MatRef<'_, f64>, j: usize) -> &[f64] {
    m.col(j)
        .try_as_col_major()
        .expect("unit row stride")
        .as_slice()
}

/// Mutable column `j` of a column-major view as a slice.
#[inline]
pub fn col_mut(m: MatMut<'_, f64>, j: usize) -> &mut [f64] {
    m.col_mut(j)
        .try_as_col_major_mut()
        .expect("unit row stride")
        .as_slice_mut()
}

/// Central differences (step `h`) of `f` in each parameter of `net`, for
/// tests that check gradients; `net` is left with its own parameters.
#[cfg(test)]
pub(crate) fn central_differences(
    net: &mut Network,
    h: f64,
    mut f: impl FnMut(&Network) -> f64,
) -> Vec<f64> {
    let p0 = net.params();
    let mut fd = Vec::with_capacity(p0.len());
    for k in 0..p0.len() {
        let mut p = p0.clone();
        p[k] += h;
        net.set_params(&p);
        let fp = f(net);
        p[k] -= 2.0 * h;
        net.set_params(&p);
        let fm = f(net);
        net.set_params(&p0);
        fd.push((fp - fm) / (2.0 * h));
    }
    fd
}

#[cfg(test)]
pub(crate) mod tests;
