//! Activation functions and their derivatives.

use serde::{Deserialize, Serialize};

/// Elementwise activation `sigma` applied after every hidden layer.
///
/// All but [`Activation::Relu`] are smooth, which SAPM-PINN needs (its derivative
/// auxiliaries use `sigma'`, and second-order operators `sigma''`).
///
/// ```
/// use sapm::Activation;
/// let a = Activation::Tanh;
/// assert_eq!(a.eval(0.0), 0.0);
/// assert_eq!(a.deriv(0.0), 1.0);
/// assert_eq!(a.lipschitz(), 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `tanh(z)`; Lipschitz constant 1.
    #[default]
    Tanh,
    /// `sin(z)`; Lipschitz constant 1.
    Sin,
    /// `1 / (1 + exp(-z))`; Lipschitz constant 1/4.
    Sigmoid,
    /// `ln(1 + exp(z))`; Lipschitz constant 1.
    Softplus,
    /// `max(z, 0)`; not differentiable at 0, for plain regression only.
    Relu,
}

impl Activation {
    /// All activations, in a fixed order (for tests and help texts).
    pub const ALL: [Activation; 5] = [
        Activation::Tanh,
        Activation::Sin,
        Activation::Sigmoid,
        Activation::Softplus,
        Activation::Relu,
    ];

    /// The smooth activations (all but ReLU), in [`Activation::ALL`]'s order.
    pub fn smooth() -> impl Iterator<Item = Activation> {
        Activation::ALL.into_iter().filter(|a| a.is_smooth())
    }

