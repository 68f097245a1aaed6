//! Built-in regression targets.

use super::{Dataset, Split};
use crate::error::{Error, Result};
use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Names accepted by [`builtin`].
pub const BUILTINS: [&str; 3] = ["sin_x2", "sincos_x2", "franke"];

/// Generate a built-in target.
///
/// - `sin_x2`: `y = sin(x^2)`, `x in [-3, 3]`; `n_train` uniform random points,
///   `n_test` equispaced test points (end points included).
/// - `sincos_x2`: the same points with two outputs, `y = (sin(x^2), cos(x^2))`
///   (multi-output regression).
/// - `franke`: Franke's 2-D test function on `[0, 1]^2`; `n_train` uniform random
///   points, test grid of `round(sqrt(n_test))^2` points.
///
/// ```
/// let s = sapm::data::builtin("sin_x2", 100, 1000, 0.0, 0).unwrap();
/// assert_eq!((s.train.len(), s.test.len()), (100, 1000));
/// assert!((s.test.y[(0, 0)] - 9f64.sin()).abs() < 1e-15);
/// ```
pub fn builtin(name: &str, n_train: usize, n_test: usize, noise: f64, seed: u64) -> Result<Split> {
    if n_train == 0 || n_test == 0 {
        return Err(Error::config(
            "data.n_train",
            "built-in targets need n_train > 0 and n_test > 0",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xDA7A);
    let normal =
        Normal::new(0.0, noise.max(0.0)).map_err(|e| Error::config("data.noise", e.to_string()))?;
    match name {
        "sin_x2" | "sincos_x2" => {
            let outs: &[fn(f64) -> f64] = if name == "sin_x2" {
                &[|x| (x * x).sin()]
            } else {
                &[|x| (x * x).sin(), |x| (x * x).cos()]
            };
            let names: Vec<String> = match outs.len() {
                1 => vec!["y".into()],
                m => (1..=m).map(|k| format!("y{k}")).collect(),
            };
            let xs: Vec<f64> = (0..n_train).map(|_| rng.random_range(-3.0..=3.0)).collect();
            // Noise draws in sample-major order (one per output of a sample).
            let mut y = Mat::from_fn(outs.len(), n_train, |i, j| outs[i](xs[j]));
            if noise > 0.0 {
                for j in 0..n_train {
                    for i in 0..outs.len() {
                        y[(i, j)] += normal.sample(&mut rng);
                    }
                }
            }
            let train = Dataset::new(
                Mat::from_fn(1, n_train, |_, j| xs[j]),
                y,
                vec!["x".into()],
                names.clone(),
            )?;
            let grid = |j: usize| {
                if n_test == 1 {
                    0.0
                } else {
                    -3.0 + 6.0 * j as f64 / (n_test - 1) as f64
                }
            };
            let test = Dataset::new(
                Mat::from_fn(1, n_test, |_, j| grid(j)),
                Mat::from_fn(outs.len(), n_test, |i, j| outs[i](grid(j))),
                vec!["x".into()],
                names,
            )?;
            Ok(Split { train, test })
        }
        "franke" => {
            let pts: Vec<(f64, f64)> = (0..n_train)
                .map(|_| (rng.random_range(0.0..=1.0), rng.random_range(0.0..=1.0)))
                .collect();
            let train = Dataset::new(
                Mat::from_fn(2, n_train, |i, j| if i == 0 { pts[j].0 } else { pts[j].1 }),
                Mat::from_fn(1, n_train, |_, j| {
                    franke(pts[j].0, pts[j].1)
                        + if noise > 0.0 {
                            normal.sample(&mut rng)
                        } else {
                            0.0
                        }
                }),
                vec!["x1".into(), "x2".into()],
                vec!["y".into()],
            )?;
            let side = ((n_test as f64).sqrt().round() as usize).max(2);
            let g = |k: usize| k as f64 / (side - 1) as f64;
            let n = side * side;
            let test = Dataset::new(
                Mat::from_fn(2, n, |i, j| if i == 0 { g(j % side) } else { g(j / side) }),
                Mat::from_fn(1, n, |_, j| franke(g(j % side), g(j / side))),
                vec!["x1".into(), "x2".into()],
                vec!["y".into()],
            )?;
            Ok(Split { train, test })
        }
        other => Err(Error::config(
            "data.builtin",
            format!(
                "unknown target {}; known: {}",
                crate::error::quoted(other),
                BUILTINS.join(", ")
            ),
        )),
    }
}

/// Franke's function (Franke 1979), a standard 2-D interpolation test.
pub fn franke(x: f64, y: f64) -> f64 {
    let a = 0.75 * (-((9.0 * x - 2.0).powi(2) + (9.0 * y - 2.0).powi(2)) / 4.0).exp();
    let b = 0.75 * (-((9.0 * x + 1.0).powi(2) / 49.0 + (9.0 * y + 1.0) / 10.0)).exp();
    let c = 0.5 * (-((9.0 * x - 7.0).powi(2) + (9.0 * y - 3.0).powi(2)) / 4.0).exp();
    let d = 0.2 * (-((9.0 * x - 4.0).powi(2) + (9.0 * y - 7.0).powi(2))).exp();
    a + b + c - d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_seeded_and_in_range() {
        for name in BUILTINS {
            let a = builtin(name, 30, 100, 0.0, 4).unwrap();
            let b = builtin(name, 30, 100, 0.0, 4).unwrap();
            let c = builtin(name, 30, 100, 0.0, 5).unwrap();
            assert_eq!(a, b);
            assert_ne!(a.train, c.train);
            assert_eq!(a.test, c.test, "test grid does not depend on the seed");
        }
        let s = builtin("sin_x2", 500, 11, 0.0, 1).unwrap();
        for j in 0..500 {
            let x = s.train.x[(0, j)];
            assert!((-3.0..=3.0).contains(&x));
            assert!((s.train.y[(0, j)] - (x * x).sin()).abs() < 1e-15);
        }
        assert_eq!(s.test.x[(0, 10)], 3.0);
        let m = builtin("sincos_x2", 500, 11, 0.0, 1).unwrap();
        assert_eq!(m.train.x, s.train.x, "same points as sin_x2");
        for j in 0..500 {
            let x = m.train.x[(0, j)];
            assert_eq!(m.train.y[(0, j)], s.train.y[(0, j)]);
            assert!((m.train.y[(1, j)] - (x * x).cos()).abs() < 1e-15);
        }
        assert_eq!(m.test.output_names, ["y1", "y2"]);
        // Franke's known value at the origin.
        assert!((franke(0.0, 0.0) - 0.7664205912849231).abs() < 1e-12);
        assert!(builtin("nope", 1, 1, 0.0, 0).is_err());
    }
}