    /// Lower-case name as used in config files.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Sin => "sin",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus => "softplus",
            Activation::Relu => "relu",
        }
    }

    /// Whether `sigma` is twice continuously differentiable (required by PINN methods).
    pub fn is_smooth(self) -> bool {
        !matches!(self, Activation::Relu)
    }

    /// `sigma(z)`.
    #[inline]
    pub fn eval(self, z: f64) -> f64 {
        match self {
            Activation::Tanh => tanh(z),
            Activation::Sin => z.sin(),
            Activation::Sigmoid => sigmoid(z),
            Activation::Softplus => softplus(z),
            Activation::Relu => z.max(0.0),
        }
    }

    /// `out[i] = sigma(z[i])`; vectorised for tanh (see [`tanh_slice`]), the
    /// same values as [`Activation::eval`].
    pub fn eval_slice(self, z: &[f64], out: &mut [f64]) {
        match self {
            Activation::Tanh => tanh_slice(z, out),
            _ => {
                for (o, &v) in out.iter_mut().zip(z) {
                    *o = self.eval(v);
                }
            }
        }
    }

    /// `sigma(z)` in single precision (for the f32 fragility check).
    #[inline]
    pub fn eval_f32(self, z: f32) -> f32 {
        match self {
            Activation::Tanh => z.tanh(),
            Activation::Sin => z.sin(),
            Activation::Sigmoid => {
                if z >= 0.0 {
                    1.0 / (1.0 + (-z).exp())
                } else {
                    let e = z.exp();
                    e / (1.0 + e)
                }
            }
            Activation::Softplus => z.max(0.0) + (-z.abs()).exp().ln_1p(),
            Activation::Relu => z.max(0.0),
        }
    }

    /// `sigma'(z)` (for ReLU: 1 for z > 0, else 0).
    #[inline]
    pub fn deriv(self, z: f64) -> f64 {
        match self {
            Activation::Tanh => {
                let t = tanh(z);
                1.0 - t * t
            }
            Activation::Sin => z.cos(),
            Activation::Sigmoid => {
                let s = sigmoid(z);
                s * (1.0 - s)
            }
            Activation::Softplus => sigmoid(z),
            Activation::Relu => relu_deriv(z),
        }
    }

    /// `sigma'(z)` given `s = sigma(z)` as well: cheaper for tanh, sigmoid,
    /// softplus and ReLU, whose derivative is a function of the value.
    #[inline]
    pub fn deriv_with_value(self, z: f64, s: f64) -> f64 {
        match self {
            Activation::Tanh => 1.0 - s * s,
            Activation::Sigmoid => s * (1.0 - s),
            // softplus' = sigmoid(z) = 1 - exp(-s)
            Activation::Softplus => -(-s).exp_m1(),
            Activation::Sin => z.cos(),
            Activation::Relu => relu_deriv(z),
        }
    }

    /// `sigma''(z)` (0 for ReLU).
    #[inline]
    pub fn deriv2(self, z: f64) -> f64 {
        match self {
            Activation::Tanh => {
                let t = tanh(z);
                -2.0 * t * (1.0 - t * t)
            }
            Activation::Sin => -z.sin(),
            Activation::Sigmoid => {
                let s = sigmoid(z);
                s * (1.0 - s) * (1.0 - 2.0 * s)
            }
            Activation::Softplus => {
                let s = sigmoid(z);
                s * (1.0 - s)
            }
            Activation::Relu => 0.0,
        }
    }

    /// `sigma'''(z)` (0 for ReLU); needed to differentiate second-order PINN residuals.
    #[inline]
    pub fn deriv3(self, z: f64) -> f64 {
        match self {
            Activation::Tanh => {
                let t = tanh(z);
                let s = 1.0 - t * t;
                -2.0 * s * s + 4.0 * t * t * s
            }
            Activation::Sin => -z.cos(),
            Activation::Sigmoid => {
                let s = sigmoid(z);
                let d = s * (1.0 - s);
                d * (1.0 - 6.0 * d)
            }
            Activation::Softplus => {
                let s = sigmoid(z);
                s * (1.0 - s) * (1.0 - 2.0 * s)
            }
            Activation::Relu => 0.0,
        }
    }

    /// `[sup |sigma'|, sup |sigma''|, sup |sigma'''|]` over the real line (the
    /// second-order consistency bound, `engine::consistency`); ReLU has no
    /// second derivative (infinite).
    pub fn derivative_sups(self) -> [f64; 3] {
        // sigma'' and sigma''' of sigmoid/softplus: s(1 - s)(1 - 2s) peaks at 1/(6 sqrt 3).
        let r3 = 3f64.sqrt();
        match self {
            Activation::Tanh => [1.0, 4.0 / (3.0 * r3), 2.0],
            Activation::Sin => [1.0, 1.0, 1.0],
            Activation::Sigmoid => [0.25, 1.0 / (6.0 * r3), 0.125],
            Activation::Softplus => [1.0, 0.25, 1.0 / (6.0 * r3)],
            Activation::Relu => [1.0, f64::INFINITY, f64::INFINITY],
        }
    }

    /// Lipschitz constant `K` of `sigma` (the consistency bound uses `K^(2(L-1))`).
    pub fn lipschitz(self) -> f64 {
        match self {
            Activation::Sigmoid => 0.25,
            _ => 1.0,
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `tanh` within 2 ulp of libm's, branch-free so that slice loops vectorise.
///
/// For `|x| < 0.625` the Cephes (S. Moshier) rational form `x + x z P(z)/Q(z)`,
/// `z = x^2`. Above, with `y = 2 min(|x|, 22) = n ln 2 + r` and Cephes' Pade form
/// `e^r = (B + A)/(B - A)`, `tanh = (2^n (B + A) - (B - A)) / (2^n (B + A) + (B - A))`,
/// the power of two built from integer bits. Both candidates are computed and
/// one division finishes the chosen one: no libm call and no branch, so
/// [`tanh_slice`] runs 4 or 8 lanes wide (libm's `tanh` goes through `expm1`
/// and dominated training profiles). NaN propagates; `tanh(+-inf) = +-1`.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    const P: [f64; 3] = [
        -9.643_991_794_250_523e-1,
        -9.928_772_310_019_186e1,
        -1.614_687_684_417_084_5e3,
    ];
    const Q: [f64; 3] = [
        1.128_116_784_916_329_3e2,
        2.235_488_390_601_004_6e3,
        4.844_063_053_251_255e3,
    ];
    // Cephes exp: e^r = 1 + 2 r PE(r^2) / (QE(r^2) - r PE(r^2)) on |r| <= ln(2)/2.
    const PE: [f64; 3] = [1.261_771_930_748_105_9e-4, 3.029_944_077_074_419_6e-2, 1.0];
    const QE: [f64; 4] = [
        3.001_985_051_386_644_6e-6,
        2.524_483_403_496_841e-3,
        2.272_655_482_081_550_3e-1,
        2.0,
    ];
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // ln 2 split so that n * LN2_HI is exact for the n that occur (<= 64).
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding 1.5 * 2^52 rounds to an integer, which then sits in the low mantissa bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;

    let a = x.abs();
    // Small |x|: x + x z p / q = (x q + x z p) / q.
    let z = x * x;
    let p = (P[0] * z + P[1]) * z + P[2];
    let q = ((z + Q[0]) * z + Q[1]) * z + Q[2];
    let num_small = x * q + x * z * p;
    // Large |x| (tanh(22) already rounds to 1).
    let y = 2.0 * if a > 22.0 { 22.0 } else { a };
    let t = y * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    let scale =
        f64::from_bits((t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(1023)) << 52);
    let rr = r * r;
    let pa = r * ((PE[0] * rr + PE[1]) * rr + PE[2]);
    let qb = ((QE[0] * rr + QE[1]) * rr + QE[2]) * rr + QE[3];
    let up = scale * (qb + pa);
    let down = qb - pa;
    let big = a >= 0.625;
    let num = if big { up - down } else { num_small };
    let den = if big { up + down } else { q };
    // The small form already carries the sign of x, so copysign is exact for both.
    (num / den).copysign(x)
}

/// `out[i] = tanh(x[i])` (the same values as [`tanh`], bit for bit), using
/// AVX-512 or AVX2 when the CPU has them. Lengths must match.
pub fn tanh_slice(x: &[f64], out: &mut [f64]) {
    assert_eq!(x.len(), out.len(), "tanh_slice lengths");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { tanh_slice_avx512(x, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            unsafe { tanh_slice_avx2(x, out) };
            return;
        }
    }
    tanh_slice_generic(x, out);
}

#[inline(always)]
fn tanh_slice_generic(x: &[f64], out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = tanh(v);
    }
}

// No FMA is enabled and Rust never contracts `a * b + c`, so these return the
// same bits as the scalar function.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn tanh_slice_avx512(x: &[f64], out: &mut [f64]) {
    tanh_slice_generic(x, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn tanh_slice_avx2(x: &[f64], out: &mut [f64]) {
    tanh_slice_generic(x, out);
}

/// ReLU's derivative: 1 for `z > 0`, else 0.
#[inline]
fn relu_deriv(z: f64) -> f64 {
    if z > 0.0 { 1.0 } else { 0.0 }
}

#[inline]
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[inline]
fn softplus(z: f64) -> f64 {
    // Stable for large |z|.
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd(f: impl Fn(f64) -> f64, z: f64) -> f64 {
        let h = 1e-5;
        (f(z + h) - f(z - h)) / (2.0 * h)
    }

    /// The sups of `derivative_sups` bound `sigma'`, `sigma''`, `sigma'''` on a
    /// fine grid and are attained there to 1e-6 (so they are not loose).
    #[test]
    fn derivative_sups_are_the_sups() {
        for act in Activation::smooth() {
            let sups = act.derivative_sups();
            let mut got = [0.0f64; 3];
            for i in 0..=400_000 {
                let z = -20.0 + 40.0 * i as f64 / 400_000.0;
                for (g, v) in got
                    .iter_mut()
                    .zip([act.deriv(z), act.deriv2(z), act.deriv3(z)])
                {
                    *g = g.max(v.abs());
                }
            }
            for k in 0..3 {
                assert!(
                    got[k] <= sups[k] * (1.0 + 1e-12),
                    "{act} order {}: {} > {}",
                    k + 1,
                    got[k],
                    sups[k]
                );
                assert!(
                    got[k] >= sups[k] * (1.0 - 1e-6),
                    "{act} order {}: {} < {}",
                    k + 1,
                    got[k],
                    sups[k]
                );
            }
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for act in Activation::ALL {
            for &z in &[-3.1, -0.7, 0.3, 1.9, 4.2] {
                let d1 = fd(|t| act.eval(t), z);
                assert!((d1 - act.deriv(z)).abs() < 1e-8, "{act} d1 at {z}");
                if act.is_smooth() {
                    let d2 = fd(|t| act.deriv(t), z);
                    assert!((d2 - act.deriv2(z)).abs() < 1e-8, "{act} d2 at {z}");
                    let d3 = fd(|t| act.deriv2(t), z);
                    assert!((d3 - act.deriv3(z)).abs() < 1e-7, "{act} d3 at {z}");
                }
            }
        }
    }

    #[test]
    fn lipschitz_bounds_hold_on_a_grid() {
        for act in Activation::ALL {
            let k = act.lipschitz();
            let max = (-4000..4000)
                .map(|i| act.deriv(i as f64 * 1e-3).abs())
                .fold(0.0, f64::max);
            assert!(max <= k + 1e-12, "{act}: max |sigma'| {max} > {k}");
        }
    }

    #[test]
    fn fast_tanh_is_within_two_ulp_of_libm() {
        let mut worst: f64 = 0.0;
        for i in -300_000..300_000 {
            let x = i as f64 * 1e-4 + 1.234_567e-7;
            let (a, b) = (tanh(x), x.tanh());
            let ulp = b.abs().max(f64::MIN_POSITIVE) * f64::EPSILON;
            worst = worst.max((a - b).abs() / ulp);
        }
        for x in [0.0, -0.0, 1e-300, -1e-20, 0.625, -0.625, 22.0, 50.0, -1e300] {
            assert!(
                (tanh(x) - x.tanh()).abs() <= 2.0 * x.tanh().abs() * f64::EPSILON,
                "{x}"
            );
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert!(tanh(f64::NAN).is_nan());
    }

    #[test]
    fn tanh_slice_matches_the_scalar_function_bit_for_bit() {
        let x: Vec<f64> = (-4000..4000)
            .map(|i| i as f64 * 7.3e-3 + 1e-9)
            .chain([
                0.0,
                -0.0,
                0.625,
                -0.625,
                22.0,
                1e300,
                -1e300,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ])
            .collect();
        for len in [0, 1, 3, 7, 8, 9, 31, x.len()] {
            let mut out = vec![0.0; len];
            tanh_slice(&x[..len], &mut out);
            for (o, &v) in out.iter().zip(&x) {
                assert_eq!(o.to_bits(), tanh(v).to_bits(), "at {v}");
            }
        }
        assert_eq!(tanh(f64::INFINITY), 1.0);
        assert_eq!(tanh(f64::NEG_INFINITY), -1.0);
        let mut out = [0.0];
        tanh_slice(&[f64::NAN], &mut out);
        assert!(out[0].is_nan());
    }

    #[test]
    fn derivative_from_the_value_matches() {
        for act in Activation::ALL {
            for &z in &[-30.0, -3.1, -0.2, 0.0, 0.7, 5.0, 40.0] {
                let d = act.deriv_with_value(z, act.eval(z));
                assert!(
                    (d - act.deriv(z)).abs() <= 1e-15 * (1.0 + d.abs()) + 1e-300,
                    "{act} at {z}"
                );
            }
        }
    }

    #[test]
    fn f32_matches_f64() {
        for act in Activation::ALL {
            for &z in &[-30.0, -2.0, 0.5, 40.0] {
                let a = act.eval(z);
                let b = act.eval_f32(z as f32) as f64;
                assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{act} at {z}");
            }
        }
    }
}
